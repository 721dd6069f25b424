"""The text a compression stage learns from: labelled splits plus optional unlabelled text.

The labelled file is split exactly as every other stage splits it (``mobilekit.data.split`` with
data.seed), so the test split the student is evaluated on is the one `verify` later uses.
Unlabelled transfer text only ever joins the training part.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from mobilekit.config import Config
from mobilekit.data import Example, check_labels, read_examples, split
from mobilekit.errors import ModelInputError


@dataclass(frozen=True)
class Corpus:
    train: list[Example]  # label None for unlabelled text
    validation: list[Example]
    test: list[Example]
    source: str  # what the test split is, for the metrics

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "train_labelled": sum(e.label is not None for e in self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }


def load_corpus(config: Config, *, data: Path | None, unlabelled: Path | None, labelled: bool, max_train: int | None) -> Corpus:
    """Splits the task text; ``labelled`` reads the label column of ``data`` (classification)."""
    d = config.data
    parts = None
    source = None
    if data is not None:
        examples = read_examples(data, fmt=d.format, text_column=d.text_column, label_column=d.label_column if labelled else None)
        parts = split(examples, validation_fraction=d.validation_fraction, test_fraction=d.test_fraction, seed=d.seed)
        source = data.name
    extra: list[Example] = []
    if unlabelled is not None:
        extra = read_examples(unlabelled, fmt="text")
        if parts is None:
            # Only unlabelled text: hold out validation and test parts of it, as for a data file.
            parts = split(extra, validation_fraction=d.validation_fraction, test_fraction=d.test_fraction, seed=d.seed)
            source, extra = unlabelled.name, []
    if parts is None:
        raise ModelInputError("there is no text to learn from", hint="set data.path or data.unlabelled_path")
    train = list(parts.train) + extra
    if extra or max_train is not None:
        random.Random(d.seed).shuffle(train)
    if max_train is not None:
        train = train[:max_train]
    if not train:
        raise ModelInputError(
            f"the training split of {source} is empty",
            hint="add rows, or lower data.validation_fraction and data.test_fraction",
        )
    return Corpus(train=train, validation=list(parts.validation), test=list(parts.test), source=f"test split of {source}")


def labels_for_finetuning(config: Config, corpus: Corpus, model_id2label: dict[int, str] | None, path: Path) -> list[str]:
    """Class names in output order: model.labels, else the model's own names when the data uses
    them, else the data's labels sorted (so the order does not depend on row order)."""
    seen = sorted({e.label for part in (corpus.train, corpus.validation, corpus.test) for e in part if e.label is not None})
    if config.model.labels is not None:
        names = list(config.model.labels)
    elif model_id2label and not _generic(model_id2label) and set(seen) <= set(model_id2label.values()):
        names = [model_id2label[i] for i in sorted(model_id2label)]
    else:
        names = seen
    check_labels([e for part in (corpus.train, corpus.validation, corpus.test) for e in part if e.label is not None], names, path)
    if len(names) < 2:
        raise ModelInputError(f"{path} has only one label ({names[0]!r})" if names else f"{path} has no labels",
                              hint="a classifier needs examples of at least two classes")
    return names


def label_ids(examples: list[Example], names: list[str], path: Path) -> list[int | None]:
    """Class index per example (None for unlabelled ones): by name, or the index itself ("0", "1")."""
    from mobilekit.samples import label_indices

    labelled = [e.label for e in examples if e.label is not None]
    mapped = iter(label_indices(labelled, names, path)) if labelled else iter(())
    return [next(mapped) if e.label is not None else None for e in examples]


def _generic(id2label: dict[int, str]) -> bool:
    return all(name == f"LABEL_{i}" for i, name in id2label.items())
