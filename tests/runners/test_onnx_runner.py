import numpy as np
import pytest

from mobilekit.convert.onnx_export import reference_outputs, tokenize
from mobilekit.convert.tflite import prepare_onnx_for_onnx2tf
from mobilekit.errors import ModelInputError
from mobilekit.runners.onnx_runner import OnnxRunner, run_onnx
from tests.tiny_models import TEST_SEQUENCE_LENGTH, cached_classifier, cached_onnx, sentiment_samples


def _enc(n=5):
    return tokenize(cached_classifier(), sentiment_samples(n, seed=2)[0], TEST_SEQUENCE_LENGTH)


def test_runs_by_name_and_ignores_extra_inputs():
    path = cached_onnx("classifier").path
    enc = _enc()
    reordered = {k: enc[k] for k in ("token_type_ids", "attention_mask", "input_ids")}
    reordered["unused"] = np.zeros(3)
    out = run_onnx(path, reordered)
    assert out.dtype == np.float32 and out.shape == (5, 2)
    ref = reference_outputs(cached_classifier(), enc, task="text-classification")
    assert np.max(np.abs(out - ref)) < 1e-4


def test_fixed_batch_model_is_run_row_by_row(tmp_path):
    prepare_onnx_for_onnx2tf(cached_onnx("classifier").path, tmp_path / "b1.onnx")
    runner = OnnxRunner(tmp_path / "b1.onnx", num_threads=2)
    assert runner.fixed_batch == 1
    enc = _enc(7)
    assert np.max(np.abs(runner.run(enc) - run_onnx(cached_onnx("classifier").path, enc))) < 1e-5


def test_errors(tmp_path):
    with pytest.raises(ModelInputError, match="does not exist"):
        OnnxRunner(tmp_path / "x.onnx")
    enc = _enc()
    del enc["attention_mask"]
    with pytest.raises(ModelInputError, match="needs inputs attention_mask"):
        run_onnx(cached_onnx("classifier").path, enc)
