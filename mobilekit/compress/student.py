"""A student that starts from the teacher: a subset of its layers, optionally narrower.

Every weight the student has is copied from the teacher: the embeddings, the kept encoder layers
(student layer i <- teacher layer ``layers[i]``), the pooler and the classifier head. With a
smaller ``hidden_size`` each tensor is the teacher's leading slice along every axis (the first
heads, the first feed-forward neurons, the first embedding dimensions): consistent across layers,
so the student starts as a truncated teacher rather than from noise.
"""

from __future__ import annotations

import copy
import re

from mobilekit.errors import ConfigError, ModelInputError

LAYER_KEY = re.compile(r"^(.*\.layer\.)(\d+)(\..*)$")


def default_layers(num_layers: int) -> list[int]:
    """Every other layer, ending with the last one (6 -> [1, 3, 5]; 12 -> [1, 3, ..., 11]).
    Keeping the last layer keeps the representation the pooler and the head were trained on."""
    return list(range(num_layers - 1, -1, -2))[::-1]


def check_layers(layers: list[int], num_layers: int) -> list[int]:
    bad = [layer for layer in layers if layer >= num_layers]
    if bad:
        raise ConfigError(
            f"distill.layers = {layers} names layer {bad[0]}, but the teacher has {num_layers} layers (0..{num_layers - 1})",
            hint=f"pick layers between 0 and {num_layers - 1}, or leave distill.layers out for every other one",
        )
    if not layers:
        raise ConfigError("distill.layers is empty", hint="keep at least one teacher layer")
    return list(layers)


def student_config(teacher_config, layers: list[int], hidden_size: int | None):
    config = copy.deepcopy(teacher_config)
    config.num_hidden_layers = len(layers)
    if hidden_size is not None and hidden_size != teacher_config.hidden_size:
        width = teacher_config.hidden_size
        heads = teacher_config.num_attention_heads
        head_size = width // heads
        if not hasattr(teacher_config, "intermediate_size"):
            raise ModelInputError(f"a narrower student is not supported for model_type {teacher_config.model_type!r}",
                                  hint="remove distill.hidden_size")
        if hidden_size > width or hidden_size % head_size:
            raise ConfigError(
                f"distill.hidden_size = {hidden_size} must be smaller than the teacher's {width} and a multiple of its head size {head_size}",
                hint=f"for example {max(head_size, (width // 2) // head_size * head_size)}",
            )
        config.num_attention_heads = hidden_size // head_size
        config.intermediate_size = round(teacher_config.intermediate_size * hidden_size / width)
        config.hidden_size = hidden_size
    return config


def build_student(teacher, layers: list[int], *, hidden_size: int | None = None, seed: int = 0):
    """A new model of the teacher's class with the kept layers' weights; returns it in eval mode."""
    import torch

    layers = check_layers(layers, teacher.config.num_hidden_layers)
    config = student_config(teacher.config, layers, hidden_size)
    torch.manual_seed(seed)
    kwargs = {}
    if getattr(teacher, "pooler", "absent") is None:
        kwargs["add_pooling_layer"] = False  # a bare encoder saved without a pooler
    student = type(teacher)(config, **kwargs)
    teacher_state = teacher.state_dict()
    state = {}
    for key, tensor in student.state_dict().items():
        source = teacher_key(key, layers)
        if source not in teacher_state:
            raise ModelInputError(f"cannot initialise the student: the teacher has no weight {source!r}",
                                  hint="distillation supports BERT-family encoders (bert, roberta, distilbert, ...)")
        value = teacher_state[source]
        if value.shape != tensor.shape:
            value = value[tuple(slice(0, size) for size in tensor.shape)]
        state[key] = value.clone()
    student.load_state_dict(state)
    return student.eval()


def teacher_key(student_key: str, layers: list[int]) -> str:
    """The teacher weight a student weight comes from: encoder layer i maps to ``layers[i]``."""
    match = LAYER_KEY.match(student_key)
    if match is None:
        return student_key
    return f"{match.group(1)}{layers[int(match.group(2))]}{match.group(3)}"
