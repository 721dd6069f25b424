"""What a BERT-family encoder folder is, and whether mobilekit can take it: the architectures it
knows, the files a folder needs, its inputs, labels and length limits, and the sentence-transformers
pooling it declares. Knowledge only: the exporters and the SDK builders read it, nothing here
converts anything."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mobilekit.errors import ModelInputError
from mobilekit.weights import check_safetensors_files

TASKS = ("text-classification", "sentence-embedding")
POOLINGS = ("mean", "cls")
ALL_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
MIN_SEQUENCE_LENGTH = 2  # [CLS] and [SEP]


@dataclass(frozen=True)
class ArchitectureSpec:
    """What the exporter needs to know about one ``config.json`` ``model_type``."""

    MODEL_TYPE: str
    USES_TOKEN_TYPE_IDS: bool
    # Name of the config field holding the position-table size.
    MAX_POSITIONS_FIELD: str = "max_position_embeddings"


# Only architectures covered by tests are listed; adding one means adding a tiny model test.
ARCHITECTURES: dict[str, ArchitectureSpec] = {
    "bert": ArchitectureSpec("bert", USES_TOKEN_TYPE_IDS=True),
    "distilbert": ArchitectureSpec("distilbert", USES_TOKEN_TYPE_IDS=False),
}

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


@dataclass(frozen=True)
class ModelFolderInfo:
    """What ``inspect_model_folder`` learned from config.json."""

    model_type: str
    architecture: ArchitectureSpec
    max_positions: int
    hidden_size: int
    num_labels: int | None
    id2label: dict[int, str] | None

    @property
    def input_names(self) -> list[str]:
        return [n for n in ALL_INPUT_NAMES if n != "token_type_ids" or self.architecture.USES_TOKEN_TYPE_IDS]


def output_name_for(task: str) -> str:
    return "logits" if task == "text-classification" else "embedding"


def _check_task(task: str, pooling: str) -> None:
    if task not in TASKS:
        raise ModelInputError(f"unknown task {task!r}", hint=f"use one of: {', '.join(TASKS)}")
    if pooling not in POOLINGS:
        raise ModelInputError(f"unknown pooling {pooling!r}", hint=f"use one of: {', '.join(POOLINGS)}")


def inspect_model_folder(model_dir: Path) -> ModelFolderInfo:
    """Check that ``model_dir`` is a usable Hugging Face folder; raise ModelInputError if not."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelInputError(f"model folder {model_dir} does not exist",
                              hint="point the config at a folder written by save_pretrained()")
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise ModelInputError(f"{model_dir} has no config.json",
                              hint="point the config at a folder written by save_pretrained()")
    if not any((model_dir / f).is_file() for f in WEIGHT_FILES):
        raise ModelInputError(
            f"{model_dir} has no model weights (looked for {', '.join(WEIGHT_FILES)})",
            hint="save the model with model.save_pretrained(folder), or download the full repository",
        )
    check_safetensors_files(model_dir)
    if not any((model_dir / f).is_file() for f in TOKENIZER_FILES):
        raise ModelInputError(
            f"{model_dir} has no tokenizer files (looked for {', '.join(TOKENIZER_FILES)})",
            hint="save the tokenizer next to the model with tokenizer.save_pretrained(folder)",
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelInputError(f"{config_path} is not valid JSON: {e}") from e
    model_type = config.get("model_type")
    if model_type not in ARCHITECTURES:
        raise ModelInputError(
            f"unsupported architecture {model_type!r} in {config_path}",
            hint=f"supported model_type values: {', '.join(sorted(ARCHITECTURES))}",
        )
    arch = ARCHITECTURES[model_type]
    id2label = config.get("id2label")
    id2label = {int(k): v for k, v in id2label.items()} if isinstance(id2label, dict) else None
    return ModelFolderInfo(
        model_type=model_type,
        architecture=arch,
        max_positions=int(config.get(arch.MAX_POSITIONS_FIELD, 512)),
        hidden_size=int(config.get("hidden_size", config.get("dim", 0))),
        num_labels=len(id2label) if id2label else None,
        id2label=id2label,
    )


def _check_sequence_length(info: ModelFolderInfo, sequence_length: int) -> None:
    if not isinstance(sequence_length, int) or sequence_length < MIN_SEQUENCE_LENGTH:
        raise ModelInputError(
            f"sequence_length must be an integer >= {MIN_SEQUENCE_LENGTH} (got {sequence_length!r})",
            hint="[CLS] and [SEP] alone take two positions",
        )
    if sequence_length > info.max_positions:
        raise ModelInputError(
            f"sequence_length {sequence_length} is longer than the model's position table "
            f"(max_position_embeddings = {info.max_positions})",
            hint=f"use a sequence_length of at most {info.max_positions}",
        )


def check_model_for_task(model_dir: Path, *, task: str, pooling: str, sequence_length: int) -> ModelFolderInfo:
    """Every converter's entry check: a usable folder, a known task, a length the model can take,
    and a classification head when the task is classification."""
    _check_task(task, pooling)
    info = inspect_model_folder(model_dir)
    _check_sequence_length(info, sequence_length)
    if task == "text-classification" and not info.num_labels:
        raise ModelInputError(f"{model_dir}/config.json has no id2label, so it is not a classifier",
                              hint="use task 'sentence-embedding' for encoders without a head")
    return info


def detect_embedding_settings(model_dir: Path) -> tuple[str, bool] | None:
    """(pooling, normalize) from sentence-transformers files, or None when the folder has none."""
    model_dir = Path(model_dir)
    modules_path = model_dir / "modules.json"
    if not modules_path.is_file():
        return None
    modules = json.loads(modules_path.read_text(encoding="utf-8"))
    normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
    pooling = "mean"
    for m in modules:
        if m.get("type", "").endswith("Pooling"):
            cfg_path = model_dir / m.get("path", "1_Pooling") / "config.json"
            if cfg_path.is_file():
                cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
                if cfg.get("pooling_mode_cls_token"):
                    pooling = "cls"
                elif not cfg.get("pooling_mode_mean_tokens", True):
                    raise ModelInputError(
                        f"{cfg_path} asks for a pooling mode mobilekit does not implement",
                        hint="supported: pooling_mode_mean_tokens, pooling_mode_cls_token",
                    )
    return pooling, normalize
