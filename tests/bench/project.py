"""One small real project built through the real pipeline (export -> convert -> verify -> bench),
shared by tests/bench and tests/report within a pytest session (~2 minutes on 2 busy cores)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from tests.conftest import write_toml
from tests.tiny_models import TEST_SEQUENCE_LENGTH, _cache_root, _cached, cached_classifier, sentiment_samples

BENCH_RUNS = 15
EMULATOR_RUNS = 2
VARIANTS = ["float32", "dynamic-int8"]  # no calibration needed; float and int8 kernels both covered


def write_project(root: Path, **bench) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "model").exists():
        shutil.copytree(cached_classifier(), root / "model")
    texts, labels = sentiment_samples(60, seed=5)
    with open(root / "data.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([text, ["negative", "positive"][label]] for text, label in zip(texts, labels))
    settings = {"runs": BENCH_RUNS, "warmup": 3, "samples": 6, "emulator_runs": EMULATOR_RUNS, **bench}
    return write_toml(root / "mobilekit.toml", {
        "project": {"name": "Tiny bench"},
        "model": {"path": "model", "task": "text-classification", "sequence_length": TEST_SEQUENCE_LENGTH},
        "data": {"path": "data.csv", "test_fraction": 0.25},
        "convert": {"tflite": VARIANTS, "coreml": []},
        "verify": {"samples": 15},
        "bench": settings,
        "android": {"enabled": False},
        "ios": {"enabled": False},
    })


def built_project() -> Path:
    """The project folder after export, convert, verify and bench ran (build/ inside it)."""
    from mobilekit.config.loader import load_config
    from mobilekit.pipeline import Pipeline

    def build(root: Path) -> Path:
        toml = write_project(root)
        Pipeline(load_config(toml)).run(["export", "convert", "verify", "bench"])
        return root

    return _cached("bench-project", build)


__all__ = ["built_project", "write_project", "_cache_root"]
