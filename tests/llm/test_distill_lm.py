"""Distilling causal LMs: the student keeps the chosen layers and the most important MLP neurons,
learns from the teacher, and is a folder AutoModelForCausalLM loads."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch

from mobilekit.errors import ConfigError, ModelInputError
from mobilekit.llm.distill_lm import build_student, distill_causal_lm, mlp_importance
from mobilekit.llm.model_folder import load_checked
from mobilekit.llm.perplexity import perplexity, text_windows
from tests.tiny_lm import CORPUS, make_tiny_lm, train_tiny_lm

LOG = logging.getLogger("test")
pytestmark = pytest.mark.usefixtures("one_thread")
IDS = torch.tensor([[1, 85, 91, 85, 86, 71, 79, 201, 59, 81, 87, 261, 84, 71, 59, 81]])


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    """A 4-layer llama that has learned the corpus a little (a random teacher has nothing to teach)."""
    return train_tiny_lm(make_tiny_lm(tmp_path_factory.mktemp("teacher"), "llama", layers=4), steps=40, lr=2e-2)


def distill(teacher, out_dir, **overrides):
    settings = dict(epochs=3, batch_size=4, learning_rate=3e-3, max_length=32, seed=0, log=LOG, timing_seconds=0.02)
    return distill_causal_lm(teacher, out_dir, CORPUS * 4, CORPUS, **{**settings, **overrides})


def logits(model, ids=IDS):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_student_keeps_the_default_half_depth_and_the_pruned_width(teacher_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = distill(teacher_dir, tmp_path / "student", intermediate_size=32)
    assert result.layers == [0, 3] and result.intermediate_size == 32  # bottom layer + top layer of 4
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["intermediate_size"] == 32
    student = AutoModelForCausalLM.from_pretrained(tmp_path / "student", dtype=torch.float32).eval()
    assert student.model.layers[0].mlp.down_proj.weight.shape == (32, 32)
    assert {"tokenizer.json", "chat_template.jinja", "generation_config.json"} <= {p.name for p in (tmp_path / "student").iterdir()}
    windows = text_windows(AutoTokenizer.from_pretrained(tmp_path / "student"), CORPUS, 32)
    assert perplexity(student, windows) == pytest.approx(result.student_perplexity, rel=1e-4)  # reported = what loads
    assert result.retention == pytest.approx(result.teacher_perplexity / result.student_perplexity)
    assert result.student_parameters < result.teacher_parameters
    assert result.student_safetensors_bytes < result.teacher_safetensors_bytes
    assert result.teacher_tokens_per_second > 0 and result.student_tokens_per_second > 0
    assert json.dumps(result.to_dict())


def test_distillation_brings_the_student_towards_the_teacher(teacher_dir, tmp_path):
    teacher = load_checked(teacher_dir)
    from transformers import AutoTokenizer

    windows = text_windows(AutoTokenizer.from_pretrained(teacher_dir), CORPUS, 32)
    initial = perplexity(build_student(teacher, [1, 3]), windows)
    result = distill(teacher_dir, tmp_path / "student")
    assert result.student_perplexity < 0.95 * initial
    assert result.teacher_perplexity < result.student_perplexity
    assert result.best_epoch == min(range(1, 4), key=lambda e: result.history[e - 1]["validation_loss"])


def test_student_layers_are_copies_of_the_kept_teacher_layers(teacher_dir):
    teacher = load_checked(teacher_dir)
    student = build_student(teacher, [0, 2])
    t, s = teacher.state_dict(), student.state_dict()
    for name in ("self_attn.q_proj.weight", "self_attn.o_proj.weight", "mlp.down_proj.weight", "input_layernorm.weight"):
        assert torch.equal(s[f"model.layers.1.{name}"], t[f"model.layers.2.{name}"])
        assert torch.equal(s[f"model.layers.0.{name}"], t[f"model.layers.0.{name}"])
    assert torch.equal(s["model.embed_tokens.weight"], t["model.embed_tokens.weight"])
    assert torch.equal(logits(build_student(teacher, [0, 1, 2, 3])), logits(teacher))  # all layers: the teacher itself


def test_pruning_keeps_the_neurons_that_matter(teacher_dir):
    from transformers import AutoTokenizer

    from mobilekit.compress.student import choose_neurons

    teacher = load_checked(teacher_dir)
    dead = {1: list(range(0, 64, 2)), 3: list(range(32))}
    with torch.no_grad():  # these neurons write nothing: removing them cannot change the output
        for layer, neurons in dead.items():
            teacher.model.layers[layer].mlp.down_proj.weight[:, neurons] = 0
    windows = text_windows(AutoTokenizer.from_pretrained(teacher_dir), CORPUS, 32)
    importance = mlp_importance(teacher, windows, [1, 3])
    assert importance[1][dead[1]].abs().max() == 0 and importance[1][1::2].min() > 0
    neurons = choose_neurons(importance, 32)
    assert neurons == {1: list(range(1, 64, 2)), 3: list(range(32, 64))}
    pruned = build_student(teacher, [1, 3], intermediate_size=32, neurons=neurons)
    t, s = teacher.state_dict(), pruned.state_dict()
    assert torch.equal(s["model.layers.0.mlp.up_proj.weight"], t["model.layers.1.mlp.up_proj.weight"][1::2])
    assert torch.equal(s["model.layers.1.mlp.down_proj.weight"], t["model.layers.3.mlp.down_proj.weight"][:, 32:])
    assert (logits(pruned) - logits(build_student(teacher, [1, 3]))).abs().max() < 1e-5


@pytest.mark.parametrize("arch", ["gemma3_text", "gpt2"])
def test_gemma3_and_gpt2_students_load(arch, tmp_path):
    from transformers import AutoModelForCausalLM

    teacher_dir = make_tiny_lm(tmp_path / "teacher", arch, layers=4)
    result = distill(teacher_dir, tmp_path / "student", layers=[0, 3], intermediate_size=48, epochs=1)
    student = AutoModelForCausalLM.from_pretrained(tmp_path / "student", dtype=torch.float32).eval()
    assert student.config.num_hidden_layers == 2 and math.isfinite(result.student_perplexity)
    if arch == "gemma3_text":  # layer 3 was the teacher's full-attention layer, layer 0 a sliding one
        assert student.config.layer_types == ["sliding_attention", "full_attention"]
        assert student.config.intermediate_size == 48
    else:
        assert student.config.n_inner == 48 and student.transformer.h[0].mlp.c_fc.weight.shape == (32, 48)
    assert torch.isfinite(logits(student)).all()


def test_bad_inputs_are_refused_with_a_hint(teacher_dir, tmp_path):
    for bad in ({"layers": [1, 4]}, {"layers": [1, 1]}, {"layers": []}, {"intermediate_size": 64}, {"intermediate_size": 100}):
        with pytest.raises(ConfigError) as caught:
            distill(teacher_dir, tmp_path / "out", **bad)
        assert caught.value.hint and caught.value.EXIT_CODE == 3
    with pytest.raises(ConfigError, match="names layer 4, but the teacher has 4 layers"):
        distill(teacher_dir, tmp_path / "out", layers=[1, 4])
    for train, validation in (([], CORPUS), (CORPUS, [])):
        with pytest.raises(ModelInputError) as caught:
            distill_causal_lm(teacher_dir, tmp_path / "out", train, validation, log=LOG)
        assert caught.value.EXIT_CODE == 4 and "text to distill on" in caught.value.message
    assert not (tmp_path / "out").exists()
