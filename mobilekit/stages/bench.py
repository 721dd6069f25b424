"""bench: host CPU, ARM64 emulator and device benchmarks (not implemented in this version)."""

from __future__ import annotations

from mobilekit.config import Config
from mobilekit.stages.base import Stage, register_stage


@register_stage
class BenchStage(Stage):
    NAME = "bench"
    SUMMARY = "time every variant on the host, count ARM64 instructions under qemu, run on a device"
    AVAILABLE = False

    def skip_reason(self, config: Config) -> str | None:
        if not (config.bench.host or config.bench.emulator):
            return "bench.host and bench.emulator are both false"
        return None
