"""ONNX -> TFLite through onnx2tf: every variant checked against the torch reference."""

import numpy as np
import pytest

from mobilekit.convert.onnx_export import export_onnx, reference_outputs, tokenize
from mobilekit.convert.tflite import (
    MASK_VALUE_FOR_INT8,
    VARIANTS,
    convert_tflite,
    prepare_onnx_for_onnx2tf,
    variant_file_name,
)
from mobilekit.errors import ConversionError, ModelInputError
from mobilekit.runners.onnx_runner import OnnxRunner
from mobilekit.runners.tflite_runner import TfliteRunner
from mobilekit.verify.parity import compare, default_tolerance
from tests.tiny_models import (
    TEST_SEQUENCE_LENGTH,
    cached_classifier,
    cached_embedder,
    cached_onnx,
    cached_tflite,
    sentiment_samples,
)

SEQ = TEST_SEQUENCE_LENGTH


def _eval_set(model_dir, n=120):
    texts, labels = sentiment_samples(n, seed=99)
    return tokenize(model_dir, texts, SEQ), np.array(labels)


# --- fast: preparation and argument checks (no onnx2tf) -------------------------------------------

def test_prepared_graph_fixes_batch_and_keeps_parity(tmp_path):
    import onnx

    src = cached_onnx("classifier").path
    n = prepare_onnx_for_onnx2tf(src, tmp_path / "int8.onnx", mask_value=MASK_VALUE_FOR_INT8)
    assert n == 1  # the attention mask's float32-min constant
    assert prepare_onnx_for_onnx2tf(src, tmp_path / "plain.onnx") == 0
    for inp in onnx.load(str(tmp_path / "int8.onnx")).graph.input:
        assert inp.type.tensor_type.shape.dim[0].dim_value == 1
    enc, _ = _eval_set(cached_classifier(), 10)
    ref = OnnxRunner(src).run(enc)
    # the batch-1 graph is run row by row; -30 instead of float32 min changes nothing measurable
    rewritten = OnnxRunner(tmp_path / "int8.onnx")
    assert rewritten.fixed_batch == 1
    assert np.max(np.abs(rewritten.run(enc) - ref)) < 1e-5


def test_argument_errors(tmp_path):
    onnx_path = cached_onnx("classifier").path
    with pytest.raises(ModelInputError, match="unknown TFLite variant"):
        convert_tflite(onnx_path, tmp_path, variants=["int4"], calibration=None)
    with pytest.raises(ModelInputError, match="needs calibration data"):
        convert_tflite(onnx_path, tmp_path, variants=["full-int8"], calibration=None)
    with pytest.raises(ModelInputError, match=r"calibration data for .* must be"):
        convert_tflite(onnx_path, tmp_path, variants=["full-int8"],
                       calibration={"input_ids": np.zeros((2, SEQ + 1), np.int32)})
    with pytest.raises(ModelInputError, match="does not exist"):
        convert_tflite(tmp_path / "missing.onnx", tmp_path, variants=["float32"], calibration=None)
    dyn = export_onnx(cached_classifier(), tmp_path / "dyn.onnx", task="text-classification",
                      sequence_length=SEQ, dynamic_length=True)
    with pytest.raises(ConversionError, match="fixed sequence length") as e:
        convert_tflite(dyn.path, tmp_path, variants=["float32"], calibration=None)
    assert "dynamic_length=False" in e.value.hint


# --- slow: real onnx2tf runs (shared across the session) ------------------------------------------

@pytest.mark.slow
def test_classifier_all_variants():
    conv = cached_tflite("classifier")
    model_dir = cached_classifier()
    assert set(conv.paths) == set(VARIANTS)
    for variant, path in conv.paths.items():
        assert path.name == variant_file_name(variant) and path.stat().st_size > 10_000
    assert conv.log_path.is_file() and "onnx2tf" in conv.log_path.read_text()
    assert not (conv.log_path.parent / "_onnx2tf_work").exists()
    assert conv.mask_constants_rewritten == 1
    assert conv.guard_max_abs_diff < 1e-4

    enc, labels = _eval_set(model_dir)
    ref = reference_outputs(model_dir, enc, task="text-classification")
    assert np.mean(ref.argmax(1) == labels) == 1.0
    outs = {}
    for variant, path in conv.paths.items():
        runner = TfliteRunner(path)
        assert sorted(runner.input_names) == ["attention_mask", "input_ids", "token_type_ids"]
        assert runner.output_name == "logits"
        outs[variant] = runner.run(enc)
        report = compare(ref, outs[variant], task="text-classification", labels=labels,
                         tolerance=default_tolerance(variant))
        assert report.passed, (variant, report.lines())
    assert np.max(np.abs(outs["float32"] - ref)) < 1e-4
    assert np.max(np.abs(outs["float16"] - ref)) < 1e-2
    for variant in ("float32", "float16", "dynamic-int8", "full-int8"):
        assert np.mean(outs[variant].argmax(1) == ref.argmax(1)) == 1.0, variant
    # int8 changes the numbers, but not beyond a few percent of the logit scale
    assert np.max(np.abs(outs["full-int8"] - ref)) < 0.1 * np.max(np.abs(ref))


@pytest.mark.slow
def test_embedder_all_variants():
    conv = cached_tflite("embedder")
    model_dir = cached_embedder()
    enc, _ = _eval_set(model_dir)
    ref = reference_outputs(model_dir, enc, task="sentence-embedding")
    for variant, path in conv.paths.items():
        runner = TfliteRunner(path)
        assert runner.output_name == "embedding"
        out = runner.run(enc)
        report = compare(ref, out, task="sentence-embedding", labels=None, tolerance=default_tolerance(variant))
        assert report.passed, (variant, report.lines())
        if variant == "float32":
            assert np.max(np.abs(out - ref)) < 1e-4
        if variant != "full-int8":  # full-int8 is judged by its (looser) default tolerance only
            assert report.check("mean_cosine").value > 0.99, variant


@pytest.mark.slow
def test_guard_catches_sequence_length_equal_to_hidden_size(tmp_path):
    info = export_onnx(cached_classifier(), tmp_path / "m32.onnx", task="text-classification",
                       sequence_length=32)  # the tiny model's hidden size
    out_dir = tmp_path / "tfl"
    with pytest.raises(ConversionError, match="disagrees with ONNX") as e:
        convert_tflite(info.path, out_dir, variants=["float32"], calibration=None)
    assert "equals the hidden size" in e.value.hint
    assert not (out_dir / variant_file_name("float32")).exists()  # no wrong model left behind
    assert (out_dir / "onnx2tf.log").is_file()
