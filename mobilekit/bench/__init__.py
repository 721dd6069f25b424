"""Benchmarks: host CPU, the ARM64 emulator, an adb device, and the children that time them."""
