"""Attention-head pruning (mobilekit.compress.heads): the importance finds the heads that matter,
a pruned model computes what the full model computes with those heads gated off, and the folder
loads back (PyTorch, ONNX, TFLite, Core ML) with its per-layer head counts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mobilekit.compress.batches import pool
from mobilekit.compress.folders import load_model, load_tokenizer, save_model_folder
from mobilekit.compress.heads import (
    CONFIG_KEY,
    check_head_count,
    choose_heads,
    head_counts,
    head_gates,
    head_importance,
    prune_heads,
    student_head_counts,
)
from mobilekit.compress.student import build_student
from mobilekit.errors import ConfigError, ModelInputError
from tests.compress.helpers import make_multihead_tiny
from tests.tiny_models import calibration_texts, sentiment_samples

SEQ = 16
KEEP = {0: [1, 3], 1: [0, 2, 3]}  # layer 0 keeps 2 of 4 heads, layer 1 keeps 3


def _batch(model_dir, texts):
    tokenizer = load_tokenizer(model_dir)
    return dict(tokenizer(texts, padding=True, truncation=True, max_length=SEQ, return_tensors="pt"))


def _output(model, batch):
    """The last hidden states and the logits side by side (a random tiny head's logits barely move)."""
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    return torch.cat([out.hidden_states[-1].flatten(1), out.logits], dim=1)


def _gates_for(keep, heads=4):
    return {layer: torch.tensor([1.0 if h in kept else 0.0 for h in range(heads)]) for layer, kept in keep.items()}


def _loud_attention(model):
    """Attention outputs 64x louder: in a random tiny BERT they are small against the residual
    stream, so that every head visibly counts."""
    with torch.no_grad():
        for layer in model.base_model.encoder.layer:
            layer.attention.self.value.weight *= 8
            layer.attention.output.dense.weight *= 8
    return model


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return make_multihead_tiny(tmp_path_factory.mktemp("heads") / "teacher", seed=3)


@pytest.mark.parametrize("task", ["text-classification", "sentence-embedding"])
def test_importance_picks_the_head_that_reaches_the_output(tmp_path, task):
    folder = make_multihead_tiny(tmp_path / "model", task=task, seed=1)
    model = load_model(folder, task)
    # Only head 2 of layer 0 and head 1 of layer 1 reach the output projection at full strength.
    with torch.no_grad():
        for layer, loud in ((0, 2), (1, 1)):
            dense = model.base_model.encoder.layer[layer].attention.output.dense
            for head in range(4):
                if head != loud:
                    dense.weight[:, head * 8:(head + 1) * 8] *= 0.01
    texts, labels = sentiment_samples(48, seed=2)
    importance = head_importance(model, load_tokenizer(folder), texts, [0, 1], SEQ, task=task,
                                 labels=labels if task == "text-classification" else None)
    assert all(scores.shape == (4,) and (scores >= 0).all() for scores in importance.values())
    assert choose_heads(importance, 1) == {0: [2], 1: [1]}, importance


def test_keeping_the_important_heads_moves_the_embeddings_less_than_keeping_the_others(tmp_path):
    folder = make_multihead_tiny(tmp_path / "model", task="sentence-embedding", seed=0)
    model, tokenizer = _loud_attention(load_model(folder, "sentence-embedding")), load_tokenizer(folder)
    texts, _ = sentiment_samples(128, seed=0)
    importance = head_importance(model, tokenizer, texts, [0, 1], SEQ, task="sentence-embedding")
    top = choose_heads(importance, 2)
    bottom = {layer: sorted(scores.topk(2, largest=False).indices.tolist()) for layer, scores in importance.items()}
    batch = _batch(folder, texts)

    def embeddings(m):
        with torch.no_grad():
            return pool(m(**batch).last_hidden_state, batch["attention_mask"], pooling="mean", normalize=True)

    reference, error = embeddings(model), {}
    for name, keep in (("top", top), ("bottom", bottom)):
        pruned = load_model(folder, "sentence-embedding")
        _loud_attention(pruned)
        prune_heads(pruned, keep)
        error[name] = float((embeddings(pruned) - reference).abs().mean())
    assert error["top"] < 0.7 * error["bottom"], error


def test_gates_are_per_example_so_each_text_gets_its_own_gradient(classifier_dir):
    """The importance of two texts ranked together is the mean of each ranked alone (|grad| per
    example, not the |grad| of the batch's summed loss)."""
    model, tokenizer = load_model(classifier_dir, "text-classification"), load_tokenizer(classifier_dir)
    texts = ["good movie", "the plot was really bad"]
    together = head_importance(model, tokenizer, texts, [0, 1], SEQ, task="text-classification")
    alone = [head_importance(model, tokenizer, [t], [0, 1], SEQ, task="text-classification") for t in texts]
    for layer in (0, 1):
        assert torch.allclose(together[layer], (alone[0][layer] + alone[1][layer]) / 2, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("architecture", ["bert", "distilbert"])
def test_the_pruned_model_computes_what_the_gated_model_computes(tmp_path, architecture):
    folder = make_multihead_tiny(tmp_path / "model", architecture=architecture, seed=2)
    full, pruned = load_model(folder, "text-classification"), load_model(folder, "text-classification")
    prune_heads(pruned, KEEP)
    assert head_counts(pruned) == [2, 3] and getattr(pruned.config, CONFIG_KEY) == [2, 3]
    batch = _batch(folder, calibration_texts()[:6])
    with head_gates(full, _gates_for(KEEP)):
        gated = _output(full, batch)
    assert torch.allclose(_output(pruned, batch), gated, atol=1e-6)
    assert not torch.allclose(_output(full, batch), gated, atol=1e-3)  # the cut heads did matter
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in full.parameters())


def test_a_student_keeps_the_chosen_teacher_heads(classifier_dir):
    teacher = load_model(classifier_dir, "text-classification")
    student = build_student(teacher, [1], heads={1: [0, 2]})
    assert head_counts(student) == [2] and getattr(student.config, CONFIG_KEY) == [2]
    attention, source = student.bert.encoder.layer[0].attention, teacher.bert.encoder.layer[1].attention
    rows = torch.cat([torch.arange(0, 8), torch.arange(16, 24)])
    assert torch.equal(attention.self.query.weight, source.self.query.weight[rows])
    assert torch.equal(attention.self.value.bias, source.self.value.bias[rows])
    assert torch.equal(attention.output.dense.weight, source.output.dense.weight[:, rows])
    assert torch.equal(attention.output.dense.bias, source.output.dense.bias)
    # Every head kept: nothing recorded, the config.json of before.
    assert not hasattr(build_student(teacher, [1]).config, CONFIG_KEY)
    assert not hasattr(build_student(teacher, [0, 1], heads={0: [0, 1, 2, 3], 1: [0, 1, 2, 3]}).config, CONFIG_KEY)


def test_a_narrower_student_chooses_among_its_leading_heads(classifier_dir):
    teacher = load_model(classifier_dir, "text-classification")
    assert student_head_counts(teacher, [0, 1], hidden_size=16) == [2, 2]  # heads of 8
    student = build_student(teacher, [0, 1], hidden_size=16, heads={0: [1], 1: [0]})
    assert head_counts(student) == [1, 1] and student.config.num_attention_heads == 2
    query = student.bert.encoder.layer[0].attention.self.query.weight
    assert torch.equal(query, teacher.bert.encoder.layer[0].attention.self.query.weight[8:16, :16])


def test_the_pruned_folder_loads_back_with_its_shapes_and_outputs(tmp_path, classifier_dir):
    from mobilekit.compress.finetune import classifier_from_encoder

    teacher = load_model(classifier_dir, "text-classification")
    student = build_student(teacher, [0, 1], heads=KEEP)
    folder = save_model_folder(student, tmp_path / "student", tokenizer_from=classifier_dir, task="text-classification")
    assert json.loads((folder / "config.json").read_text())[CONFIG_KEY] == [2, 3]
    batch = _batch(folder, calibration_texts()[:6])
    loaded = load_model(folder, "text-classification")
    assert head_counts(loaded) == [2, 3] and loaded.bert.encoder.layer[0].attention.self.key.weight.shape == (16, 32)
    assert torch.equal(_output(loaded, batch), _output(student, batch))
    with torch.no_grad():
        maps = load_model(folder, "text-classification", attentions=True)(**batch, output_attentions=True).attentions
    assert [m.shape[1] for m in maps] == [2, 3]
    # Fine-tuning it again (new labels): the encoder loads as saved, the head starts fresh.
    relabelled = classifier_from_encoder(folder, ["a", "b", "c"], seed=0)
    assert relabelled.classifier.out_features == 3 and head_counts(relabelled) == [2, 3]
    assert torch.equal(relabelled.bert.encoder.layer[1].attention.self.value.weight, student.bert.encoder.layer[1].attention.self.value.weight)
    # A student of the pruned model passes the kept layer's head count on.
    grandchild = build_student(loaded, [1])
    assert head_counts(grandchild) == [3] and getattr(grandchild.config, CONFIG_KEY) == [3]
    with pytest.raises(ModelInputError, match="heads were pruned"):
        build_student(loaded, [1], hidden_size=16)


def test_weights_that_do_not_fit_the_recorded_counts_are_refused(tmp_path, classifier_dir):
    teacher = load_model(classifier_dir, "text-classification")
    folder = save_model_folder(build_student(teacher, [0, 1], heads=KEEP), tmp_path / "student", tokenizer_from=classifier_dir,
                               task="text-classification")
    config = json.loads((folder / "config.json").read_text())
    config[CONFIG_KEY] = [3, 3]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelInputError, match=r"do not fit its config: .*attention\.self\.key\.weight is \(16, 32\), the model.s \(24, 32\)"):
        load_model(folder, "text-classification")
    config[CONFIG_KEY] = [2]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelInputError, match="for 1 layers, but the model has 2"):
        load_model(folder, "text-classification")


def test_more_heads_than_the_layers_have_is_a_config_error():
    with pytest.raises(ConfigError, match="distill.heads = 5, but the student's layers have 4 attention heads each") as info:
        check_head_count(5, [4, 4])
    assert "between 1 and 4" in info.value.hint
    with pytest.raises(ConfigError, match="have 2 attention heads in the smallest"):
        check_head_count(3, [4, 2])
    check_head_count(2, [4, 2])


def test_attention_maps_are_matched_head_to_head():
    from mobilekit.compress.distill import attention_loss

    teacher = [torch.rand(2, 4, 5, 5)]
    student = [teacher[0][:, [1, 3]]]
    assert float(attention_loss(student, teacher, [0], ((1, 3),))) == 0.0
    assert float(attention_loss(student, teacher, [0], ((0, 2),))) > 0.0


@pytest.mark.slow
def test_onnx_tflite_and_core_ml_of_a_pruned_student_match_pytorch(tmp_path):
    """On a sentence encoder: its normalized embeddings vary from text to text far more than a
    random tiny classifier's logits, so a conversion that got the heads wrong would show."""
    from mobilekit.convert.coreml import convert_coreml
    from mobilekit.convert.litert_torch import convert_tflite_litert_torch
    from mobilekit.convert.onnx_export import export_onnx, reference_outputs, tokenize
    from mobilekit.mil import MilProgram
    from mobilekit.runners.onnx_runner import run_onnx
    from mobilekit.runners.tflite_runner import run_tflite

    task = dict(task="sentence-embedding", sequence_length=SEQ, pooling="mean", normalize=True)
    random = make_multihead_tiny(tmp_path / "random", task="sentence-embedding", seed=4)
    full = load_model(random, "sentence-embedding")
    _loud_attention(full)
    source = save_model_folder(full, tmp_path / "teacher", tokenizer_from=random, task="sentence-embedding")
    student = build_student(full, [0, 1], heads=KEEP)
    folder = save_model_folder(student, tmp_path / "student", tokenizer_from=source, task="sentence-embedding")
    enc = tokenize(folder, calibration_texts()[:8], SEQ)
    settings = dict(task="sentence-embedding", pooling="mean", normalize=True)
    reference = reference_outputs(folder, enc, **settings)
    assert np.max(np.abs(reference - reference_outputs(source, enc, **settings))) > 0.05  # the cut heads mattered
    inputs = {k: torch.from_numpy(v).long() for k, v in enc.items()}
    with torch.no_grad(), head_gates(full, _gates_for(KEEP)):  # the full encoder with the cut heads gated off
        expected = pool(full(**inputs).last_hidden_state, inputs["attention_mask"], pooling="mean", normalize=True).numpy()
    assert np.max(np.abs(reference - expected)) < 1e-5

    onnx = tmp_path / "model.onnx"
    export_onnx(folder, onnx, **task)
    assert np.max(np.abs(run_onnx(onnx, enc) - reference)) < 1e-5
    tflite = convert_tflite_litert_torch(folder, tmp_path / "tflite", variants=["float32"], calibration=None, **task)
    assert np.max(np.abs(run_tflite(tflite["float32"], enc) - reference)) < 1e-5
    coreml = convert_coreml(folder, tmp_path / "coreml", variants=["float32"], **task)
    mil = MilProgram.from_package(coreml["float32"]).run(enc)["embedding"]
    assert np.max(np.abs(mil - reference)) < 1e-5


def test_the_distill_stage_prunes_heads_recovers_and_exports(tmp_path):
    """distill.heads through the pipeline: importance on the teacher, the cut student distilled
    with attention maps matched head to head, its heads in the metrics, and export loads it."""
    from mobilekit.config import load_config
    from mobilekit.pipeline import Pipeline
    from tests.compress.helpers import write_project, write_sentiment_csv

    make_multihead_tiny(tmp_path / "model", layers=3, seed=5)
    write_sentiment_csv(tmp_path / "data.csv", 120)
    path = write_project(tmp_path, data={"path": "data.csv"},
                         distill={"enabled": True, "layers": [0, 2], "heads": 2, "epochs": 2, "attention_weight": 1.0,
                                  "hidden_weight": 1.0, "batch_size": 16, "learning_rate": 3e-3})
    result = Pipeline(load_config(path)).run(["distill", "export"])
    metrics = result.summary()["stages"][0]["metrics"]
    assert metrics["attention_heads"] == [2, 2] and metrics["intermediate_size"] == 64
    assert [len(kept) for kept in metrics["heads_kept"]] == [2, 2] and all(0 <= h < 4 for kept in metrics["heads_kept"] for h in kept)
    assert all(e["train_loss"] > 0 for e in metrics["epochs"]) and "accuracy" in metrics["student"]
    assert metrics["student"]["parameters"] < metrics["teacher"]["parameters"]
    student = load_model(tmp_path / "build" / "distill" / "model", "text-classification")
    assert head_counts(student) == [2, 2]
    assert (tmp_path / "build" / "export" / "model.onnx").is_file()


def test_more_heads_than_the_teacher_has_stops_the_stage(tmp_path):
    from mobilekit.config import load_config
    from mobilekit.pipeline import Pipeline
    from tests.compress.helpers import write_project, write_sentiment_csv

    make_multihead_tiny(tmp_path / "model", seed=5)
    write_sentiment_csv(tmp_path / "data.csv", 40)
    path = write_project(tmp_path, data={"path": "data.csv"}, distill={"enabled": True, "heads": 6})
    with pytest.raises(ConfigError, match="distill.heads = 6, but the student's layers have 4 attention heads each"):
        Pipeline(load_config(path)).run(["distill"])
