"""Length buckets through the litert-torch route on the tiny models: one file, one signature per
bucket sharing the weights, every signature checked against torch at its length; verify and bench
stages on a bucketed build. Slow: real conversions (the litert-torch environment is required)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from mobilekit.buckets import signatures
from mobilekit.convert.coreml import read_coreml_metadata
from mobilekit.convert.litert_torch import convert_tflite_litert_torch_detailed
from mobilekit.convert.onnx_export import reference_outputs, tokenize
from mobilekit.convert.tflite import VARIANTS
from mobilekit.convert.tflite_buffers import buffer_bytes
from mobilekit.errors import ConversionError, ModelInputError
from mobilekit.runners.bucket_runner import BucketedTflite, cut, fitting_rows
from mobilekit.runners.tflite_runner import TfliteRunner
from mobilekit.verify.parity import compare, default_tolerance
from tests.conftest import run_cli, write_toml
from tests.tiny_models import (
    TEST_SEQUENCE_LENGTH,
    cached_classifier,
    cached_embedder,
    calibration_texts,
    make_trained_tiny_classifier,
    sentiment_samples,
    write_reviews_csv,
)

SEQ = TEST_SEQUENCE_LENGTH
BUCKETS = [4, 8, SEQ]
CLS = dict(task="text-classification", sequence_length=SEQ, pooling="mean", normalize=True)
EMB = dict(task="sentence-embedding", sequence_length=SEQ, pooling="mean", normalize=True)
_CONVERSIONS: dict = {}


def _converted(kind: str, buckets, tmp_path_factory):
    key = (kind, tuple(buckets))
    if key not in _CONVERSIONS:
        model = cached_classifier() if kind == "classifier" else cached_embedder()
        _CONVERSIONS[key] = convert_tflite_litert_torch_detailed(
            model, tmp_path_factory.mktemp(f"buckets-{kind}"), variants=list(VARIANTS),
            calibration=tokenize(model, calibration_texts(), SEQ), length_buckets=list(buckets),
            **(CLS if kind == "classifier" else EMB))
    return _CONVERSIONS[key]


def test_invalid_buckets_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConversionError, match="largest bucket must equal"):
        convert_tflite_litert_torch_detailed(cached_classifier(), tmp_path, variants=["float32"], calibration=None,
                                             length_buckets=[4, 8], **CLS)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["classifier", "embedder"])
def test_one_file_with_a_signature_per_bucket_sharing_the_weights(kind, tmp_path_factory):
    bucketed = _converted(kind, BUCKETS, tmp_path_factory)
    single = _converted(kind, [SEQ], tmp_path_factory)
    model_dir = cached_classifier() if kind == "classifier" else cached_embedder()
    texts = sentiment_samples(60, seed=5)[0] + ["a", "a b c d e f g h i j k l m n o p q r s t"]
    enc = tokenize(model_dir, texts, SEQ)
    task = CLS["task"] if kind == "classifier" else EMB["task"]
    for variant, path in bucketed.paths.items():
        runner = TfliteRunner(path)
        assert set(runner.interpreter.get_signature_list()) == set(signatures(BUCKETS).values())
        # Weights are stored once: three signatures hold barely more constant data than one, and
        # nearly all of it is read by every signature. (The file itself grows by the graph: ops
        # and tensor names, ~120 kB per signature, which dominates the tiny models' ~90 kB of
        # weights but is ~0.1% of MiniLM's 90 MB.) Measured: float32 89.3 -> 91.1 kB of data, 87.0 kB
        # shared; full-int8 34.6 -> 39.1 kB (its int32 biases are scaled per signature's activations).
        one, three = buffer_bytes(single.paths[variant]), buffer_bytes(path)
        assert three["subgraphs"] == 3 and three["data"] < 1.2 * one["data"], (variant, one, three)
        assert three["shared"] > 0.85 * one["data"], (variant, one, three)
        model = BucketedTflite(path, BUCKETS)
        tolerance = default_tolerance(variant)
        for length in BUCKETS:
            rows = fitting_rows(enc, length, BUCKETS)
            assert len(rows), length
            ref = reference_outputs(model_dir, cut(enc, rows, length), task=task)
            report = compare(ref, model.run_bucket(length, enc, rows), task=task, labels=None, tolerance=tolerance)
            assert report.passed, (variant, length, report.lines())
    # The largest bucket is the file's default: the fixed-length model of before, unchanged.
    ref = reference_outputs(model_dir, enc, task=task)
    assert np.max(np.abs(TfliteRunner(bucketed.paths["float32"]).run(enc) - ref)) < 1e-4
    assert np.max(np.abs(BucketedTflite(bucketed.paths["float32"], BUCKETS).run(enc) - ref)) < 1e-4
    with pytest.raises(ModelInputError, match="no signature 'seq_5'"):
        TfliteRunner(bucketed.paths["float32"], signature="seq_5")


def _project(tmp_path, coreml=(), **model):
    make_trained_tiny_classifier(tmp_path / "model")
    write_reviews_csv(tmp_path / "reviews.csv", 80, seed=3)
    return write_toml(tmp_path / "mobilekit.toml", {
        "project": {"name": "Tiny sentiment"},
        "model": {"path": "model", "task": "text-classification", "sequence_length": SEQ, **model},
        "data": {"path": "reviews.csv", "text_column": "review", "label_column": "sentiment", "test_fraction": 0.4},
        "convert": {"tflite": ["float32", "dynamic-int8"], "tflite_route": "litert-torch", "coreml": coreml},
        "verify": {"samples": 30},
        "bench": {"emulator": False, "device": False, "runs": 3, "warmup": 1, "samples": 6, "xnnpack_diagnostic": False},
        "android": {"package": "com.example.tiny", "model_variant": "float32"},
        "ios": {"enabled": bool(coreml), "model_variant": "float16"} if coreml else {"enabled": False},
    })


ENV = {"MOBILEKIT_HOME": os.environ.get("MOBILEKIT_HOME", os.path.expanduser("~/.cache/mobilekit"))}


@pytest.mark.slow
def test_a_bucketed_build_verifies_times_and_ships_every_bucket(tmp_path):
    """convert -> verify -> bench -> generate -> package (Android and iOS, their tests run) with buckets."""
    config = _project(tmp_path, coreml=["float16", "palettize4"], length_buckets=BUCKETS)
    result = run_cli("build", "-c", str(config), "--to", "package", "--json", env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    build = tmp_path / "build"
    manifest = json.loads((build / "manifest.json").read_text())
    chosen = manifest["stages"]["convert"]["metrics"]["length_buckets"]
    assert chosen == BUCKETS
    results = json.loads((build / "verify" / "results.json").read_text())
    assert results["length_buckets"] == chosen
    for name in ("tflite-float32", "tflite-dynamic-int8", "coreml-float16", "coreml-palettize4"):
        entry = results["variants"][name]
        assert entry["ships"], entry
        assert sorted(map(int, entry["buckets"])) == chosen and all(b["passed"] for b in entry["buckets"].values())
    bench = json.loads((build / "bench" / "bench.json").read_text())
    models = bench["host"]["models"]
    for length in chosen[:-1]:
        assert models[f"tflite-float32/seq-{length}"]["bucket"] == length
    assert models["tflite-float32/mix"]["bucket"] == "mix" and "load_ms" in models["tflite-float32/mix"]
    assert "load_ms" not in models["tflite-float32/seq-4"]  # one bucket alone: timing only
    # The generated library picks each bucket as Python does, at every edge (JUnit ran while packaging).
    junit = json.loads((build / "package" / "android" / "junit-results.json").read_text())
    edges = [n for n, status in junit["tests"].items() if ".LengthBucketTest.edge" in n and status == "passed"]
    assert len(edges) == 10 and junit["summary"]["tests_failed"] == 0
    wrapper = next((build / "generate" / "android").rglob("TinySentimentClassifier.kt")).read_text()
    assert "intArrayOf(4, 8, 16)" in wrapper and '4 to "seq_4"' in wrapper
    # Core ML: one multifunction package per variant, a function per bucket; the Swift package
    # picks each bucket as Python does, at every edge (swift test ran while packaging).
    for variant in ("float16", "palettize4"):
        meta = read_coreml_metadata(build / "convert" / "coreml" / f"model_{variant}.mlpackage")["mobilekit"]
        assert meta["functions"] == {"4": "seq_4", "8": "seq_8", "16": "seq_16"} and meta["length_buckets"] == BUCKETS
    swift = (build / "generate" / "ios")
    goldens = json.loads(next(swift.rglob("goldens.json")).read_text())
    assert [g["bucket"] for g in goldens["lengthBuckets"]] == [4, 4, 8, 8, 8, 16, 16, 16, 16, 16]
    tests = next(swift.rglob("*Tests.swift")).read_text()
    assert "testLengthBucketChoiceMatchesPythonGoldens" in tests
    assert "@available(iOS 18.0, macOS 15.0, *)" in next(swift.rglob("ModelBackend.swift")).read_text()
    ios = manifest["stages"]["package"]["metrics"]["ios"]
    assert ios["test_failures"] == 0 and ios["tests"] >= 14
