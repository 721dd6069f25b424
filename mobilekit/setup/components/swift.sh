#!/usr/bin/env bash
# Swift 6 (Debian trixie's swiftlang: compiler, Foundation, XCTest, Swift Testing, swift-format)
# in a trixie chroot under $MOBILEKIT_HOME/swift/chroot. Bookworm has no Swift and trixie's needs
# a newer libc than the host's, so it cannot be installed on the host. Run it with setup/swift-run.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUITE=trixie
PACKAGES=(swiftlang libc6-dev)
dir="$MOBILEKIT_HOME/swift"
root="$dir/chroot"
marker="$dir/.complete-$SUITE-$(IFS=-; echo "${PACKAGES[*]}")"
ready="$dir/.chroot-ready-$SUITE"  # chroot built, not yet verified

if [ -f "$marker" ]; then
  echo "swift: already installed in $root"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "swift: debootstrap, mount and chroot need root" >&2; exit 1; }
reexec_in_private_mount_ns

apt_install_missing debootstrap
mirror=$(debian_mirror)
mkdir -p "$dir"

# Same lock as swift-run.sh: never rebuild the chroot under a running build.
exec 9>"$dir/.lock"
flock 9

if [ ! -f "$ready" ]; then
  # A half-done earlier attempt leaves an unknown state: start from scratch, but only once nothing
  # is mounted inside (rm -rf through a bind mount of /dev would be a disaster).
  chroot_unmount_all "$root"
  chroot_assert_unmounted "$root"
  rm -rf "$root" "$dir"/.complete-*

  echo "swift: debootstrap $SUITE from $mirror (~1 min)"
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$root" "$mirror"
  cp /etc/resolv.conf "$root/etc/resolv.conf"

  # apt inside the chroot needs proc, sys and dev; always unmount them again, also on failure.
  trap 'chroot_unmount_all "$root"' EXIT
  trap 'exit 130' INT TERM
  chroot_mount_system "$root"
  echo "swift: apt-get install ${PACKAGES[*]} inside the chroot (~3 GB)"
  chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${PACKAGES[*]} && apt-get clean"
  chroot_unmount_all "$root"
  trap - EXIT
  touch "$ready"
fi

# Verify with a tiny package: build, XCTest, swift-format.
pkg=$(mktemp -d)
trap 'rm -rf "$pkg"' EXIT
mkdir -p "$pkg/Sources/Hello" "$pkg/Tests/HelloTests"
cat > "$pkg/Package.swift" <<'SWIFT'
// swift-tools-version:5.9
import PackageDescription
let package = Package(
  name: "Hello",
  targets: [
    .target(name: "Hello"),
    .testTarget(name: "HelloTests", dependencies: ["Hello"]),
  ]
)
SWIFT
cat > "$pkg/Sources/Hello/Hello.swift" <<'SWIFT'
import Foundation

public func greet(_ name: String) -> String { "Hello, \(name)" }
SWIFT
cat > "$pkg/Tests/HelloTests/HelloTests.swift" <<'SWIFT'
import XCTest
@testable import Hello

final class HelloTests: XCTestCase {
  func testGreet() { XCTAssertEqual(greet("swift"), "Hello, swift") }
}
SWIFT
exec 9>&-  # swift-run.sh takes the lock itself
run="$SETUP_DIR/swift-run.sh"
bash "$run" "$pkg" swift --version
bash "$run" "$pkg" swift build
bash "$run" "$pkg" swift test
bash "$run" "$pkg" swift-format --version

touch "$marker"
echo "swift: installed in $root"
