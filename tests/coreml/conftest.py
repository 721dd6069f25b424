"""Tiny real models converted to Core ML once per test session (the conversions dominate runtime)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mobilekit.variants import INT8_INT4_EMBEDDING
from tests.tiny_models import make_tiny_bert, make_trained_tiny_classifier

SEQUENCE_LENGTH = 16
# The tiny models' dense layers have 32x32 = 1024 weights: below coremltools' default threshold
# (2048) they would stay uncompressed, and the compressed variants would test nothing.
WEIGHT_THRESHOLD = 512
METADATA = {
    "author": "mobilekit tests",
    "short_description": "Tiny sentiment classifier",
    "version": "1.2.3",
    "license": "Apache-2.0",
    "labels": ["negative", "positive"],
    "tokenizer": {"lowercase": True, "max_length": SEQUENCE_LENGTH, "unk_token": "[UNK]"},
    "source_sha256": "ab" * 32,
}


@dataclass
class Converted:
    model_dir: Path
    task: str
    packages: dict[str, Path]
    seconds: dict[str, float]
    total_seconds: float


def _convert(model_dir: Path, out_dir: Path, task: str, variants: list[str], metadata: dict) -> Converted:
    from mobilekit.convert.coreml import convert_coreml

    seconds: dict[str, float] = {}
    start = time.monotonic()
    packages = convert_coreml(model_dir, out_dir, task=task, sequence_length=SEQUENCE_LENGTH, pooling="mean",
                              normalize=True, variants=variants, metadata=metadata,
                              weight_threshold=WEIGHT_THRESHOLD, timings=seconds)
    return Converted(model_dir, task, packages, seconds, time.monotonic() - start)


@pytest.fixture(scope="session")
def classifier(tmp_path_factory) -> Converted:
    """A tiny random-weight classifier, every Core ML variant. Its outputs move with every weight,
    so it shows what compression costs (the trained one below saturates its pooler's tanh)."""
    base = tmp_path_factory.mktemp("coreml-classifier")
    model_dir = make_tiny_bert(base / "model", labels=["negative", "positive"], seed=1)
    return _convert(model_dir, base / "out", "text-classification",
                    ["float16", "float32", "int8", "palettize6", "palettize4", INT8_INT4_EMBEDDING], METADATA)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Converted:
    """The trained tiny sentiment classifier (clear argmax margins): for argmax agreement."""
    base = tmp_path_factory.mktemp("coreml-trained")
    model_dir = make_trained_tiny_classifier(base / "model", sequence_length=SEQUENCE_LENGTH)
    return _convert(model_dir, base / "out", "text-classification", ["float16", "int8"], METADATA)


@pytest.fixture(scope="session")
def embedder(tmp_path_factory) -> Converted:
    """A tiny sentence-embedding encoder (mean pooling + L2 normalization inside the graph)."""
    base = tmp_path_factory.mktemp("coreml-embedder")
    model_dir = make_tiny_bert(base / "model", task="sentence-embedding", seed=3)
    return _convert(model_dir, base / "out", "sentence-embedding", ["float32", "float16", "int8", "palettize4", INT8_INT4_EMBEDDING],
                    {"author": "mobilekit tests", "tokenizer": {"lowercase": True}})


@pytest.fixture(scope="session")
def texts() -> list[str]:
    from tests.tiny_models import sentiment_samples

    samples, _ = sentiment_samples(24, seed=7)
    # plus edge cases: one word (mostly padding), a truncated long text, unknown characters
    return samples + ["good", " ".join(["the movie was really very boring"] * 4), "中文 é ü film !"]
