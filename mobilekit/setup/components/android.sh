#!/usr/bin/env bash
# Android library build pieces without Gradle or an SDK download (Google's servers are
# unreachable): android.jar API 23 from Debian sid's libandroid-23-java, plus aapt2,
# framework-res.apk and JUnit from the host's Debian.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

API=$ANDROID_API
dir="$MOBILEKIT_HOME/android"
jar="$dir/android-$API.jar"
marker="$dir/.complete-api$API"

if [ -f "$marker" ]; then
  echo "android: already installed ($jar)"
  exit 0
fi
rm -f "$dir"/.complete-*

# aapt2 + framework-res.apk (API 29) for resources, JUnit 4/5 for the library's unit tests.
apt_install_missing aapt android-framework-res junit4 junit5

# libandroid-23-java exists only in sid. A private APT_CONFIG (own state, cache and sources)
# fetches it without touching the system's apt state. Sid's Release is re-signed daily, but a
# mirror snapshot may be stale: hence Check-Valid-Until false. The state lives under $HOME,
# which apt's _apt sandbox user cannot write: download as root instead of warning twice.
mirror=$(debian_mirror)
apt="$dir/apt"
mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/etc/apt.conf.d" "$apt/etc/preferences.d" "$apt/etc/sources.list.d"
touch "$apt/state/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main" > "$apt/etc/sources.list"
cat > "$apt/apt.conf" <<CONF
Dir::State "$apt/state";
Dir::State::status "$apt/state/status";
Dir::Cache "$apt/cache";
Dir::Etc "$apt/etc";
Dir::Etc::TrustedParts "/etc/apt/trusted.gpg.d";
Acquire::Check-Valid-Until "false";
Acquire::Languages "none";
APT::Sandbox::User "root";
CONF
export APT_CONFIG="$apt/apt.conf"
apt-get update -qq
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq "libandroid-$API-java")
dpkg-deb -x "$tmp"/libandroid-"$API"-java_*.deb "$tmp/x"
cp "$tmp/x/usr/share/java/com.android.android-$API.jar" "$jar.tmp"
mv "$jar.tmp" "$jar"

# Verify: the framework API is in the jar, aapt2 runs.
# (unzip's own status, not a pipe into grep -q: with pipefail that fails at random on SIGPIPE)
unzip -l "$jar" android/content/Context.class >/dev/null ||
  { echo "android: $jar has no android/content/Context.class" >&2; exit 1; }
aapt2 version
for f in /usr/share/android-framework-res/framework-res.apk /usr/share/java/junit-platform-console-standalone.jar /usr/share/java/junit4.jar; do
  [ -f "$f" ] || { echo "android: missing $f" >&2; exit 1; }
done

touch "$marker"
echo "android: android.jar API $API at $jar ($(unzip -l "$jar" | grep -c '\.class$') classes)"
