#!/usr/bin/env bash
# ARM64 emulation for benchmarks: an arm64 Debian sysroot with Python 3.11 run under qemu user
# mode, with the aarch64 LiteRT runtime cross-installed from the host (no emulation needed to build).
#   PYTHONPATH=<sysroot>/opt/site qemu-aarch64 -L <sysroot> -cpu cortex-a76 <sysroot>/usr/bin/python3.11 x.py
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LITERT=$ARM64_LITERT_VERSION
dir="$MOBILEKIT_HOME/arm64"
sysroot="$dir/sysroot"
marker="$dir/.complete-bookworm-py311-litert$LITERT"

if [ -f "$marker" ]; then
  echo "arm64: already installed ($sysroot)"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "arm64: mmdebstrap --mode=root needs root" >&2; exit 1; }
apt_install_missing qemu-user qemu-user-static mmdebstrap

# Start from scratch: a half-built sysroot is not worth repairing (rebuilding takes ~25 s).
rm -f "$dir"/.complete-*
chroot_assert_unmounted "$sysroot"
rm -rf "$sysroot"
mkdir -p "$dir"

# --variant=extract only unpacks the packages (no maintainer scripts, so no emulation needed).
mmdebstrap --mode=root --variant=extract --architectures=arm64 \
  --include=libc6,libstdc++6,libgcc-s1,python3.11-minimal,libpython3.11-stdlib,libpython3.11-minimal,zlib1g,libffi8,libexpat1,libssl3,libbz2-1.0,liblzma5,libsqlite3-0,libuuid1 \
  bookworm "$sysroot" "$(debian_mirror)"

# The aarch64 wheels (and their numpy) from PyPI, installed by the host's pip. manylinux2014 alone
# finds nothing: ai-edge-litert's aarch64 wheels are manylinux_2_27.
python3 -m pip install -q --no-warn-conflicts --root-user-action=ignore --target "$sysroot/opt/site" \
  --platform manylinux_2_27_aarch64 --platform manylinux2014_aarch64 --only-binary=:all: \
  --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
  "ai-edge-litert==$LITERT"

# qemu passes the host's x86 /proc/cpuinfo through unless the sysroot has one, and LiteRT's CPU
# detection then segfaults. Describe a Cortex-A76 (r4p1, as in a Raspberry Pi 5 / many phones),
# one entry per host core since the guest sees the host's /sys CPU count.
mkdir -p "$sysroot/proc"
for ((i = 0; i < $(nproc); i++)); do
  printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n' "$i"
done > "$sysroot/proc/cpuinfo"

# Verify: the emulated Python imports the LiteRT interpreter.
PYTHONPATH="$sysroot/opt/site" qemu-aarch64 -L "$sysroot" -cpu cortex-a76 "$sysroot/usr/bin/python3.11" -c '
import importlib.metadata, platform
import numpy
import ai_edge_litert.interpreter
print("arm64:", platform.machine(), "python", platform.python_version(), "numpy", numpy.__version__,
      "ai-edge-litert", importlib.metadata.version("ai-edge-litert"))'

touch "$marker"
echo "arm64: sysroot at $sysroot"
