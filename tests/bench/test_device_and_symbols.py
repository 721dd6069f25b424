"""Device output parsing (recorded output fixture), adb listing, symbol grouping: no device needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobilekit.bench.device import device_skip_reason, parse_adb_devices, parse_benchmark_output
from mobilekit.bench.symbols import demangled_scope, operation_group, parse_maps
from mobilekit.errors import MobilekitError

FIXTURES = Path(__file__).parent / "fixtures"


def test_parse_benchmark_model_output():
    figures = parse_benchmark_output((FIXTURES / "benchmark_model_output.txt").read_text())
    assert figures["init_ms"] == pytest.approx(212.35)
    assert figures["first_inference_ms"] == pytest.approx(61.233)
    assert figures["warmup_avg_ms"] == pytest.approx(46.0112)
    assert figures["inference_avg_ms"] == pytest.approx(44.3206)
    assert figures["runs"] == 50  # the measured run, not the warm-up's count=12
    assert figures["p50_ms"] == pytest.approx(44.105) and figures["p95_ms"] == pytest.approx(46.23)
    assert figures["min_ms"] == pytest.approx(43.512)
    assert figures["memory_overall_bytes"] == int(112.492 * 2**20)
    assert figures["peak_memory_bytes"] == int(118.359 * 2**20)
    assert figures["model_file_mb"] == pytest.approx(90.8769)


def test_parse_benchmark_output_old_format_and_failure():
    old = ("count=50 first=249042 curr=250889 min=247067 max=254474 avg=249684 std=1442\n"
           "Inference timings in us: Init: 16242, First inference: 360262, Warmup (avg): 304586, Inference (avg): 249684\n"
           "Peak memory footprint (MB): init=4.92969 overall=138.809\n")
    figures = parse_benchmark_output(old)
    assert figures["inference_avg_ms"] == pytest.approx(249.684) and figures["runs"] == 50
    assert figures["memory_overall_bytes"] == int(138.809 * 2**20) and "p50_ms" not in figures
    with pytest.raises(MobilekitError, match="no 'Inference timings"):
        parse_benchmark_output("ERROR: Could not open 'model.tflite'.\n")


def test_parse_adb_devices():
    output = ("* daemon started successfully\nList of devices attached\n"
              "emulator-5554          device product:sdk_gphone64_arm64 model:sdk_gphone64_arm64 device:emu64a\n"
              "R58M123ABC             unauthorized usb:1-1 transport_id:2\n\n")
    devices = parse_adb_devices(output)
    assert [d.serial for d in devices] == ["emulator-5554"] and "sdk_gphone64_arm64" in devices[0].description
    assert parse_adb_devices("List of devices attached\n\n") == []


def test_device_tier_skips_without_adb(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    reason, devices = device_skip_reason(None)
    assert devices == [] and "adb is not installed" in reason


def test_device_tier_skips_without_devices_or_binary(monkeypatch, tmp_path):
    fake = tmp_path / "adb"  # a stand-in adb that prints what `adb devices -l` prints
    fake.write_text("#!/bin/sh\nprintf 'List of devices attached\\n%s' \"$FAKE_ADB_DEVICES\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_ADB_DEVICES", "")
    assert device_skip_reason(None)[0] == "`adb devices` lists no device or emulator"
    monkeypatch.setenv("FAKE_ADB_DEVICES", "emulator-5554 device product:x\n")
    reason, devices = device_skip_reason(None)
    assert "bench.benchmark_model is not set" in reason and devices[0].serial == "emulator-5554"
    reason, _ = device_skip_reason(tmp_path / "missing")
    assert "does not exist" in reason
    assert device_skip_reason(fake) == (None, devices)


def test_operation_groups():
    assert operation_group("xnn_f32_gemm_minmax_ukernel_6x8__asm_aarch64_neonfma_cortex_a75_prfm", "libpywrap_litert_common.so").startswith("matrix multiply")
    assert operation_group("xnn_f32_raddstoreexpminusmax_ukernel__neonfma_rr1_lut64_p2_u16_acc2", "x.so") == "softmax"
    assert operation_group("_ZN6tflite3ops7builtin18squared_difference12_GLOBAL__N_117SquaredDifferenceEv", "x.so") == "TFLite kernel: SQUARED_DIFFERENCE"
    assert operation_group("_PyEval_EvalFrameDefault", "python3.11") == "Python harness and markers"
    assert operation_group(None, "libc.so.6").startswith("C library")
    assert operation_group("kai_run_matmul_clamp_f32_qai8dxp4x4_qsi8cxp4x4_16x4_neon_dotprod", "x.so").startswith("matrix multiply")
    assert operation_group("kai_run_lhs_quant_pack_qai8dxp_f32", "x.so") == "type conversion and (de)quantization"
    assert demangled_scope("_ZN6tflite13reference_ops11BatchMatMulEv") == ["tflite", "reference_ops", "BatchMatMul"]


def test_parse_maps_keeps_executable_file_mappings():
    maps = ("5500000000-5500001000 r-xp 00000000 00:00 0 /usr/bin/python3.11\n"
            "5500001000-5500002000 rw-p 00001000 00:00 0 /usr/bin/python3.11\n"
            "7f00000000-7f00010000 r-xp 00020000 00:00 0 /opt/site/ai_edge_litert/libpywrap_litert_common.so\n"
            "7f00010000-7f00020000 rwxp 00000000 00:00 0 [heap]\n")
    mappings = parse_maps(maps)
    assert [(m.path.rsplit("/", 1)[-1], m.offset) for m in mappings] == [("python3.11", 0), ("libpywrap_litert_common.so", 0x20000)]
