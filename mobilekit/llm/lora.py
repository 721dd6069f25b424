"""LoRA fine-tuning of a causal LM on chat data, merged back into a plain Hugging Face folder.

The loss is the next-token cross-entropy on the assistant's tokens only (``chat_data`` builds the
labels), token-weighted. Low-rank adapters (Hu et al. 2021) go on every linear layer of the
decoder by default (the output head excluded: it is usually tied to the embeddings), training
runs AdamW with linear warm-up and decay, stops early when the validation loss stops improving,
and keeps the best epoch's adapters. They are then merged into the weights (W + B A * alpha / r),
so the folder written is an ordinary checkpoint that loads without peft and that `export`
converts like any other.

``fit`` (the epoch loop) and ``save_lm_folder`` are shared with ``distill_lm``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from mobilekit.errors import ConfigError, ModelInputError

# What a causal-LM folder holds besides config, weights and the files compress.folders copies.
LM_FILES = ("chat_template.jinja", "chat_template.json", "generation_config.json", "tokenizer.model",
            "vocab.json", "merges.txt", "added_tokens.json")
# Left over from an earlier run they would shadow or add to the new weights (an adapter_config.json
# makes from_pretrained apply the adapter again).
STALE_FILES = ("model.safetensors.index.json", "pytorch_model.bin", "adapter_config.json", "adapter_model.safetensors")
MIN_EXAMPLES = 3  # one each to train, validate and test on


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, validation_loss, validation_perplexity
    best_epoch: int = 0
    stopped_early: bool = False


@dataclass
class LoraResult:
    out_dir: Path
    perplexity_before: float  # validation split, assistant tokens
    perplexity_after: float
    test_perplexity_before: float | None  # None without a test split
    test_perplexity_after: float | None
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    history: list[dict]
    trainable_parameters: int
    total_parameters: int  # of the model itself (the merged folder), adapters not counted
    target_modules: list[str]
    train_examples: int
    validation_examples: int
    test_examples: int
    truncated_examples: int
    seconds: float

    def to_dict(self) -> dict:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        return {k: round(v, 5) if isinstance(v, float) else v for k, v in data.items()}


def linear_layer_names(model) -> list[str]:
    """Leaf names of the layers LoRA can adapt: nn.Linear and GPT-2's Conv1D, the output head excluded."""
    return sorted({name.rsplit(".", 1)[-1] for name, _ in _adaptable(model)})


def _adaptable(model) -> list[tuple[str, object]]:
    import torch
    from transformers.pytorch_utils import Conv1D

    head = model.get_output_embeddings()
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, (torch.nn.Linear, Conv1D)) and module is not head and not name.endswith("lm_head")]


def check_target_modules(model, target_modules: list[str] | None) -> list[str]:
    available = linear_layer_names(model)
    if target_modules is None:
        return available
    hint = f"pick from {', '.join(available)}, or leave target_modules out to adapt all of them"
    if not target_modules:
        raise ConfigError("the LoRA target module list is empty", hint=hint)
    unknown = [name for name in target_modules if name not in available]
    if unknown:
        raise ConfigError(f"LoRA target module {unknown[0]!r} is not a linear layer of this {model.config.model_type} model "
                          "(the output head is never adapted)", hint=hint)
    return list(target_modules)


def attach_lora(model, *, rank: int, alpha: float, dropout: float, target_modules: list[str] | None, seed: int):
    """``model`` wrapped by peft with fresh adapters (A random with ``seed``, B zero: no change yet)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers.pytorch_utils import Conv1D

    targets = check_target_modules(model, target_modules)
    wanted = set(targets)
    modules = [m for name, m in _adaptable(model) if name.rsplit(".", 1)[-1] in wanted]
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none",
                        task_type="CAUSAL_LM",
                        fan_in_fan_out=all(isinstance(m, Conv1D) for m in modules))  # Conv1D stores W transposed
    torch.manual_seed(seed)
    with warnings.catch_warnings():  # peft calls transformers 5's deprecated is_gradient_checkpointing
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(model, config)


def fit(model, *, n: int, step_loss: Callable[[list[int]], "object"], validation_loss: Callable[[], float],
        epochs: int, batch_size: int, learning_rate: float, patience: int | None, seed: int, progress,
        label: str, log: logging.Logger, lengths: list[int] | None = None, item_weights: list[int] | None = None,
        runtime=None) -> FitResult:
    """``compress.training.train`` (the loop the encoders use) scored by validation loss, lower is
    better: the best epoch's trained parameters are restored, a frozen base model is not copied.
    ``item_weights``: tokens each item's loss averages over; ``runtime``: ranks and checkpoints."""
    from mobilekit.compress.training import train

    trained = train(model, n=n, step_loss=step_loss, validate=lambda: -validation_loss(), epochs=epochs,
                    batch_size=batch_size, learning_rate=learning_rate, patience=patience, seed=seed,
                    progress=progress, label=label, log=log, lengths=lengths, weight_decay=0.0,
                    item_weights=item_weights, runtime=runtime)
    history = [{"epoch": r["epoch"], "train_loss": r["train_loss"], "validation_loss": -r["validation"],
                "validation_perplexity": math.exp(min(-r["validation"], 700.0))} for r in trained.history]
    for record in history:
        log.info("%s epoch %d: validation loss %.4f (perplexity %.3f)", label, record["epoch"],
                 record["validation_loss"], record["validation_perplexity"])
    return FitResult(history=history, best_epoch=trained.best_epoch, stopped_early=trained.stopped_early)


def check_out_dir(out_dir: Path, source_dir: Path) -> None:
    if Path(out_dir).resolve() == Path(source_dir).resolve():
        raise ConfigError(f"the output folder {out_dir} is the model folder itself",
                          hint="write the new model to another folder; the original stays untouched")


def save_lm_folder(model, out_dir: Path, *, source_dir: Path) -> Path:
    """A complete causal-LM folder: save_pretrained (safetensors, no quantization_config) plus the
    tokenizer, chat template and generation config of ``source_dir`` copied verbatim."""
    from mobilekit.compress.folders import copy_files, save_model_folder

    out_dir = Path(out_dir)
    check_out_dir(out_dir, source_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*STALE_FILES, *(p.name for p in out_dir.glob("*.safetensors"))]:
        (out_dir / stale).unlink(missing_ok=True)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config  # the weights written are plain float tensors
    save_model_folder(model, out_dir, tokenizer_from=Path(source_dir), task="text-generation")
    copy_files(Path(source_dir), out_dir, LM_FILES)
    config_path = out_dir / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.pop("quantization_config", None) is not None:
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out_dir


def check_settings(**values) -> None:
    """ConfigError for a value no training run can use."""
    rules = {
        "rank": (lambda v: v >= 1, "at least 1 (8 or 16 are common)"),
        "alpha": (lambda v: v > 0, "above 0 (often twice the rank)"),
        "dropout": (lambda v: 0 <= v < 1, "between 0 and 1 (0.05 is common)"),
        "epochs": (lambda v: v >= 1, "at least 1"),
        "batch_size": (lambda v: v >= 1, "at least 1"),
        "learning_rate": (lambda v: v > 0, "above 0 (1e-4 to 1e-3 for LoRA)"),
        "max_length": (lambda v: v >= 2, "at least 2 tokens"),
        "validation_fraction": (lambda v: 0 < v < 1, "between 0 and 1 (early stopping needs a validation split)"),
        "test_fraction": (lambda v: 0 <= v < 1, "between 0 and 1"),
        "patience": (lambda v: v is None or v >= 1, "at least 1"),
        "max_train_samples": (lambda v: v is None or v >= 1, "at least 1"),
    }
    for name, value in values.items():
        ok, want = rules[name]
        if not ok(value):
            raise ConfigError(f"{name} = {value} is out of range", hint=f"{name} must be {want}")
    if values.get("validation_fraction", 0) + values.get("test_fraction", 0) >= 1:
        raise ConfigError("validation_fraction + test_fraction leave nothing to train on",
                          hint="keep their sum below 1, e.g. 0.1 and 0.1")


def prepare_chat_splits(model_dir: Path, data_path: Path, *, max_length: int, validation_fraction: float,
                        test_fraction: float, seed: int, max_train_samples: int | None, log: logging.Logger):
    """(tokenizer, train, validation, test, truncated count) of the chat file, encoded."""
    from mobilekit.llm.chat_data import load_chat_examples, load_chat_tokenizer, split
    from mobilekit.llm.model_folder import inspect_causal_lm

    inspect_causal_lm(model_dir)
    tokenizer = load_chat_tokenizer(model_dir)
    examples = load_chat_examples(data_path, tokenizer, max_length)
    truncated = sum(e.truncated for e in examples)
    usable = [e for e in examples if e.supervised_tokens]
    if truncated:
        log.warning("%d of %d conversations are longer than max_length = %d tokens and were cut%s", truncated,
                    len(examples), max_length, f"; {len(examples) - len(usable)} lost every assistant token and are skipped"
                    if len(usable) < len(examples) else "")
    if len(usable) < MIN_EXAMPLES:
        raise ModelInputError(f"{data_path} has {len(usable)} usable conversation(s); LoRA fine-tuning needs at least {MIN_EXAMPLES}",
                              hint="add conversations (a few hundred is typical), or raise max_length if replies were cut off")
    train, validation, test = split(usable, validation_fraction, test_fraction, seed)
    if max_train_samples is not None and len(train) > max_train_samples:
        keep = sorted(random.Random(seed).sample(range(len(train)), max_train_samples))
        train = [train[i] for i in keep]
    return tokenizer, train, validation, test, truncated


def finetune_lora(
    model_dir: Path,
    out_dir: Path,
    data_path: Path,
    *,
    rank: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.05,
    target_modules: list[str] | None = None,
    epochs: int = 3,
    batch_size: int = 8,
    learning_rate: float = 2e-4,
    patience: int | None = 1,
    max_train_samples: int | None = None,
    max_length: int = 512,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    log: logging.Logger,
    progress=None,
    adapter_dir: Path | None = None,
    trainer=None,
) -> LoraResult:
    """Fine-tunes the model in ``model_dir`` on the chat JSONL ``data_path`` and writes the merged
    model to ``out_dir``. ``progress``: a mobilekit.progress.Progress (silent when None).
    ``adapter_dir``: also save the best adapter there (peft format; never inside ``out_dir``).
    ``trainer``: a mobilekit.scale.dispatch.Trainer (processes, checkpoints); default this process."""
    from mobilekit.llm.model_folder import load_checked
    from mobilekit.llm.perplexity import perplexity

    started = time.monotonic()
    check_settings(rank=rank, alpha=alpha, dropout=dropout, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                   max_length=max_length, validation_fraction=validation_fraction, test_fraction=test_fraction,
                   patience=patience, max_train_samples=max_train_samples)
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    check_out_dir(out_dir, model_dir)
    if adapter_dir is not None and Path(adapter_dir).resolve() == out_dir.resolve():
        raise ConfigError("adapter_dir must not be the output folder",
                          hint="from_pretrained would apply the adapter a second time on top of the merged weights")
    _, train, validation, test, truncated = prepare_chat_splits(
        model_dir, Path(data_path), max_length=max_length, validation_fraction=validation_fraction,
        test_fraction=test_fraction, seed=seed, max_train_samples=max_train_samples, log=log)
    log.info("LoRA fine-tuning on %d conversations (%d validation, %d test)", len(train), len(validation), len(test))
    model = load_checked(model_dir)
    before = perplexity(model, validation, batch_size)
    test_before = perplexity(model, test, batch_size) if test else None
    targets = check_target_modules(model, target_modules)
    parameters = sum(p.numel() for p in model.parameters())
    peft_model = attach_lora(model, rank=rank, alpha=alpha, dropout=dropout, target_modules=targets, seed=seed)
    settings = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience, seed=seed)
    if trainer is not None:
        fitted = trainer.run(_train_adapters, peft_model, train, validation, **settings)
    else:
        fitted = _train_adapters(peft_model, train, validation, **settings, progress=progress, log=log)
    after = perplexity(peft_model, validation, batch_size)
    test_after = perplexity(peft_model, test, batch_size) if test else None
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    if adapter_dir is not None:
        peft_model.save_pretrained(str(adapter_dir))
    save_lm_folder(peft_model.merge_and_unload().eval(), out_dir, source_dir=model_dir)
    log.info("validation perplexity %.3f -> %.3f (best epoch %d); merged model in %s", before, after, fitted.best_epoch, out_dir)
    return LoraResult(
        out_dir=out_dir, perplexity_before=before, perplexity_after=after, test_perplexity_before=test_before,
        test_perplexity_after=test_after, epochs_run=len(fitted.history), best_epoch=fitted.best_epoch,
        stopped_early=fitted.stopped_early, history=fitted.history, trainable_parameters=trainable,
        total_parameters=parameters, target_modules=targets, train_examples=len(train),
        validation_examples=len(validation), test_examples=len(test), truncated_examples=truncated,
        seconds=time.monotonic() - started,
    )


def _train_adapters(peft_model, train, validation, *, epochs, batch_size, learning_rate, patience, seed, progress, log,
                    runtime=None) -> FitResult:
    """``fit`` with the assistant-token loss of the chat examples."""
    import torch

    from mobilekit.llm.perplexity import mean_nll, pad_batch, token_nll
    from mobilekit.progress import SilentProgress

    def step_loss(indices):
        nll, count = token_nll(peft_model, *pad_batch([(train[i].input_ids, train[i].labels) for i in indices]))
        return nll / max(count, 1)

    torch.manual_seed(seed)  # dropout masks
    return fit(peft_model, n=len(train), step_loss=step_loss, validation_loss=lambda: mean_nll(peft_model, validation, batch_size),
               epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience, seed=seed,
               progress=progress or SilentProgress(), label="LoRA fine-tuning", log=log,
               lengths=[len(e.input_ids) for e in train], item_weights=[e.supervised_tokens for e in train], runtime=runtime)
