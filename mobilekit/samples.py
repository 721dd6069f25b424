"""The texts (and labels, when known) that calibration and verification run on.

In order of preference: the test split of [data], then verify.texts_path, then a small built-in
corpus of varied sentences (accents, CJK, emoji, long text) so parity is always checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mobilekit.config import Config
from mobilekit.data import check_labels, read_examples, split


@dataclass(frozen=True)
class Samples:
    texts: list[str]
    labels: list[int] | None  # class indices, when the task is classification and the data is labelled
    source: str  # where they came from, for the report


def builtin_texts() -> list[str]:
    text = resources.files("mobilekit.resources").joinpath("sample_texts.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def load_samples(config: Config, inputs: dict[str, Path], *, limit: int, label_names: list[str] | None, split_name: str = "test") -> Samples:
    data = config.data
    if "data" in inputs:
        classify = config.model.task == "text-classification"
        examples = read_examples(inputs["data"], fmt=data.format, text_column=data.text_column,
                                 label_column=data.label_column if classify else None)
        parts = split(examples, validation_fraction=data.validation_fraction, test_fraction=data.test_fraction, seed=data.seed)
        chosen = getattr(parts, split_name) or examples
        chosen = chosen[:limit]
        labels = None
        if classify and label_names:
            labels = label_indices([e.label for e in chosen], label_names, inputs["data"])
        return Samples([e.text for e in chosen], labels, f"{split_name} split of {inputs['data'].name}")
    if "verify_texts" in inputs:
        examples = read_examples(inputs["verify_texts"], fmt="text")
        return Samples([e.text for e in examples[:limit]], None, inputs["verify_texts"].name)
    return Samples(builtin_texts()[:limit], None, "mobilekit's built-in sample sentences")


def label_indices(labels: list[str], label_names: list[str], path: Path) -> list[int]:
    """Maps data labels to class indices: by name, or as the index itself ("0", "1", ...)."""
    if all(label in label_names for label in labels):
        return [label_names.index(label) for label in labels]
    if all(label.lstrip("-").isdigit() and 0 <= int(label) < len(label_names) for label in labels):
        return [int(label) for label in labels]
    from mobilekit.data import Example

    check_labels([Example("", label) for label in labels], label_names, path)
    raise AssertionError("unreachable")
