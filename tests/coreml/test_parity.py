"""Every Core ML variant, run by the MIL interpreter, against the torch model it came from.

Measured on these tiny models (2 layers, hidden 32, sequence 16; 27 texts), max abs diff vs torch:

                random classifier   trained classifier   embedder (L2-normalized, 32-d)
    float32     7.5e-9              -                    8.9e-8
    float16     3.5e-5              6.2e-4               4.8e-4
    int8        1.5e-4              6.2e-4               1.0e-3
    palettize6  2.7e-4              -                    -
    palettize4  9.9e-4              -                    2.2e-2
    int8-int4emb 7.8e-4             -                    2.1e-2   (int8, the word table int4: iOS 18)

(The trained classifier's logits are about +-3.3, where one float16 step is 0.002; its pooler
tanh saturates, so int8 costs it nothing beyond float16 rounding.) The bounds below sit a few
times above those numbers: they catch a broken conversion or interpreter without flaking on
rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from mobilekit.convert.onnx_export import reference_outputs, tokenize
from mobilekit.mil import MilProgram
from mobilekit.variants import INT8_INT4_EMBEDDING
from tests.coreml.conftest import SEQUENCE_LENGTH

pytestmark = pytest.mark.slow

CLASSIFIER_BOUNDS = {"float32": 1e-4, "float16": 5e-4, "int8": 2e-3, "palettize6": 3e-3, "palettize4": 1e-2,
                     INT8_INT4_EMBEDDING: 5e-3}
TRAINED_BOUNDS = {"float16": 5e-3, "int8": 5e-3}
EMBEDDER_BOUNDS = {"float32": 1e-4, "float16": 3e-3, "int8": 5e-3, "palettize4": 1e-1, INT8_INT4_EMBEDDING: 1e-1}


def _compare(converted, texts):
    enc = tokenize(converted.model_dir, texts, SEQUENCE_LENGTH)
    ref = reference_outputs(converted.model_dir, enc, task=converted.task, pooling="mean", normalize=True)
    name = "logits" if converted.task == "text-classification" else "embedding"
    outs = {v: MilProgram.from_package(p).run(enc)[name] for v, p in converted.packages.items()}
    return ref, outs


@pytest.fixture(scope="module")
def classifier_results(classifier, texts):
    return _compare(classifier, texts)


@pytest.fixture(scope="module")
def trained_results(trained, texts):
    return _compare(trained, texts)


@pytest.fixture(scope="module")
def embedder_results(embedder, texts):
    return _compare(embedder, texts)


@pytest.mark.parametrize("variant", list(CLASSIFIER_BOUNDS))
def test_classifier_variant_matches_torch(classifier_results, variant):
    ref, outs = classifier_results
    out = outs[variant]
    assert out.shape == ref.shape and out.dtype == np.float32
    diff = float(np.abs(out - ref).max())
    print(f"classifier {variant}: max abs diff {diff:.3g}")
    assert diff <= CLASSIFIER_BOUNDS[variant], diff


@pytest.mark.parametrize("variant", list(EMBEDDER_BOUNDS))
def test_embedder_variant_matches_torch(embedder_results, variant):
    ref, outs = embedder_results
    out = outs[variant]
    diff = float(np.abs(out - ref).max())
    print(f"embedder {variant}: max abs diff {diff:.3g}")
    assert diff <= EMBEDDER_BOUNDS[variant], diff
    # the normalization inside the graph survives every variant
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=10 * EMBEDDER_BOUNDS[variant])


@pytest.mark.parametrize("variant", list(TRAINED_BOUNDS))
def test_trained_classifier_argmax_agrees_everywhere(trained_results, variant):
    ref, outs = trained_results
    assert len(set(ref.argmax(axis=1))) == 2  # both classes occur: agreement means something
    diff = float(np.abs(outs[variant] - ref).max())
    print(f"trained classifier {variant}: max abs diff {diff:.3g}")
    assert diff <= TRAINED_BOUNDS[variant]
    assert (outs[variant].argmax(axis=1) == ref.argmax(axis=1)).all()


def test_float16_shows_float16_rounding(classifier_results):
    """The interpreter really computes in float16 for float16 programs: not bit-equal to float32."""
    ref, outs = classifier_results
    assert np.abs(outs["float16"] - ref).max() > 10 * np.abs(outs["float32"] - ref).max()


def test_compression_changes_the_numbers(classifier_results):
    """Compressed variants run their compressed weights (not a float16 copy): error grows as bits shrink."""
    ref, outs = classifier_results
    err = {v: float(np.abs(outs[v] - ref).max()) for v in outs}
    assert err["float16"] < err["int8"] < err["palettize4"]
    assert err["palettize6"] < err["palettize4"]


def test_padding_is_masked_not_baked_in(classifier):
    """The mask reached the program: tokens under padding do not matter, masking a real one does."""
    enc = tokenize(classifier.model_dir, ["good movie"], SEQUENCE_LENGTH)
    program = MilProgram.from_package(classifier.packages["float32"])
    base = program.run(enc)["logits"]
    noisy = {k: v.copy() for k, v in enc.items()}
    noisy["input_ids"][0, enc["attention_mask"][0] == 0] = 40
    assert np.abs(program.run(noisy)["logits"] - base).max() < 1e-5
    shorter = {k: v.copy() for k, v in enc.items()}
    shorter["attention_mask"][0, 1] = 0  # hide "good"
    out = program.run(shorter)["logits"]
    ref = reference_outputs(classifier.model_dir, shorter, task="text-classification")
    assert np.abs(out - ref).max() < 1e-4
    assert np.abs(out - base).max() > 100 * np.abs(out - ref).max()


def test_batch_runs_row_by_row(classifier, texts):
    enc = tokenize(classifier.model_dir, texts[:3], SEQUENCE_LENGTH)
    program = MilProgram.from_package(classifier.packages["float16"])
    batched = program.run(enc)["logits"]
    rows = np.concatenate([program.run({k: v[i:i + 1] for k, v in enc.items()})["logits"] for i in range(3)])
    assert batched.shape == (3, 2)
    np.testing.assert_array_equal(batched, rows)
