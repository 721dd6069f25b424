import numpy as np
import pytest

from mobilekit.convert.onnx_export import tokenize
from mobilekit.errors import ModelInputError
from mobilekit.runners.tflite_runner import TensorInfo, TfliteRunner, dequantize, quantize, run_tflite
from tests.tiny_models import TEST_SEQUENCE_LENGTH, cached_classifier, cached_onnx, cached_tflite, sentiment_samples


def test_quantize_roundtrip_and_passthrough():
    info = TensorInfo(name="x", index=0, shape=(1, 4), dtype=np.int8, scale=0.05, zero_point=-3)
    values = np.array([[-6.0, 0.0, 0.31, 6.5]], dtype=np.float32)
    q = quantize(values, info)
    assert q.dtype == np.int8 and q.tolist() == [[-123, -3, 3, 127]]  # 6.5 saturates at 127
    np.testing.assert_allclose(dequantize(q, info), [[-6.0, 0.0, 0.3, 6.5]], atol=0.2)
    ids = TensorInfo(name="input_ids", index=0, shape=(1, 4), dtype=np.int32, scale=0.0, zero_point=0)
    assert quantize(np.array([[1, 2, 3, 4]]), ids).dtype == np.int32
    assert dequantize(np.array([1.5]), ids).dtype == np.float32


@pytest.mark.slow
def test_inputs_by_name_threads_and_errors(tmp_path):
    path = cached_tflite("classifier").paths["float32"]
    enc = tokenize(cached_classifier(), sentiment_samples(6, seed=4)[0], TEST_SEQUENCE_LENGTH)
    runner = TfliteRunner(path)
    assert runner.inputs["input_ids"].shape == (1, TEST_SEQUENCE_LENGTH)  # fixed batch of 1
    out = runner.run(enc)
    assert out.shape == (6, 2) and out.dtype == np.float32
    reordered = {k: enc[k] for k in reversed(list(enc))}
    assert np.array_equal(run_tflite(path, reordered, num_threads=2), out)
    from mobilekit.runners.onnx_runner import run_onnx

    assert np.max(np.abs(out - run_onnx(cached_onnx("classifier").path, enc))) < 1e-4
    del enc["token_type_ids"]
    with pytest.raises(ModelInputError, match="needs inputs token_type_ids"):
        runner.run(enc)
    with pytest.raises(ModelInputError, match="no output 'probs'"):
        TfliteRunner(path, output_name="probs")
    with pytest.raises(ModelInputError, match="does not exist"):
        TfliteRunner(tmp_path / "none.tflite")


@pytest.mark.slow
def test_int8_inputs_and_outputs_are_quantized_and_dequantized(tmp_path):
    """A model with int8 I/O and no signature: tensor-name matching plus (de)quantization."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="features")])
    def f(features):
        return tf.matmul(features, w)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.uniform(-1, 1, (1, 4)).astype(np.float32)] for _ in range(50))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    path = tmp_path / "int8io.tflite"
    path.write_bytes(converter.convert())

    runner = TfliteRunner(path)
    (name, info), = runner.inputs.items()
    assert info.dtype == np.int8 and info.scale > 0
    assert runner.outputs[runner.output_name].dtype == np.int8
    x = rng.uniform(-1, 1, (5, 4)).astype(np.float32)
    out = runner.run({name: x})
    assert out.dtype == np.float32
    assert np.max(np.abs(out - x @ w)) < 0.1
