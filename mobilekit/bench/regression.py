"""Compare ARM64 instructions per inference with an earlier bench result (``--baseline``).

Instruction counts are deterministic, so any growth is a real change (model, converter, runtime
or the emulated CPU's kernels); the allowed margin is ``bench.max_regression_percent``. Only the
emulator figure is compared: host timings on a shared machine are too noisy to gate a build on.
"""

from __future__ import annotations

import json
from pathlib import Path

from mobilekit.errors import BenchmarkRegressionError, ConfigError


def load_baseline(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the benchmark baseline {path}: {e}",
                          hint="pass the bench.json of an earlier run (build/bench/bench.json)") from e
    if not isinstance(data, dict) or "emulator" not in data:
        raise ConfigError(f"{path} is not a mobilekit bench result (no 'emulator' section)",
                          hint="pass the bench.json of an earlier run (build/bench/bench.json)")
    return data


def compare(current: dict, baseline: dict, max_regression_percent: float) -> list[dict]:
    """One line per variant present in both: counts, change in percent, and whether it passed."""
    cur_emu, base_emu = current.get("emulator") or {}, baseline.get("emulator") or {}
    if cur_emu.get("cpu") and base_emu.get("cpu") and cur_emu["cpu"] != base_emu["cpu"]:
        raise ConfigError(f"the baseline was counted on {base_emu['cpu']}, this run on {cur_emu['cpu']}: the counts are not comparable",
                          hint="compare runs made with the same bench.cpu")
    lines = []
    base_variants = base_emu.get("variants") or {}
    for name, figures in (cur_emu.get("variants") or {}).items():
        before = (base_variants.get(name) or {}).get("instructions_per_inference")
        now = figures.get("instructions_per_inference")
        units = ((base_variants.get(name) or {}).get("unit", "inference"), figures.get("unit", "inference"))
        if before and units[0] != units[1]:
            raise ConfigError(f"the baseline counts {name}'s instructions per {units[0]}, this run per {units[1]}",
                              hint="compare a text-generation build with an earlier text-generation bench.json")
        if not before or now is None:
            continue
        change = 100.0 * (now - before) / before
        lines.append({"variant": name, "baseline": before, "current": now, "change_percent": change,
                      "limit_percent": max_regression_percent, "passed": change <= max_regression_percent,
                      "unit": figures.get("unit", "inference")})  # text-generation: per decoded token
    return lines


def check(lines: list[dict], baseline_path: Path) -> None:
    failed = [line for line in lines if not line["passed"]]
    if failed:
        detail = "; ".join(f"{f['variant']}: {f['current']:,.0f} vs {f['baseline']:,.0f} instructions per {f.get('unit', 'inference')} "
                           f"(+{f['change_percent']:.2f}% > {f['limit_percent']:g}%)" for f in failed)
        raise BenchmarkRegressionError(
            f"ARM64 instructions per {failed[0].get('unit', 'inference')} grew past the allowed margin over {baseline_path}: {detail}",
            hint="find what changed (model, quantization, converter or runtime version), or raise bench.max_regression_percent",
        )
