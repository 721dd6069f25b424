"""Attention-head pruning (Michel et al. 2019, "Are Sixteen Heads Really Better than One?").

Each head's context slice, just before the attention output projection, is multiplied by a gate
of ones; the importance of a head is the expected absolute gradient of the loss with respect to
its gate over the task text, ``E_x |dL(x)/d gate_h|``. The gates are per example, so one backward
pass gives every example's own gradient (the expectation of absolute values, not the absolute
value of a batch mean). Each kept layer keeps its most important heads, and the others are cut out
of the weights: rows of the query/key/value projections, input columns of the output projection.

transformers 5 dropped ``prune_heads`` and ``head_mask``, and a BERT config holds one head count
for every layer, so a pruned model records its per-layer counts in config.json
(``mobilekit_attention_heads``) and every mobilekit loader goes through ``load_pretrained``, which
builds the model from its config, shrinks the attention modules to those counts and then loads the
weights. Without that key it is ``from_pretrained`` and nothing else.

torch and transformers are imported inside functions: the litert-torch driver imports this module
from its own environment, with only the ``mobilekit`` package on its path.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from mobilekit.errors import ConfigError, ModelInputError

CONFIG_KEY = "mobilekit_attention_heads"
# The base model's parts a pruned folder must fill exactly (a pooler or task head may be fresh).
ESSENTIAL_MODULES = ("embeddings", "encoder", "transformer")


@dataclass(frozen=True)
class AttentionLayout:
    """Where one BERT-family architecture keeps an encoder layer's attention (paths from the layer)."""

    heads_module: str  # the module that splits its projections into heads
    projections: tuple[str, str, str]  # query, key, value Linear modules inside it
    output: str  # the output projection, whose input is the heads' concatenated context
    count_attribute: str  # the heads module's head count
    width_attribute: str | None  # heads x head size, where the module keeps it


LAYOUTS = (
    AttentionLayout("attention.self", ("query", "key", "value"), "attention.output.dense", "num_attention_heads", "all_head_size"),
    AttentionLayout("attention", ("q_lin", "k_lin", "v_lin"), "attention.out_lin", "n_heads", None),  # DistilBERT
)


# -- the model's layers and heads ---------------------------------------------------------------


def encoder_layers(model) -> list:
    """The encoder layers of a BERT-family model (``encoder.layer`` or DistilBERT's ``transformer.layer``)."""
    base = model.base_model
    for name in ("encoder", "transformer"):
        layers = getattr(getattr(base, name, None), "layer", None)
        if layers is not None:
            return list(layers)
    raise _unsupported(model)


def layout_of(layer) -> AttentionLayout:
    for layout in LAYOUTS:
        try:
            layer.get_submodule(layout.output)
            heads = layer.get_submodule(layout.heads_module)
        except AttributeError:
            continue
        if all(hasattr(heads, name) for name in layout.projections) and hasattr(heads, layout.count_attribute):
            return layout
    raise ModelInputError(f"attention-head pruning does not know the layer type {type(layer).__name__}",
                          hint="head pruning supports BERT-family encoders (bert, MiniLM, distilbert); remove distill.heads")


def head_counts(model) -> list[int]:
    """The attention heads of each encoder layer, as the modules have them."""
    counts = []
    for layer in encoder_layers(model):
        layout = layout_of(layer)
        counts.append(int(getattr(layer.get_submodule(layout.heads_module), layout.count_attribute)))
    return counts


def student_head_counts(model, layers: list[int], hidden_size: int | None = None) -> list[int]:
    """The heads each kept layer of a student of ``model`` starts with: the layer's own, or, for a
    narrower student (``hidden_size``), as many of its leading heads as the width holds."""
    counts = [head_counts(model)[layer] for layer in layers]
    if hidden_size is not None and hidden_size != model.config.hidden_size:
        head_size = model.config.hidden_size // model.config.num_attention_heads
        counts = [min(count, hidden_size // head_size) for count in counts]
    return counts


def check_head_count(heads: int, counts: list[int]) -> None:
    """``heads`` must fit every kept layer (ConfigError otherwise)."""
    available = min(counts)
    if not 1 <= heads <= available:
        raise ConfigError(
            f"distill.heads = {heads}, but the student's layers have {available} attention heads"
            f"{' each' if len(set(counts)) == 1 else ' in the smallest'}",
            hint=f"keep between 1 and {available} heads per layer, or leave distill.heads out to keep them all",
        )


def _unsupported(model) -> ModelInputError:
    return ModelInputError(f"attention-head pruning is not supported for model_type {model.config.model_type!r}",
                           hint="head pruning supports BERT-family encoders (bert, MiniLM, distilbert); remove distill.heads")


# -- gates and importance ----------------------------------------------------------------------


@contextlib.contextmanager
def head_gates(model, gates: dict[int, "object"]):
    """While inside, each listed encoder layer's head contexts are multiplied by its gate before
    the output projection: ``gates[layer]`` is [heads] or, per example, [batch, heads]. The dict is
    read at every forward, so its tensors may be replaced between batches."""
    layers = encoder_layers(model)
    hooks = []
    for index in list(gates):
        layer = layers[index]
        layout = layout_of(layer)
        head_size = int(layer.get_submodule(layout.heads_module).attention_head_size)

        def gate_context(module, args, index=index, head_size=head_size):
            scale = gates[index].to(args[0].dtype).repeat_interleave(head_size, dim=-1)
            if scale.dim() == 2:  # per example: [batch, 1, width] against [batch, tokens, width]
                scale = scale.unsqueeze(1)
            return (args[0] * scale, *args[1:])

        hooks.append(layer.get_submodule(layout.output).register_forward_pre_hook(gate_context))
    try:
        yield gates
    finally:
        for hook in hooks:
            hook.remove()


def head_importance(model, tokenizer, texts: list[str], layers: list[int], max_length: int, *, task: str,
                    labels: list[int | None] | None = None, pooling: str = "mean", seed: int = 0,
                    batch_size: int = 32) -> dict[int, "object"]:
    """Per listed layer of ``model``: each head's mean |dL(x)/d gate| over ``texts``.

    Classifiers (Michel et al.): L is the cross-entropy against the label, or, for unlabelled
    text, against the model's own prediction. Sentence encoders have no task loss, and any
    distance to the model's own output has a zero gradient at gates of one, so L is the pooled
    embedding projected on a random Gaussian direction, fresh per example: E_v |v . g| is
    proportional to |g|, so the importance estimates E_x |d embedding(x) / d gate_h|, to first
    order how far the embedding moves when the head is removed.
    """
    import torch

    from mobilekit.compress.batches import iterate

    counts = head_counts(model)
    totals = {layer: torch.zeros(counts[layer]) for layer in layers}
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    gates = {layer: torch.ones(counts[layer]) for layer in layers}  # replaced per batch below
    with head_gates(model, gates), torch.enable_grad():
        for indices, batch in iterate(tokenizer, texts, max_length, batch_size, model):
            gates.update({layer: torch.ones(len(indices), counts[layer], requires_grad=True) for layer in layers})
            out = model(**batch)
            if task == "text-classification":
                loss = _classifier_probe(out.logits, [labels[i] for i in indices] if labels is not None else None)
            else:
                loss = _embedding_probe(out.last_hidden_state, batch["attention_mask"], pooling, generator)
            grads = torch.autograd.grad(loss, [gates[layer] for layer in layers])
            for layer, grad in zip(layers, grads):
                totals[layer] += grad.abs().sum(0)
    return {layer: total / max(1, len(texts)) for layer, total in totals.items()}


def _classifier_probe(logits, labels: list[int | None] | None):
    """Summed cross-entropy (a sum, so each example's gate gets its own loss's gradient)."""
    import torch
    import torch.nn.functional as F

    predicted = logits.detach().argmax(-1)
    if labels is not None:
        known = torch.tensor([-1 if y is None else y for y in labels])
        predicted = torch.where(known >= 0, known, predicted)
    return F.cross_entropy(logits, predicted, reduction="sum")


def _embedding_probe(last_hidden_state, attention_mask, pooling: str, generator):
    import torch

    from mobilekit.compress.batches import pool

    vectors = pool(last_hidden_state, attention_mask, pooling=pooling, normalize=False)
    direction = torch.randn(vectors.shape, generator=generator, dtype=vectors.dtype)
    return (vectors * direction).sum()


def choose_heads(importance: dict[int, "object"], count: int) -> dict[int, list[int]]:
    """The ``count`` most important heads of each layer, in their original order."""
    return {layer: sorted(scores.topk(count).indices.tolist()) for layer, scores in importance.items()}


# -- cutting heads out of the weights ----------------------------------------------------------


def prune_heads(model, keep: dict[int, list[int]]) -> None:
    """Keep only the listed heads (ascending, per encoder layer index) and record every layer's
    head count in the config; a layer that keeps all its heads is left untouched."""
    layers = encoder_layers(model)
    for index, heads in keep.items():
        if list(heads) != list(range(head_counts(model)[index])):
            _keep_heads(layers[index], list(heads))
    record_head_counts(model)


def record_head_counts(model) -> None:
    """``mobilekit_attention_heads`` in the config when some layer lost heads (absent otherwise, so
    an unpruned model's config.json stays what it was)."""
    counts = head_counts(model)
    if all(count == model.config.num_attention_heads for count in counts):
        if hasattr(model.config, CONFIG_KEY):
            delattr(model.config, CONFIG_KEY)
        return
    setattr(model.config, CONFIG_KEY, counts)


def shrink_to_counts(model, counts: list[int]) -> None:
    """Give each encoder layer its leading ``counts[i]`` heads: the shapes a pruned folder's
    weights have (the weights themselves are loaded afterwards)."""
    layers = encoder_layers(model)
    if len(counts) != len(layers):
        raise ModelInputError(f"config.json lists {CONFIG_KEY} for {len(counts)} layers, but the model has {len(layers)}",
                              hint="the folder's config.json was edited or belongs to another model; rebuild it with mobilekit")
    for layer, count, current in zip(layers, counts, head_counts(model)):
        if not 1 <= count <= current:
            raise ModelInputError(f"config.json asks for {count} attention heads in a layer of {current}",
                                  hint="the folder's config.json was edited or belongs to another model; rebuild it with mobilekit")
        if count != current:
            _keep_heads(layer, list(range(count)))
    setattr(model.config, CONFIG_KEY, list(counts))


def _keep_heads(layer, heads: list[int]) -> None:
    """Cut every other head out of one layer: query/key/value rows, output projection columns."""
    import torch

    layout = layout_of(layer)
    attention = layer.get_submodule(layout.heads_module)
    size = int(attention.attention_head_size)
    index = torch.cat([torch.arange(head * size, (head + 1) * size) for head in heads])
    for name in layout.projections:
        setattr(attention, name, _sliced_linear(getattr(attention, name), index, axis=0))
    owner_path, _, name = layout.output.rpartition(".")
    owner = layer.get_submodule(owner_path)
    setattr(owner, name, _sliced_linear(getattr(owner, name), index, axis=1))
    setattr(attention, layout.count_attribute, len(heads))
    if layout.width_attribute is not None:
        setattr(attention, layout.width_attribute, len(heads) * size)


def _sliced_linear(linear, index, *, axis: int):
    """A new Linear with only the ``index`` outputs (axis 0) or inputs (axis 1) of ``linear``."""
    import torch

    index = index.to(linear.weight.device)
    weight = linear.weight.detach().index_select(axis, index)
    out_features, in_features = weight.shape
    has_bias = linear.bias is not None
    sliced = torch.nn.Linear(in_features, out_features, bias=has_bias, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        sliced.weight.copy_(weight)
        if has_bias:  # the output projection's bias belongs to its outputs: kept whole
            sliced.bias.copy_(linear.bias.detach().index_select(0, index) if axis == 0 else linear.bias.detach())
    return sliced


# -- loading a folder --------------------------------------------------------------------------


def recorded_head_counts(folder: Path) -> list[int] | None:
    """The per-layer head counts a pruned folder's config.json records, else None."""
    try:
        counts = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")).get(CONFIG_KEY)
    except (OSError, ValueError):
        return None  # from_pretrained reports an unreadable folder in its own words
    if counts is None:
        return None
    if not isinstance(counts, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        raise ModelInputError(f"{folder}/config.json: {CONFIG_KEY} = {counts!r} is not a list of head counts",
                              hint="the folder's config.json was edited; rebuild it with mobilekit")
    return counts


def load_pretrained(auto_class, folder: Path, **kwargs):
    """``auto_class.from_pretrained(folder, **kwargs)``, or, for a head-pruned folder, the same
    model built from its config with the recorded head counts and then given the folder's weights.
    Understands the keyword arguments mobilekit passes: config overrides (``num_labels``,
    ``id2label``, ...), ``attn_implementation`` and ``ignore_mismatched_sizes``."""
    counts = recorded_head_counts(folder)
    if counts is None:
        return auto_class.from_pretrained(str(folder), **kwargs)
    from transformers import AutoConfig

    attn_implementation = kwargs.pop("attn_implementation", None)
    ignore_mismatched = kwargs.pop("ignore_mismatched_sizes", False)
    config = AutoConfig.from_pretrained(str(folder), **kwargs)
    model = auto_class.from_config(config, **({"attn_implementation": attn_implementation} if attn_implementation else {}))
    shrink_to_counts(model, counts)
    _load_weights(model, folder, ignore_mismatched=ignore_mismatched)
    model.config._name_or_path = str(folder)
    model.name_or_path = str(folder)
    return model.eval()


def _load_weights(model, folder: Path, *, ignore_mismatched: bool) -> None:
    """The folder's tensors into ``model``. The embeddings and the encoder layers must all be
    there with their shapes; a pooler or task head the checkpoint lacks, or (with
    ``ignore_mismatched``) has in another shape, stays freshly initialised, as from_pretrained
    leaves it, and a head the model lacks is ignored."""
    expected = model.state_dict()
    state, unexpected = _align_keys(_read_tensors(folder), model)
    problems = [f"unexpected {key}" for key in unexpected if _essential(model, key)]
    for key in list(state):
        if state[key].shape != expected[key].shape:
            if ignore_mismatched and not _essential(model, key):
                del state[key]
            else:
                problems.append(f"{key} is {tuple(state[key].shape)}, the model's {tuple(expected[key].shape)}")
    problems += [f"missing {key}" for key in expected if key not in state and _essential(model, key)]
    if problems:
        raise ModelInputError(f"the head-pruned weights in {folder} do not fit its config: {'; '.join(problems[:3])}",
                              hint="the folder's config.json or weights were changed after mobilekit wrote them; rebuild it")
    model.load_state_dict(state, strict=False)


def _read_tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    if not all((folder / name).is_file() for name in files):
        raise ModelInputError(f"{folder} records pruned attention heads but has no safetensors weights",
                              hint="save the model with save_pretrained(folder) (safetensors)")
    state = {}
    for name in files:
        state.update(load_file(str(folder / name)))
    return state


def _align_keys(state: dict, model) -> tuple[dict, list[str]]:
    """The checkpoint's tensors under the model's own names: an encoder checkpoint loaded into a
    model with a head gains the base model's prefix, a checkpoint with a head loaded as a bare
    encoder loses it. Returns (aligned, keys that fit nowhere)."""
    prefix = model.base_model_prefix + "."
    expected = set(model.state_dict())
    aligned, unexpected = {}, []
    for key, value in state.items():
        name = next((c for c in (key, prefix + key, key.removeprefix(prefix)) if c in expected), None)
        if name is None:
            unexpected.append(key)
        else:
            aligned[name] = value
    return aligned, unexpected


def _essential(model, key: str) -> bool:
    """Whether a weight (under the model's or a checkpoint's name) belongs to the embeddings or
    the encoder layers, which a pruned folder must fill exactly."""
    first = key.removeprefix(model.base_model_prefix + ".").split(".")[0]
    return first in ESSENTIAL_MODULES and hasattr(model.base_model, first)
