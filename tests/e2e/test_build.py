"""`mobilekit build` end to end on a tiny real classifier: every stage that exists, then caching.

One build is shared by the module (conversion takes a while); each test reruns the CLI on it.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import run_cli, write_toml
from tests.tiny_models import make_trained_tiny_classifier, write_reviews_csv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    make_trained_tiny_classifier(root / "model")
    write_reviews_csv(root / "reviews.csv", 120, seed=3)
    config = write_toml(
        root / "mobilekit.toml",
        {
            "project": {"name": "Tiny sentiment"},
            "model": {"path": "model", "task": "text-classification", "sequence_length": 16},
            "data": {"path": "reviews.csv", "text_column": "review", "label_column": "sentiment", "test_fraction": 0.4},
            "convert": {"tflite": ["float32", "dynamic-int8"], "coreml": ["float32"]},
            "verify": {"samples": 40},
            "bench": {"host": False, "emulator": False},
            "android": {"enabled": False},
            "ios": {"enabled": False},
        },
    )
    result = run_cli("build", "-c", str(config), "--json")
    assert result.returncode == 0, result.stderr
    return root, config, json.loads(result.stdout)


def stage_outcomes(summary):
    return {s["stage"]: s["outcome"] for s in summary["stages"]}


def test_every_available_stage_ran(built):
    _, _, summary = built
    outcomes = stage_outcomes(summary)
    assert outcomes["export"] == "ran" and outcomes["convert"] == "ran" and outcomes["verify"] == "ran" and outcomes["report"] == "ran"
    assert outcomes["finetune"] == "skipped" and outcomes["distill"] == "skipped"


def test_variants_are_verified_with_real_numbers(built):
    root, _, _ = built
    results = json.loads((root / "build" / "verify" / "results.json").read_text())
    assert results["labelled"] and results["samples"] == 40
    float32 = results["variants"]["tflite-float32"]
    checks = {c["name"]: c for c in float32["checks"]}
    assert checks["max_abs_diff"]["value"] < 1e-4
    assert checks["argmax_agreement"]["value"] == 1.0
    assert float32["ships"]
    assert results["variants"]["onnx"]["ships"]
    assert "tflite-dynamic-int8" in results["variants"]
    coreml = {c["name"]: c for c in results["variants"]["coreml-float32"]["checks"]}
    assert coreml["max_abs_diff"]["value"] < 1e-4  # the ML program, run by the NumPy MIL interpreter
    assert results["variants"]["coreml-float32"]["ships"]


def test_report_shows_every_variant(built):
    root, _, _ = built
    html = (root / "build" / "report" / "report.html").read_text()
    for name in ("onnx", "tflite-float32", "tflite-dynamic-int8", "coreml-float32"):
        assert name in html
    data = json.loads((root / "build" / "report" / "report.json").read_text())
    assert {row["name"] for row in data["variants"]} == {"onnx", "tflite-float32", "tflite-dynamic-int8", "coreml-float32"}


def test_rerun_with_nothing_changed_does_no_work(built):
    _, config, _ = built
    started = time.monotonic()
    result = run_cli("build", "-c", str(config), "--json")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    outcomes = stage_outcomes(json.loads(result.stdout))
    assert {o for o in outcomes.values()} <= {"cached", "skipped"}, outcomes
    assert elapsed < 20  # process start and hashing only; conversion alone takes longer


def test_changing_a_verify_option_reruns_only_verify_and_what_follows(built):
    _, config, _ = built
    result = run_cli("build", "-c", str(config), "--json", "--set", "verify.samples=30")
    assert result.returncode == 0, result.stderr
    outcomes = stage_outcomes(json.loads(result.stdout))
    assert outcomes["export"] == "cached" and outcomes["convert"] == "cached"
    assert outcomes["verify"] == "ran" and outcomes["report"] == "ran"


def test_a_variant_that_disagrees_is_rejected_and_strict_fails(built, monkeypatch):
    """A converter bug simulated at the runner: the int8 variant's outputs are flipped."""
    from mobilekit.config import load_config
    from mobilekit.errors import VerificationError
    from mobilekit.pipeline import Pipeline
    from mobilekit.stages import verify as verify_stage

    root, config_path, _ = built
    real_run = verify_stage._run_variant

    def broken(name, path, encodings, output_name):
        outputs = real_run(name, path, encodings, output_name)
        return outputs[:, ::-1].copy() if name == "tflite-dynamic-int8" else outputs

    monkeypatch.setattr(verify_stage, "_run_variant", broken)
    config = load_config(config_path)
    Pipeline(config).run(["verify"], force={"verify"})
    results = json.loads((root / "build" / "verify" / "results.json").read_text())
    rejected = results["variants"]["tflite-dynamic-int8"]
    assert not rejected["ships"] and any("argmax_agreement" in reason for reason in rejected["reasons"])
    assert results["variants"]["tflite-float32"]["ships"]
    assert "tflite-dynamic-int8" in results["rejected"]
    with pytest.raises(VerificationError, match="tflite-dynamic-int8"):
        Pipeline(config).run(["verify"], force={"verify"}, strict=True)
    monkeypatch.undo()
    assert run_cli("build", "-c", str(config_path)).returncode == 0  # the real outputs ship again
