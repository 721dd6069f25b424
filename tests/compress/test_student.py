"""The student starts as a copy of the teacher's chosen layers (and, narrower, of their leading slice)."""

from __future__ import annotations

import re

import pytest
import torch

from mobilekit.compress.folders import load_model
from mobilekit.compress.student import build_student, default_layers
from mobilekit.errors import ConfigError
from tests.compress.helpers import make_deep_tiny_classifier


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return load_model(make_deep_tiny_classifier(tmp_path_factory.mktemp("teacher"), layers=4), "text-classification")


def test_default_keeps_every_other_layer_ending_with_the_last():
    assert default_layers(6) == [1, 3, 5]
    assert default_layers(12) == [1, 3, 5, 7, 9, 11]
    assert default_layers(2) == [1]
    assert default_layers(1) == [0]


def test_student_layers_embeddings_pooler_and_head_are_the_teachers(teacher):
    student = build_student(teacher, [0, 2])
    assert student.config.num_hidden_layers == 2 and len(student.bert.encoder.layer) == 2
    t, s = teacher.state_dict(), student.state_dict()
    for i, layer in enumerate([0, 2]):
        keys = [k for k in s if k.startswith(f"bert.encoder.layer.{i}.")]
        assert keys
        for key in keys:
            assert torch.equal(s[key], t[key.replace(f"layer.{i}.", f"layer.{layer}.")]), key
    copied = [k for k in s if not k.startswith("bert.encoder.layer.")]
    assert any("word_embeddings" in k for k in copied) and any("pooler" in k for k in copied) and any("classifier" in k for k in copied)
    for key in copied:
        assert torch.equal(s[key], t[key]), key
    # A student of all the teacher's layers is the teacher.
    same = build_student(teacher, [0, 1, 2, 3])
    batch = {"input_ids": torch.tensor([[2, 40, 50, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    with torch.no_grad():
        assert torch.allclose(same(**batch).logits, teacher(**batch).logits)


def test_narrower_student_is_the_leading_slice_of_the_teacher(teacher):
    student = build_student(teacher, [1, 3], hidden_size=16)  # tiny teacher: hidden 32, 2 heads of 16
    config = student.config
    assert (config.hidden_size, config.num_attention_heads, config.intermediate_size) == (16, 1, 32)
    t = teacher.state_dict()
    for key, value in student.state_dict().items():
        source = re.sub(r"encoder\.layer\.(\d+)\.", lambda m: f"encoder.layer.{[1, 3][int(m.group(1))]}.", key)
        expected = t[source][tuple(slice(0, n) for n in value.shape)]
        assert torch.equal(value, expected), key


def test_impossible_students_are_config_errors(teacher):
    with pytest.raises(ConfigError, match="names layer 4, but the teacher has 4 layers"):
        build_student(teacher, [1, 4])
    with pytest.raises(ConfigError, match="multiple of its head size 16"):
        build_student(teacher, [1], hidden_size=20)


def test_narrower_feed_forward_keeps_the_neurons_that_matter(teacher):
    from transformers import AutoTokenizer

    from mobilekit.compress.student import choose_neurons, neuron_importance
    from tests.tiny_models import sentiment_samples

    tokenizer = AutoTokenizer.from_pretrained(teacher.name_or_path)
    texts, _ = sentiment_samples(64, seed=3)
    layers = [0, 1, 2, 3]
    importance = neuron_importance(teacher, tokenizer, texts, layers, 16)
    assert set(importance) == set(layers) and all(v.shape == (64,) and (v >= 0).all() for v in importance.values())
    top = choose_neurons(importance, 32)
    bottom = {layer: sorted(scores.topk(32, largest=False).indices.tolist()) for layer, scores in importance.items()}
    student = build_student(teacher, layers, intermediate_size=32, neurons=top)
    assert student.config.intermediate_size == 32
    t, s = teacher.state_dict(), student.state_dict()
    for layer in layers:
        kept = torch.tensor(top[layer])
        prefix = f"bert.encoder.layer.{layer}."
        assert torch.equal(s[prefix + "intermediate.dense.weight"], t[prefix + "intermediate.dense.weight"][kept])
        assert torch.equal(s[prefix + "intermediate.dense.bias"], t[prefix + "intermediate.dense.bias"][kept])
        assert torch.equal(s[prefix + "output.dense.weight"], t[prefix + "output.dense.weight"][:, kept])
        assert torch.equal(s[prefix + "attention.output.dense.weight"], t[prefix + "attention.output.dense.weight"])
    # Keeping the important half changes the teacher's outputs less than keeping the other half.
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    weak = build_student(teacher, layers, intermediate_size=32, neurons=bottom)
    with torch.no_grad():
        reference = teacher(**batch).logits
        error = {name: float((m(**batch).logits - reference).abs().mean()) for name, m in (("top", student), ("bottom", weak))}
    assert error["top"] < error["bottom"], error


def test_feed_forward_wider_than_the_teachers_is_a_config_error(teacher):
    with pytest.raises(ConfigError, match="intermediate_size = 128 is larger than the teacher's 64"):
        build_student(teacher, [0, 1], intermediate_size=128)
