#!/usr/bin/env bash
# Debian's Chromium, for rendering HTML reports headless (screenshots / PDF).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="$MOBILEKIT_HOME/chromium"
apt_install_missing chromium
# Keyed by the installed version, so an apt upgrade re-runs the check.
version=$(chromium --version 2>/dev/null | awk '{print $2}')
marker="$dir/.complete-$version"
if [ -f "$marker" ]; then
  echo "chromium: $version already verified"
  exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"

# Verify: render a local page headless. The background-networking flags keep Chromium from
# hammering the closed network; a fresh profile keeps runs independent.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo '<html><body><p id="x">mobilekit</p><script>document.getElementById("x").textContent += "-rendered"</script></body></html>' > "$tmp/page.html"
dom=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$tmp/profile" --dump-dom "file://$tmp/page.html" 2>"$tmp/stderr") ||
  { cat "$tmp/stderr" >&2; echo "chromium: headless run failed" >&2; exit 1; }
grep -q 'mobilekit-rendered' <<<"$dom" ||
  { echo "chromium: page did not render (got: $dom)" >&2; exit 1; }

touch "$marker"
echo "chromium: $(chromium --version) renders headless"
