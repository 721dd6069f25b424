"""A smaller causal LM distilled from the user's: fewer decoder layers, optionally a narrower MLP.

The student starts as the teacher with only the chosen layers (student layer i <- teacher layer
``layers[i]``, every other weight copied: embeddings, final norm, head), as DistilBERT and
Sheared-LLaMA start from their teachers rather than from noise. A narrower MLP keeps, in every
kept layer, the neurons that matter most on the training text: mean |activation| entering the
down projection times the norm of the neuron's output weights (the same rule as
``mobilekit.compress.student`` for BERT). It is then trained on the texts to match the teacher's
next-token distribution at every position: KL(teacher || student) on logits softened by the
temperature T, times T^2 (Hinton et al. 2015); the epoch with the lowest validation perplexity is
kept. Layer-dependent config fields (num_hidden_layers / n_layer, Gemma 3's and Qwen's
layer_types, Qwen's max_window_layers) follow the kept layers, so the folder loads with
AutoModelForCausalLM and converts like the teacher.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mobilekit.errors import ConfigError, ModelInputError

LAYER_KEY = re.compile(r"^(.*\.(?:layers|h)\.)(\d+)(\..*)$")
# MLP weights and the axis that runs over the hidden neurons: llama-style gate/up/down (nn.Linear
# stores [out, in]) and GPT-2's c_fc/c_proj (Conv1D stores [in, out]).
NEURON_AXES = (("mlp.gate_proj.weight", 0), ("mlp.gate_proj.bias", 0), ("mlp.up_proj.weight", 0), ("mlp.up_proj.bias", 0),
               ("mlp.down_proj.weight", 1), ("mlp.c_fc.weight", 1), ("mlp.c_fc.bias", 0), ("mlp.c_proj.weight", 0))
IMPORTANCE_WINDOWS = 256  # enough text to rank neurons; more only costs time
TIMING_LENGTH = 128


@dataclass
class DistillResult:
    out_dir: Path
    layers: list[int]  # the teacher layers the student kept
    intermediate_size: int  # the student's MLP width
    teacher_perplexity: float  # on the validation texts
    student_perplexity: float
    retention: float  # teacher_perplexity / student_perplexity (1.0 = no loss)
    teacher_parameters: int
    student_parameters: int
    teacher_safetensors_bytes: int  # as stored: a bf16 teacher's file is half its float32 size
    student_safetensors_bytes: int  # float32
    teacher_tokens_per_second: float  # torch forward, 1 thread, same input for both
    student_tokens_per_second: float
    best_epoch: int
    epochs_run: int
    history: list[dict] = field(default_factory=list)
    train_windows: int = 0
    validation_windows: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        return {k: round(v, 5) if isinstance(v, float) else v for k, v in data.items()}


def decoder_layers(model):
    """The ModuleList of decoder blocks (``model.layers`` in llama/qwen/gemma, ``transformer.h`` in GPT-2)."""
    base = model.base_model
    for name in ("layers", "h"):
        blocks = getattr(base, name, None)
        if blocks is not None:
            return blocks
    raise ModelInputError(f"cannot find the decoder layers of this {model.config.model_type} model",
                          hint="distillation supports llama, gpt2, qwen2, qwen3 and gemma3_text models")


def layer_count(config) -> int:
    return config.num_hidden_layers if hasattr(config, "num_hidden_layers") else config.n_layer


def mlp_width(config) -> int:
    if config.model_type == "gpt2":
        return config.n_inner or 4 * config.n_embd
    return config.intermediate_size


HEAD_SHARE = 0.4  # of the kept layers, the share taken from the bottom of the teacher


def default_layers(num_layers: int) -> list[int]:
    """Half the depth, dropping one contiguous block of middle layers: the first 40% of the kept
    layers from the bottom, the rest from the top.

    Measured on SmolLM2-135M (30 layers, 15 kept, perplexity on 60 held-out sentences before any
    training, teacher 90.6): every other layer 5.1M, first 2 + last 13 14,344, first 4 + last 11
    3,846, first 5 + last 10 1,756, first 6 + last 9 1,690, first 8 + last 7 3,394, first 10 +
    last 5 58,323. LLM layers refine a residual stream that the first layers set up and the last
    ones read out; the encoder path's every-other-layer choice breaks that."""
    keep = max(1, (num_layers + 1) // 2)
    head = int(round(keep * HEAD_SHARE))
    return list(range(head)) + list(range(num_layers - (keep - head), num_layers))


def check_layers(layers: list[int] | None, num_layers: int) -> list[int]:
    """The teacher layers to keep; None: ``default_layers``."""
    if layers is None:
        return default_layers(num_layers)
    layers = list(layers)
    hint = f"list distinct layer indices between 0 and {num_layers - 1} in ascending order, or leave layers out for the default half-depth choice"
    if not layers:
        raise ConfigError("distill layers is empty", hint="keep at least one teacher layer")
    bad = [layer for layer in layers if not isinstance(layer, int) or not 0 <= layer < num_layers]
    if bad:
        raise ConfigError(f"distill layers = {layers} names layer {bad[0]}, but the teacher has {num_layers} layers "
                          f"(0..{num_layers - 1})", hint=hint)
    duplicates = sorted({layer for layer in layers if layers.count(layer) > 1})
    if duplicates:
        raise ConfigError(f"distill layers = {layers} names layer {duplicates[0]} more than once", hint=hint)
    if layers != sorted(layers):
        raise ConfigError(f"distill layers = {layers} is not in ascending order", hint=hint)
    return layers


def check_width(intermediate_size: int | None, teacher_width: int) -> None:
    if intermediate_size is not None and not 1 <= intermediate_size < teacher_width:
        raise ConfigError(f"distill intermediate_size = {intermediate_size} must be between 1 and the teacher's MLP width "
                          f"{teacher_width} (exclusive)",
                          hint=f"pick a smaller width, for example {teacher_width // 2}, or leave it out to keep {teacher_width}")


def student_config(teacher_config, layers: list[int], intermediate_size: int | None):
    """The teacher's config with the kept layers (and MLP width); layer-indexed fields follow."""
    data = teacher_config.to_dict()
    data["num_hidden_layers" if "num_hidden_layers" in data else "n_layer"] = len(layers)
    if data.get("layer_types"):
        data["layer_types"] = [data["layer_types"][i] for i in layers]
    if data.get("max_window_layers") is not None:  # Qwen: layers below it use the sliding window
        data["max_window_layers"] = sum(i < data["max_window_layers"] for i in layers)
    if intermediate_size is not None:
        data["n_inner" if teacher_config.model_type == "gpt2" else "intermediate_size"] = intermediate_size
    return type(teacher_config).from_dict(data)


def teacher_key(student_key: str, layers: list[int]) -> str:
    match = LAYER_KEY.match(student_key)
    return student_key if match is None else f"{match.group(1)}{layers[int(match.group(2))]}{match.group(3)}"


def build_student(teacher, layers: list[int], *, intermediate_size: int | None = None,
                  neurons: dict[int, list[int]] | None = None):
    """The student in eval mode, every weight copied from the teacher. ``neurons``: per teacher
    layer, the MLP neurons to keep (ascending); without it a narrower MLP keeps the leading ones."""
    import torch
    from transformers import AutoModelForCausalLM

    layers = check_layers(layers, layer_count(teacher.config))
    check_width(intermediate_size, mlp_width(teacher.config))
    config = student_config(teacher.config, layers, intermediate_size)
    student = AutoModelForCausalLM.from_config(config, attn_implementation=teacher.config._attn_implementation)
    teacher_state = teacher.state_dict()
    state = {}
    for key, tensor in student.state_dict().items():
        source = teacher_key(key, layers)
        if source not in teacher_state:
            raise ModelInputError(f"cannot initialise the student: the teacher has no weight {source!r}",
                                  hint="distillation supports llama, gpt2, qwen2, qwen3 and gemma3_text models")
        value = teacher_state[source]
        if value.shape != tensor.shape:
            axis = next((a for suffix, a in NEURON_AXES if source.endswith(suffix)), None)
            if axis is None:
                raise ModelInputError(f"cannot narrow the teacher weight {source!r} {tuple(value.shape)} to {tuple(tensor.shape)}",
                                      hint="leave intermediate_size out to keep the teacher's MLP width")
            layer = int(LAYER_KEY.match(source).group(2))
            keep = neurons[layer] if neurons is not None else list(range(tensor.shape[axis]))
            value = value.index_select(axis, torch.tensor(keep))
        state[key] = value.clone()
    student.load_state_dict(state)
    return student.eval()


def mlp_importance(teacher, windows: list[list[int]], layers: list[int], batch_size: int = 8) -> dict[int, "object"]:
    """Per teacher layer: mean |activation| of each MLP neuron (what enters the down projection)
    over the windows' tokens, times the L2 norm of that neuron's output weights."""
    import torch

    from mobilekit.llm.perplexity import pad_batch

    blocks = decoder_layers(teacher)
    downs = {layer: _down_projection(blocks[layer]) for layer in layers}
    totals = {layer: torch.zeros(mlp_width(teacher.config)) for layer in layers}
    holder, count, hooks = {}, 0, []
    for layer, down in downs.items():
        def record(module, args, layer=layer):
            totals[layer] += (args[0].abs() * holder["mask"]).sum((0, 1))
        hooks.append(down.register_forward_pre_hook(record))
    try:
        teacher.eval()
        with torch.no_grad():
            for start in range(0, len(windows), batch_size):
                ids, mask, _ = pad_batch([(w, w) for w in windows[start : start + batch_size]])
                holder["mask"] = mask.unsqueeze(-1).float()
                count += int(mask.sum())
                teacher(input_ids=ids, attention_mask=mask)
    finally:
        for hook in hooks:
            hook.remove()
    return {layer: totals[layer] / max(count, 1) * _output_norms(downs[layer]) for layer in layers}


def _down_projection(block):
    mlp = getattr(block, "mlp", None)
    for name in ("down_proj", "c_proj"):
        if hasattr(mlp, name):
            return getattr(mlp, name)
    raise ModelInputError("a narrower MLP needs a gate/up/down (llama, qwen, gemma) or c_fc/c_proj (gpt2) MLP",
                          hint="leave intermediate_size out to keep the teacher's MLP width")


def _output_norms(down):
    import torch

    return down.weight.norm(dim=0) if isinstance(down, torch.nn.Linear) else down.weight.norm(dim=1)  # Conv1D: [in, out]


def forward_tokens_per_second(model, *, length: int = TIMING_LENGTH, seconds: float = 1.0, min_calls: int = 3) -> float:
    """Tokens per second of one full forward pass over ``length`` tokens on one CPU thread (the
    same seeded input for every model with the same vocabulary), after one warm-up call."""
    import torch

    ids = torch.randint(model.config.vocab_size, (1, length), generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.eval()
        with torch.inference_mode():
            model(input_ids=ids, use_cache=False)  # warm-up: first-call allocations are not the model's speed
            calls, start = 0, time.perf_counter()
            while calls < min_calls or time.perf_counter() - start < seconds:
                model(input_ids=ids, use_cache=False)
                calls += 1
            elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return length * calls / elapsed


def check_distill_settings(*, temperature: float, epochs: int, batch_size: int, learning_rate: float, max_length: int) -> None:
    for name, value, ok, want in (
        ("temperature", temperature, temperature > 0, "above 0 (2.0 is common)"),
        ("epochs", epochs, epochs >= 1, "at least 1"),
        ("batch_size", batch_size, batch_size >= 1, "at least 1"),
        ("learning_rate", learning_rate, learning_rate > 0, "above 0 (1e-4 to 1e-3)"),
        ("max_length", max_length, max_length >= 2, "at least 2 tokens"),
    ):
        if not ok:
            raise ConfigError(f"distill {name} = {value} is out of range", hint=f"{name} must be {want}")


def text_splits(tokenizer, train_texts, validation_texts, max_length: int) -> tuple[list, list]:
    """Token windows of the training and validation texts, or a ModelInputError when there are none."""
    from mobilekit.llm.perplexity import text_windows

    parts = []
    for name, texts in (("training", train_texts), ("validation", validation_texts)):
        if not texts:
            raise ModelInputError(f"there is no {name} text to distill on",
                                  hint="give the stage text in the model's domain (a few thousand lines is typical)")
        windows = text_windows(tokenizer, list(texts), max_length)
        if not windows:
            raise ModelInputError(f"the {name} texts are all shorter than 2 tokens", hint="give it sentences or paragraphs, not single words")
        parts.append(windows)
    return parts[0], parts[1]


def distill_loss(student, teacher, windows: list[list[int]], temperature: float):
    """Mean over real tokens of T^2 * KL(teacher || student) between next-token distributions."""
    import torch

    from mobilekit.compress.distill import soft_target_loss
    from mobilekit.llm.perplexity import pad_batch

    ids, mask, _ = pad_batch([(w, w) for w in windows])
    with torch.no_grad():
        target = teacher(input_ids=ids, attention_mask=mask).logits.float()
    logits = student(input_ids=ids, attention_mask=mask).logits.float()
    per_token = soft_target_loss(logits, target, temperature)
    weights = mask.float()
    return (per_token * weights).sum() / weights.sum().clamp(min=1)


def distill_causal_lm(
    teacher_dir: Path,
    out_dir: Path,
    train_texts: list[str],
    validation_texts: list[str],
    *,
    layers: list[int] | None = None,
    intermediate_size: int | None = None,
    temperature: float = 2.0,
    epochs: int = 3,
    batch_size: int = 8,
    learning_rate: float = 5e-4,
    max_length: int = 256,
    seed: int = 0,
    log: logging.Logger,
    progress=None,
    timing_seconds: float = 1.0,
    trainer=None,
) -> DistillResult:
    """Distils the model in ``teacher_dir`` into a student written to ``out_dir`` (a complete
    folder). ``progress``: a mobilekit.progress.Progress (silent when None); ``timing_seconds``:
    how long each model's forward speed is measured; ``trainer``: a mobilekit.scale.dispatch.Trainer
    (processes, checkpoints), default this process."""
    from mobilekit.compress.folders import load_tokenizer, parameter_count, weights_bytes
    from mobilekit.llm.lora import check_out_dir, save_lm_folder
    from mobilekit.llm.model_folder import inspect_causal_lm, load_checked
    from mobilekit.llm.perplexity import perplexity

    started = time.monotonic()
    check_distill_settings(temperature=temperature, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                           max_length=max_length)
    teacher_dir, out_dir = Path(teacher_dir), Path(out_dir)
    check_out_dir(out_dir, teacher_dir)
    inspect_causal_lm(teacher_dir)
    train, validation = text_splits(load_tokenizer(teacher_dir), train_texts, validation_texts, max_length)
    teacher = load_checked(teacher_dir).requires_grad_(False)
    layers = check_layers(layers, layer_count(teacher.config))
    check_width(intermediate_size, mlp_width(teacher.config))
    student = _initial_student(teacher, layers, intermediate_size, train, batch_size, log)
    teacher_ppl = perplexity(teacher, validation, batch_size)
    settings = dict(temperature=temperature, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed)
    if trainer is not None:
        fitted = trainer.run(_train_student, student, teacher, train, validation, **settings)
    else:
        fitted = _train_student(student, teacher, train, validation, **settings, progress=progress, log=log)
    student_ppl = perplexity(student, validation, batch_size)
    save_lm_folder(student, out_dir, source_dir=teacher_dir)
    positions = getattr(teacher.config, "max_position_embeddings", None) or getattr(teacher.config, "n_positions", None)
    timing_length = min(max_length, TIMING_LENGTH, positions or TIMING_LENGTH)
    log.info("student (layers %s): validation perplexity %.3f vs the teacher's %.3f", layers, student_ppl, teacher_ppl)
    return DistillResult(
        out_dir=out_dir, layers=layers, intermediate_size=mlp_width(student.config), teacher_perplexity=teacher_ppl,
        student_perplexity=student_ppl, retention=teacher_ppl / student_ppl, teacher_parameters=parameter_count(teacher),
        student_parameters=parameter_count(student), teacher_safetensors_bytes=weights_bytes(teacher_dir),
        student_safetensors_bytes=weights_bytes(out_dir),
        teacher_tokens_per_second=forward_tokens_per_second(teacher, length=timing_length, seconds=timing_seconds),
        student_tokens_per_second=forward_tokens_per_second(student, length=timing_length, seconds=timing_seconds),
        best_epoch=fitted.best_epoch, epochs_run=len(fitted.history), history=fitted.history,
        train_windows=len(train), validation_windows=len(validation), seconds=time.monotonic() - started,
    )


def _initial_student(teacher, layers, intermediate_size, train, batch_size, log):
    from mobilekit.compress.student import choose_neurons

    neurons = None
    if intermediate_size is not None:
        log.info("ranking the teacher's MLP neurons on %d training windows", min(len(train), IMPORTANCE_WINDOWS))
        importance = mlp_importance(teacher, train[:IMPORTANCE_WINDOWS], layers, batch_size)
        neurons = choose_neurons(importance, intermediate_size)
    return build_student(teacher, layers, intermediate_size=intermediate_size, neurons=neurons)


def _train_student(student, teacher, train, validation, *, temperature, epochs, batch_size, learning_rate, seed, progress, log,
                   runtime=None):
    import torch

    from mobilekit.llm.lora import fit
    from mobilekit.llm.perplexity import mean_nll
    from mobilekit.progress import SilentProgress

    torch.manual_seed(seed)  # dropout masks
    return fit(student, n=len(train), step_loss=lambda indices: distill_loss(student, teacher, [train[i] for i in indices], temperature),
               validation_loss=lambda: mean_nll(student, validation, batch_size), epochs=epochs, batch_size=batch_size,
               learning_rate=learning_rate, patience=None, seed=seed, progress=progress or SilentProgress(),
               label="distilling", log=log, lengths=[len(w) for w in train], item_weights=[len(w) for w in train],
               runtime=runtime)
