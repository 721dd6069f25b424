"""Small things the compression tests share: data files, deeper tiny teachers, projects."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.conftest import write_toml
from tests.tiny_models import make_tiny_bert, sentiment_samples

NAMES = ["negative", "positive"]


def write_sentiment_csv(path: Path, n: int, *, seed: int = 0, names=NAMES) -> Path:
    texts, labels = sentiment_samples(n, seed=seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((text, names[label]) for text, label in zip(texts, labels))
    return path


def make_deep_tiny_classifier(folder: Path, *, layers: int = 4, seed: int = 0) -> Path:
    """The tiny BERT of tests.tiny_models with more layers (random weights, seeded)."""
    import torch
    from transformers import AutoConfig, BertForSequenceClassification

    make_tiny_bert(folder, labels=NAMES, seed=seed)
    config = AutoConfig.from_pretrained(folder)
    config.num_hidden_layers = layers
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def make_multihead_tiny(folder: Path, *, task: str = "text-classification", heads: int = 4, layers: int = 2,
                        architecture: str = "bert", seed: int = 0) -> Path:
    """The tiny model of tests.tiny_models with ``heads`` heads per layer (hidden 32: heads of
    32 / heads) and ``layers`` layers, random weights (seeded): room to prune heads."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    make_tiny_bert(folder, task=task, labels=NAMES if task == "text-classification" else None, seed=seed,
                   architecture=architecture)
    config = AutoConfig.from_pretrained(folder)
    config.num_attention_heads, config.num_hidden_layers = heads, layers
    torch.manual_seed(seed)
    cls = AutoModelForSequenceClassification if task == "text-classification" else AutoModel
    cls.from_config(config).save_pretrained(folder)
    return folder


def write_project(root: Path, **sections) -> Path:
    base = {"project": {"name": "Tiny sentiment"}, "model": {"path": "model", "task": "text-classification", "sequence_length": 16}}
    for section, table in sections.items():
        base.setdefault(section, {}).update(table)
    return write_toml(root / "mobilekit.toml", base)
