"""The bench stage on a tiny real model: host and ARM64 emulator figures exist and are sane.

Speed is never asserted (the test machine is shared): only that figures are produced, positive,
consistent with each other, that instruction counts repeat exactly, and that ARM outputs match.
"""

from __future__ import annotations

import copy
import json
import math

import pytest

from mobilekit.bench.emulator import parse_counts, qemu_available
from mobilekit.bench.regression import check, compare
from mobilekit.errors import BenchmarkRegressionError, ConfigError
from mobilekit.toolchains.versions import pin
from tests.bench.project import BENCH_RUNS, EMULATOR_RUNS, VARIANTS, built_project
from tests.conftest import toolchain_missing

pytestmark = pytest.mark.slow
VARIANT_KEYS = [f"tflite-{v}" for v in VARIANTS]


@pytest.fixture(scope="module")
def bench():
    if qemu_available() is not None:
        toolchain_missing(f"ARM64 emulator not installed: {qemu_available()}")
    return json.loads((built_project() / "build" / "bench" / "bench.json").read_text())


def test_host_tier_measures_every_model_with_sane_figures(bench):
    models = bench["host"]["models"]
    assert set(models) == {"torch", "onnx", *VARIANT_KEYS, *(f"{k}/xnnpack-off" for k in VARIANT_KEYS)}
    for key, m in models.items():
        assert m["runs"] == BENCH_RUNS
        assert 0 < m["min_ms"] <= m["p50_ms"] <= m["p90_ms"], key
        assert m["file_bytes"] > 1000
        assert m["ratio_to_original"]["p50_ms"] == pytest.approx(m["p50_ms"] / models["torch"]["p50_ms"])
        if not m["diagnostic"]:
            assert m["load_ms"] > 0 and m["first_inference_ms"] > 0
            assert m["peak_memory_growth_bytes"] > 0
    assert models["torch"]["ratio_to_original"]["p50_ms"] == 1.0
    assert not models["tflite-float32"]["diagnostic"] and models["tflite-float32/xnnpack-off"]["xnnpack"] is False
    # int8 weights: a smaller file than float32, whatever the timings say
    assert models["tflite-dynamic-int8"]["file_bytes"] < models["tflite-float32"]["file_bytes"]
    assert bench["samples"]["source"].startswith("test split of data.csv")


def test_emulator_counts_are_positive_deterministic_and_outputs_match(bench):
    emulator = bench["emulator"]
    assert emulator["cpu"] == "cortex-a76"
    assert set(emulator["variants"]) == set(VARIANT_KEYS)
    for key, v in emulator["variants"].items():
        assert v["instructions_per_inference"] > 10_000, key
        assert len(v["instructions_per_run"]) == EMULATOR_RUNS
        first, second = v["repeat_counts"]
        assert first == second, f"{key}: counts differ between two guest runs: {first} vs {second}"
        assert v["deterministic"] is True
        assert v["outputs_match"] is True and v["arm_vs_host_max_abs_diff"] <= v["arm_vs_host_tolerance"]
        assert not math.isnan(v["arm_vs_host_max_abs_diff"])
        # Judged against x86 running the guest's own LiteRT version: the architecture alone differs.
        assert v["outputs_reference"] == f"x86, LiteRT {pin('ARM64_LITERT_VERSION')} (the guest's version)", key
        assert not math.isnan(v["arm_vs_host_runtime_max_abs_diff"])
        shares = [g["share"] for g in v["breakdown"]]
        assert all(s > 0 for s in shares) and sum(shares) == pytest.approx(1.0, abs=1e-6)
        assert v["diagnostic_emulated_wall_ms_per_inference"] > 0
    groups = {g["group"] for g in emulator["variants"]["tflite-float32"]["breakdown"]}
    assert "matrix multiply (fully connected, batch matmul)" in groups
    fc = next(g for g in emulator["variants"]["tflite-float32"]["breakdown"] if g["group"].startswith("matrix multiply"))
    assert any(f["name"].startswith("xnn_f32_gemm") for f in fc["top_functions"])


def test_device_tier_is_skipped_with_a_reason(bench):
    assert "skipped" in bench["device"] and ("adb" in bench["device"]["skipped"] or "device" in bench["device"]["skipped"])


def test_regression_check_against_a_baseline(bench):
    same = copy.deepcopy(bench)
    lines = compare(bench, same, 5.0)
    assert [line["variant"] for line in lines] == VARIANT_KEYS and all(line["passed"] for line in lines)
    check(lines, "same.json")  # no error

    cheaper = copy.deepcopy(bench)  # the baseline needed 10% fewer instructions: now +11%
    for v in cheaper["emulator"]["variants"].values():
        v["instructions_per_inference"] *= 0.9
    lines = compare(bench, cheaper, 5.0)
    assert all(not line["passed"] and line["change_percent"] == pytest.approx(100 / 9, rel=1e-6) for line in lines)
    with pytest.raises(BenchmarkRegressionError, match=r"tflite-float32: .* \(\+11\.11% > 5%\)") as e:
        check(lines, "cheaper.json")
    assert e.value.EXIT_CODE == 8
    assert all(line["passed"] for line in compare(bench, cheaper, 12.0))

    other_cpu = copy.deepcopy(bench)
    other_cpu["emulator"]["cpu"] = "cortex-a53"
    with pytest.raises(ConfigError, match="not comparable"):
        compare(bench, other_cpu, 5.0)


def test_bench_metrics_are_in_the_manifest():
    manifest = json.loads((built_project() / "build" / "manifest.json").read_text())
    metrics = manifest["stages"]["bench"]["metrics"]
    assert metrics["arm64_instructions/tflite-float32"] > 0 and metrics["arm64_outputs_match/tflite-float32"] is True


def test_parse_counts():
    text = "version 1\nincomplete 0\nwindow 0 10\nwindow 1 12\nblock 4000a0 30\nblock ff 2\n"
    assert parse_counts(text) == ([10, 12], {0x4000A0: 30, 0xFF: 2}, False)


def test_cli_baseline_fails_with_exit_8_on_a_regression(bench, tmp_path):
    """End to end: `mobilekit bench --baseline` reruns the emulator tier and fails on +11%."""
    from tests.conftest import run_cli

    cheaper = copy.deepcopy(bench)
    for v in cheaper["emulator"]["variants"].values():
        v["instructions_per_inference"] *= 0.9
    baseline = tmp_path / "previous.json"
    baseline.write_text(json.dumps(cheaper))
    import shutil

    root = tmp_path / "copy"  # a failed bench marks the stage failed: keep the shared project intact
    shutil.copytree(built_project(), root)
    result = run_cli("bench", "-c", str(root / "mobilekit.toml"), "--baseline", str(baseline), "--set", "bench.host=false",
                     "--set", "bench.device=false", "--json", cwd=tmp_path)
    assert result.returncode == 8, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "benchmark" and "tflite-float32" in error["message"] and "> 5%" in error["message"]
