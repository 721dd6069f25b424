#!/usr/bin/env bash
# Runs a command in a Swift package inside the Swift chroot (installed by
# `bash setup/install.sh swift`), e.g.
#
#   setup/swift-run.sh path/to/Package swift build
#   setup/swift-run.sh path/to/Package swift test
#   setup/swift-run.sh path/to/Package swift-format lint -r Sources
#
# The package directory is bind-mounted at /work/pkg (build output lands in its .build/). Everything
# mounted is unmounted on exit, also on failure or Ctrl-C; the command's exit code is returned.
# Runs are serialised with a lock because they share the chroot's mounts.
set -euo pipefail
export MOBILEKIT_HOME="${MOBILEKIT_HOME:-$HOME/.cache/mobilekit}"
SETUP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export SETUP_DIR
source "$SETUP_DIR/components/lib.sh"

if [ "$#" -lt 2 ]; then
  echo "usage: $0 <package_dir> <command...>" >&2
  exit 2
fi
pkg=$(realpath "$1"); shift
root="$MOBILEKIT_HOME/swift/chroot"
[ -d "$pkg" ] || { echo "swift-run: no such directory: $pkg" >&2; exit 2; }
# (/usr/bin/swift is an absolute symlink, valid only inside the chroot: test the link itself)
[ -L "$root/usr/bin/swift" ] || { echo "swift-run: no Swift chroot at $root; run: bash setup/install.sh swift" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "swift-run: mount and chroot need root" >&2; exit 1; }
reexec_in_private_mount_ns "$pkg" "$@"

exec 9>"$MOBILEKIT_HOME/swift/.lock"
if ! flock -n 9; then
  echo "swift-run: another Swift run holds $MOBILEKIT_HOME/swift/.lock; waiting" >&2
  flock 9
fi

# Leftovers of a run that was killed with SIGKILL would otherwise shadow this run's mounts.
chroot_unmount_all "$root"
trap 'chroot_unmount_all "$root"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$root/work/pkg"
chroot_mount_system "$root"
mount --bind "$pkg" "$root/work/pkg"

# Debian links swift, swiftc, swift-build... into /usr/bin but not swift-format: add the
# toolchain's own bin directory (last, so it shadows nothing).
rc=0
chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/libexec/swift/bin \
  sh -c 'cd /work/pkg && exec "$@"' sh "$@" || rc=$?
exit "$rc"
