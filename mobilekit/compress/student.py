"""A student that starts from the teacher: a subset of its layers, optionally narrower.

Every weight the student has is copied from the teacher: the embeddings, the kept encoder layers
(student layer i <- teacher layer ``layers[i]``), the pooler and the classifier head. With a
smaller ``hidden_size`` each tensor is the teacher's leading slice along every axis (the first
heads, the first feed-forward neurons, the first embedding dimensions): consistent across layers,
so the student starts as a truncated teacher rather than from noise. With a smaller
``intermediate_size`` each kept layer keeps the feed-forward neurons that matter most on the task
text (structured pruning, as in Michel et al. 2019 / CoFi for heads and neurons): mean absolute
activation times the norm of the neuron's output weights, measured on the teacher. With
``heads`` each kept layer keeps the attention heads that matter most (``mobilekit.compress.heads``).
A teacher that was itself head-pruned passes its kept layers' head counts on.
"""

from __future__ import annotations

import copy
import re

from mobilekit.errors import ConfigError, ModelInputError

LAYER_KEY = re.compile(r"^(.*\.layer\.)(\d+)(\..*)$")
# BERT-family feed-forward weights: rows of intermediate.dense, columns of (the layer's) output.dense.
FFN_IN = re.compile(r"\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)$")
FFN_OUT = re.compile(r"\.layer\.(\d+)\.output\.dense\.weight$")


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


def student_config(teacher_config, layers: list[int], hidden_size: int | None, intermediate_size: int | None = None):
    config = copy.deepcopy(teacher_config)
    config.num_hidden_layers = len(layers)
    _keep_recorded_heads(config, teacher_config, layers, hidden_size)
    if intermediate_size is not None:
        teacher_width = getattr(teacher_config, "intermediate_size", None)
        if teacher_width is None:
            raise ModelInputError(f"a narrower feed-forward is not supported for model_type {teacher_config.model_type!r}",
                                  hint="remove distill.intermediate_size")
        if intermediate_size > teacher_width:
            raise ConfigError(f"distill.intermediate_size = {intermediate_size} is larger than the teacher's {teacher_width}",
                              hint=f"pick a width below {teacher_width}, for example {teacher_width // 2}")
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
    if intermediate_size is not None:
        config.intermediate_size = intermediate_size
    return config


def _keep_recorded_heads(config, teacher_config, layers: list[int], hidden_size: int | None) -> None:
    """A head-pruned teacher's per-layer head counts, for the layers the student keeps."""
    from mobilekit.compress.heads import CONFIG_KEY

    counts = getattr(teacher_config, CONFIG_KEY, None)
    if counts is None:
        return
    if hidden_size is not None and hidden_size != teacher_config.hidden_size:
        raise ModelInputError("the teacher's attention heads were pruned, so a narrower student cannot take its leading heads",
                              hint="remove distill.hidden_size, or distill the teacher it was pruned from")
    kept = [counts[layer] for layer in layers]
    if all(count == teacher_config.num_attention_heads for count in kept):
        delattr(config, CONFIG_KEY)  # the pruned layers were all dropped
    else:
        setattr(config, CONFIG_KEY, kept)


def build_student(teacher, layers: list[int], *, hidden_size: int | None = None, intermediate_size: int | None = None,
                  neurons: dict[int, list[int]] | None = None, heads: dict[int, list[int]] | None = None, seed: int = 0):
    """A new model of the teacher's class with the kept layers' weights; returns it in eval mode.

    ``neurons``: per teacher layer, the feed-forward neurons to keep (ascending); without it a
    narrower feed-forward keeps the leading ones. ``heads``: per teacher layer, the attention heads
    to keep (ascending; of a narrower student's leading heads); without it every head stays.
    """
    import torch

    from mobilekit.compress.heads import CONFIG_KEY, prune_heads, shrink_to_counts

    layers = check_layers(layers, teacher.config.num_hidden_layers)
    config = student_config(teacher.config, layers, hidden_size, intermediate_size)
    torch.manual_seed(seed)
    kwargs = {}
    if getattr(teacher, "pooler", "absent") is None:
        kwargs["add_pooling_layer"] = False  # a bare encoder saved without a pooler
    student = type(teacher)(config, **kwargs)
    if getattr(config, CONFIG_KEY, None) is not None:
        shrink_to_counts(student, getattr(config, CONFIG_KEY))  # the head-pruned teacher's shapes
    teacher_state = teacher.state_dict()
    state = {}
    for key, tensor in student.state_dict().items():
        source = teacher_key(key, layers)
        if source not in teacher_state:
            raise ModelInputError(f"cannot initialise the student: the teacher has no weight {source!r}",
                                  hint="distillation supports BERT-family encoders (bert, roberta, distilbert, ...)")
        value = teacher_state[source]
        if neurons is not None and value.shape != tensor.shape:
            value = _keep_neurons(source, value, neurons)
        if value.shape != tensor.shape:
            value = value[tuple(slice(0, size) for size in tensor.shape)]
        state[key] = value.clone()
    student.load_state_dict(state)
    if heads is not None:
        prune_heads(student, {i: heads[layer] for i, layer in enumerate(layers)})
    return student.eval()


def _keep_neurons(key: str, value, neurons: dict[int, list[int]]):
    """The teacher tensor with only the kept feed-forward neurons of its layer along their axis."""
    import torch

    for pattern, axis in ((FFN_IN, 0), (FFN_OUT, 1)):
        match = pattern.search(key)
        if match and value.dim() > axis:
            return value.index_select(axis, torch.tensor(neurons[int(match.group(1))]))
    return value


def neuron_importance(teacher, tokenizer, texts: list[str], layers: list[int], max_length: int) -> dict[int, "object"]:
    """Per teacher layer: mean |activation| of each feed-forward neuron over the texts' real tokens,
    times the L2 norm of the neuron's output weights (what removing it would change)."""
    import torch

    from mobilekit.compress.batches import iterate

    blocks = _ffn_blocks(teacher)
    totals = {layer: torch.zeros(blocks[layer][0].dense.out_features) for layer in layers}
    count = torch.zeros(())
    mask_holder = {}
    hooks = []
    for layer in layers:
        def record(module, args, output, layer=layer):
            mask = mask_holder["mask"].unsqueeze(-1).to(output.dtype)
            totals[layer] += (output.abs() * mask).sum((0, 1))
        hooks.append(blocks[layer][0].register_forward_hook(record))
    try:
        teacher.eval()
        with torch.no_grad():
            for _, batch in iterate(tokenizer, texts, max_length, 64, teacher):
                mask_holder["mask"] = batch["attention_mask"]
                count += batch["attention_mask"].sum()
                teacher(**batch)
    finally:
        for hook in hooks:
            hook.remove()
    return {layer: totals[layer] / count.clamp(min=1) * blocks[layer][1].dense.weight.norm(dim=0) for layer in layers}


def choose_neurons(importance: dict[int, "object"], width: int) -> dict[int, list[int]]:
    """The ``width`` most important neurons of each layer, in their original order."""
    return {layer: sorted(scores.topk(width).indices.tolist()) for layer, scores in importance.items()}


def _ffn_blocks(model) -> list[tuple]:
    """(intermediate, output) modules of each encoder layer, BERT-family layout."""
    encoder = getattr(model.base_model, "encoder", None)
    layer_list = getattr(encoder, "layer", None)
    if layer_list is None or not all(hasattr(l, "intermediate") and hasattr(l, "output") for l in layer_list):
        raise ModelInputError(f"a narrower feed-forward is not supported for model_type {model.config.model_type!r}",
                              hint="remove distill.intermediate_size")
    return [(l.intermediate, l.output) for l in layer_list]


def teacher_key(student_key: str, layers: list[int]) -> str:
    """The teacher weight a student weight comes from: encoder layer i maps to ``layers[i]``."""
    match = LAYER_KEY.match(student_key)
    if match is None:
        return student_key
    return f"{match.group(1)}{layers[int(match.group(2))]}{match.group(3)}"
