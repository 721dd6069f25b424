"""Length buckets on Core ML: one multifunction package per variant, a function per bucket sharing
the weights, each function equal to torch at its length in the MIL interpreter. Slow: real
conversions."""

from __future__ import annotations

import numpy as np
import pytest

from mobilekit.convert.coreml import VARIANTS, convert_coreml, read_coreml_metadata
from mobilekit.convert.onnx_export import reference_outputs, tokenize
from mobilekit.errors import ModelInputError
from mobilekit.mil import MilFormatError, MilProgram
from mobilekit.mil.package import load_model_spec, weights_dir_of
from mobilekit.runners.bucket_runner import BucketedCoreml, cut, fitting_rows
from tests.tiny_models import make_tiny_bert, sentiment_samples

SEQ = 16
BUCKETS = [4, 8, SEQ]
WEIGHT_THRESHOLD = 512  # the tiny dense layers (1024 weights) must be compressed too
CLS = dict(task="text-classification", sequence_length=SEQ, pooling="mean", normalize=True,
           weight_threshold=WEIGHT_THRESHOLD)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    base = tmp_path_factory.mktemp("coreml-buckets")
    model = make_tiny_bert(base / "model", labels=["negative", "positive"], seed=1)
    single = convert_coreml(model, base / "single", variants=list(VARIANTS), **CLS)
    bucketed = convert_coreml(model, base / "bucketed", variants=list(VARIANTS), length_buckets=BUCKETS, **CLS)
    return model, single, bucketed


def _weight_bytes(package) -> int:
    return sum(p.stat().st_size for p in weights_dir_of(package).rglob("*") if p.is_file())


def test_one_package_with_a_function_per_bucket_sharing_the_weights(converted):
    _, single, bucketed = converted
    for variant, path in bucketed.items():
        spec = load_model_spec(path)
        assert sorted(spec.mlProgram.functions) == ["seq_16", "seq_4", "seq_8"]
        assert spec.description.defaultFunctionName == "seq_16"
        meta = read_coreml_metadata(path)["mobilekit"]
        assert meta["length_buckets"] == BUCKETS and meta["deployment_target"] == "iOS18"
        assert meta["functions"] == {"4": "seq_4", "8": "seq_8", "16": "seq_16"}
        # Every weight once: three functions cost a few per-length constants (mask biases), not 3x.
        assert _weight_bytes(path) < 1.1 * _weight_bytes(single[variant]), variant
        for length in BUCKETS:
            program = MilProgram.from_package(path, function=f"seq_{length}", spec=spec)
            assert [d.shape for d in program.inputs] == [(1, length)] * 3
    assert "length_buckets" not in read_coreml_metadata(single["float16"])["mobilekit"]  # one bucket: as before


@pytest.mark.parametrize("variant,tolerance", [("float32", 1e-5), ("float16", 5e-3), ("int8", 5e-2), ("palettize4", 0.3)])
def test_every_function_matches_torch_at_its_length(converted, variant, tolerance):
    model, _, bucketed = converted
    texts, _ = sentiment_samples(24, seed=5)
    enc = tokenize(model, texts, SEQ)
    runner = BucketedCoreml(bucketed[variant], BUCKETS, "logits")
    for length in BUCKETS:
        rows = fitting_rows(enc, length, BUCKETS)
        truncate = not len(rows)
        rows = rows if len(rows) else np.arange(len(texts))
        reference = reference_outputs(model, cut(enc, rows, length, truncate=truncate), task="text-classification",
                                      pooling="mean", normalize=True)
        got = runner.run_bucket(length, enc, rows, truncate=truncate)
        assert np.max(np.abs(got - reference)) < tolerance, (variant, length)


def test_bad_buckets_are_refused_before_anything_is_written(tmp_path, converted):
    model, _, _ = converted
    with pytest.raises(ModelInputError, match="largest bucket must equal"):
        convert_coreml(model, tmp_path / "out", variants=["float32"], length_buckets=[4, 8], **CLS)
    assert not (tmp_path / "out").exists()
    with pytest.raises(MilFormatError, match="no 'seq_6' function"):
        BucketedCoreml(converted[2]["float32"], [4, 6, SEQ], "logits")
