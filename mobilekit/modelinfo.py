"""What the rest of the pipeline needs to know about the model being shipped."""

from __future__ import annotations

from pathlib import Path

from mobilekit.config import Config
from mobilekit.errors import ConfigError


def label_names(config: Config, model_dir: Path) -> list[str] | None:
    """The class names in output order: model.labels, else the model's id2label; None for encoders."""
    from mobilekit.encoder_folder import inspect_model_folder

    if config.model.task != "text-classification":
        return None
    info = inspect_model_folder(model_dir)
    if config.model.labels is not None:
        if info.num_labels is not None and len(config.model.labels) != info.num_labels:
            raise ConfigError(
                f"model.labels has {len(config.model.labels)} names but the model has {info.num_labels} outputs",
                hint="list exactly one name per output, in output order",
            )
        return list(config.model.labels)
    if info.id2label is None:
        raise ConfigError("the model has no id2label and model.labels is not set", hint="set model.labels in mobilekit.toml")
    return [info.id2label[i] for i in range(len(info.id2label))]


def describe_model(config: Config, model_dir: Path) -> dict:
    """Task, labels, sequence length and tokenizer settings: travels with every model variant."""
    from mobilekit.encoder_folder import inspect_model_folder

    info = inspect_model_folder(model_dir)
    return {
        "task": config.model.task,
        "labels": label_names(config, model_dir),
        "sequence_length": config.model.sequence_length,
        "pooling": config.model.pooling if config.model.task == "sentence-embedding" else None,
        "normalize": config.model.normalize if config.model.task == "sentence-embedding" else None,
        "model_type": info.model_type,
        "hidden_size": info.hidden_size,
        "tokenizer": tokenizer_settings(model_dir),
    }


def tokenizer_settings(model_dir: Path) -> dict:
    """The WordPiece settings the on-device tokenizers must reproduce, as the folder declares them."""
    import json

    settings = {"do_lower_case": True, "strip_accents": None, "tokenize_chinese_chars": True, "unk_token": "[UNK]",
                "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "max_input_chars_per_word": 100}
    config_file = Path(model_dir) / "tokenizer_config.json"
    if config_file.is_file():
        declared = json.loads(config_file.read_text(encoding="utf-8"))
        for key in settings:
            if key in declared and not isinstance(declared[key], dict):
                settings[key] = declared[key]
    tokenizer_file = Path(model_dir) / "tokenizer.json"
    if tokenizer_file.is_file():
        normalizer = json.loads(tokenizer_file.read_text(encoding="utf-8")).get("normalizer") or {}
        if normalizer.get("type") == "BertNormalizer":
            settings["do_lower_case"] = normalizer.get("lowercase", settings["do_lower_case"])
            settings["strip_accents"] = normalizer.get("strip_accents", settings["strip_accents"])
            settings["tokenize_chinese_chars"] = normalizer.get("handle_chinese_chars", settings["tokenize_chinese_chars"])
    return settings
