"""torch -> ONNX export: names, dtypes, parity with the torch reference, and input validation."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mobilekit.convert.onnx_export import (
    ARCHITECTURES,
    detect_embedding_settings,
    export_onnx,
    reference_outputs,
    tokenize,
)
from mobilekit.errors import ModelInputError
from mobilekit.runners.onnx_runner import OnnxRunner
from tests.tiny_models import (
    TEST_SEQUENCE_LENGTH,
    cached_classifier,
    cached_embedder,
    cached_onnx,
    make_tiny_bert,
    make_trained_tiny_classifier,
    sentiment_samples,
)

SEQ = TEST_SEQUENCE_LENGTH
TEXTS = sentiment_samples(24, seed=11)[0] + [
    "Café 中文 playing!", "", "good " * 50, "unknownword zzz", "the movie was not good",
]


def _graph_io(path):
    import onnx

    m = onnx.load(str(path))
    io = {}
    for v in list(m.graph.input) + list(m.graph.output):
        t = v.type.tensor_type
        io[v.name] = (t.elem_type, [d.dim_value or d.dim_param for d in t.shape.dim])
    return io


def test_classifier_export_names_dtypes_and_info():
    import onnx

    info = cached_onnx("classifier")
    assert info.input_names == ["input_ids", "attention_mask", "token_type_ids"]
    assert info.output_name == "logits" and info.opset == 17 and info.sequence_length == SEQ
    assert info.file_size == info.path.stat().st_size > 10_000
    io = _graph_io(info.path)
    for name in info.input_names:
        assert io[name] == (onnx.TensorProto.INT32, ["batch", SEQ])
    assert io["logits"] == (onnx.TensorProto.FLOAT, ["batch", 2])
    assert info.to_dict()["path"] == str(info.path)


def test_classifier_onnx_matches_torch():
    model_dir = cached_classifier()
    enc = tokenize(model_dir, TEXTS, SEQ)
    assert {k: (v.dtype, v.shape) for k, v in enc.items()} == {
        k: (np.dtype(np.int32), (len(TEXTS), SEQ)) for k in ("input_ids", "attention_mask", "token_type_ids")}
    ref = reference_outputs(model_dir, enc, task="text-classification")
    out = OnnxRunner(cached_onnx("classifier").path).run(enc)
    assert out.shape == ref.shape == (len(TEXTS), 2)
    assert np.max(np.abs(out - ref)) < 1e-4


def test_reference_is_the_hf_model_itself():
    """The wrapper adds nothing to classification logits: same as calling the HF model directly."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model_dir = cached_classifier()
    enc = tokenize(model_dir, TEXTS, SEQ)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        direct = model(**{k: torch.from_numpy(v).long() for k, v in enc.items()}).logits.numpy()
    ref = reference_outputs(model_dir, enc, task="text-classification")
    assert np.max(np.abs(direct - ref)) < 1e-5


def test_embedding_export_matches_torch_and_sentence_transformers_math():
    import torch
    from transformers import AutoModel

    model_dir = cached_embedder()
    info = cached_onnx("embedder")
    assert info.output_name == "embedding"
    enc = tokenize(model_dir, TEXTS, SEQ)
    ref = reference_outputs(model_dir, enc, task="sentence-embedding")
    out = OnnxRunner(info.path).run(enc)
    assert out.shape == (len(TEXTS), 32)
    assert np.max(np.abs(out - ref)) < 1e-4
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # Independent computation: mean over real tokens, then F.normalize (sentence-transformers).
    model = AutoModel.from_pretrained(model_dir).eval()
    with torch.no_grad():
        hidden = model(**{k: torch.from_numpy(v).long() for k, v in enc.items()}).last_hidden_state
    mask = torch.from_numpy(enc["attention_mask"]).float().unsqueeze(-1)
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    assert np.max(np.abs(expected - ref)) < 1e-5


def test_embedding_without_normalize_and_cls_pooling(tmp_path):
    model_dir = cached_embedder()
    enc = tokenize(model_dir, TEXTS[:6], SEQ)
    for pooling, normalize in (("mean", False), ("cls", True)):
        info = export_onnx(model_dir, tmp_path / f"{pooling}{normalize}.onnx", task="sentence-embedding",
                           sequence_length=SEQ, pooling=pooling, normalize=normalize)
        ref = reference_outputs(model_dir, enc, task="sentence-embedding", pooling=pooling, normalize=normalize)
        assert np.max(np.abs(OnnxRunner(info.path).run(enc) - ref)) < 1e-4
        norms = np.linalg.norm(ref, axis=1)
        assert np.allclose(norms, 1.0, atol=1e-5) == normalize


def test_dynamic_length_export_runs_at_several_lengths(tmp_path):
    model_dir = cached_classifier()
    info = export_onnx(model_dir, tmp_path / "dyn.onnx", task="text-classification", sequence_length=SEQ,
                       dynamic_length=True)
    assert _graph_io(info.path)["input_ids"][1] == ["batch", "sequence"]
    runner = OnnxRunner(info.path)
    for length in (8, 24, 64):
        enc = tokenize(model_dir, TEXTS, length)
        ref = reference_outputs(model_dir, enc, task="text-classification")
        assert np.max(np.abs(runner.run(enc) - ref)) < 1e-4


def test_distilbert_has_no_token_type_ids_input(tmp_path):
    model_dir = make_trained_tiny_classifier(tmp_path / "distil", architecture="distilbert", steps=5)
    info = export_onnx(model_dir, tmp_path / "d.onnx", task="text-classification", sequence_length=SEQ)
    assert info.input_names == ["input_ids", "attention_mask"] and info.model_type == "distilbert"
    enc = tokenize(model_dir, TEXTS, SEQ)  # still returns token_type_ids; runners ignore it
    ref = reference_outputs(model_dir, enc, task="text-classification")
    assert np.max(np.abs(OnnxRunner(info.path).run(enc) - ref)) < 1e-4
    assert ARCHITECTURES["distilbert"].USES_TOKEN_TYPE_IDS is False


def test_detect_embedding_settings(tmp_path):
    assert detect_embedding_settings(cached_embedder()) == ("mean", True)
    assert detect_embedding_settings(cached_classifier()) is None
    d = make_tiny_bert(tmp_path / "nonorm", task="sentence-embedding", normalize=False)
    assert detect_embedding_settings(d) == ("mean", False)


# --- bad inputs -------------------------------------------------------------------------------

def _copy(tmp_path, src):
    dst = tmp_path / "model"
    shutil.copytree(src, dst)
    return dst


def _export(model_dir, tmp_path, **kw):
    args = dict(task="text-classification", sequence_length=SEQ)
    args.update(kw)
    return export_onnx(model_dir, tmp_path / "out.onnx", **args)


def test_missing_folder(tmp_path):
    with pytest.raises(ModelInputError, match="does not exist"):
        _export(tmp_path / "nope", tmp_path)


def test_missing_config(tmp_path):
    d = _copy(tmp_path, cached_classifier())
    (d / "config.json").unlink()
    with pytest.raises(ModelInputError, match="no config.json") as e:
        _export(d, tmp_path)
    assert "save_pretrained" in e.value.hint


def test_missing_weights(tmp_path):
    d = _copy(tmp_path, cached_classifier())
    (d / "model.safetensors").unlink()
    with pytest.raises(ModelInputError, match="no model weights.*model.safetensors"):
        _export(d, tmp_path)


def test_missing_tokenizer(tmp_path):
    d = _copy(tmp_path, cached_classifier())
    (d / "tokenizer.json").unlink()
    (d / "vocab.txt").unlink()
    with pytest.raises(ModelInputError, match="no tokenizer files") as e:
        _export(d, tmp_path)
    assert "tokenizer.save_pretrained" in e.value.hint
    with pytest.raises(ModelInputError, match="no tokenizer files"):
        tokenize(d, ["x"], SEQ)


def test_unsupported_architecture_names_the_supported_ones(tmp_path):
    d = _copy(tmp_path, cached_classifier())
    config = json.loads((d / "config.json").read_text())
    config["model_type"] = "gpt2"
    (d / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelInputError, match="unsupported architecture 'gpt2'") as e:
        _export(d, tmp_path)
    assert "bert" in e.value.hint and "distilbert" in e.value.hint


@pytest.mark.parametrize("length, message", [(65, "longer than the model's position table"),
                                             (1, ">= 2"), (0, ">= 2")])
def test_bad_sequence_length(tmp_path, length, message):
    with pytest.raises(ModelInputError, match=message) as e:
        _export(cached_classifier(), tmp_path, sequence_length=length)
    assert e.value.hint
    assert not (tmp_path / "out.onnx").exists()


def test_classification_needs_a_head(tmp_path):
    with pytest.raises(ModelInputError, match="no id2label"):
        _export(cached_embedder(), tmp_path)


def test_unknown_task_and_pooling(tmp_path):
    with pytest.raises(ModelInputError, match="unknown task"):
        _export(cached_classifier(), tmp_path, task="ner")
    with pytest.raises(ModelInputError, match="unknown pooling"):
        _export(cached_embedder(), tmp_path, task="sentence-embedding", pooling="max")


def test_imports_are_lazy():
    code = (
        "import sys, mobilekit.convert.onnx_export, mobilekit.convert.tflite, "
        "mobilekit.runners.onnx_runner, mobilekit.runners.tflite_runner, mobilekit.verify.parity\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'onnx', 'onnxruntime', 'transformers', 'numpy',"
        " 'ai_edge_litert') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
