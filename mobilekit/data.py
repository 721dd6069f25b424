"""Task text: reading CSV / TSV / JSONL rows and splitting them reproducibly.

Every problem (empty file, missing column, non-UTF-8 bytes, a label the model does not know)
raises ``ModelInputError`` naming the file, the line and the fix.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

from mobilekit.errors import ModelInputError

FORMATS_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "text"}


@dataclass(frozen=True)
class Example:
    text: str
    label: str | None = None


@dataclass(frozen=True)
class Splits:
    train: list[Example]
    validation: list[Example]
    test: list[Example]


def detect_format(path: Path, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    fmt = FORMATS_BY_SUFFIX.get(Path(path).suffix.lower())
    if fmt is None:
        raise ModelInputError(
            f"cannot tell the format of {path} from its extension",
            hint="name it .csv, .tsv or .jsonl, or set data.format",
        )
    return fmt


def read_examples(path: Path, *, fmt: str = "auto", text_column: str = "text", label_column: str | None = "label") -> list[Example]:
    """Reads every row; ``label_column=None`` reads text only (labels absent or ignored)."""
    path = Path(path)
    fmt = detect_format(path, fmt)
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise ModelInputError(
            f"{path} is not UTF-8 text (invalid byte 0x{path.read_bytes()[e.start]:02x} on line {line})",
            hint="re-save it as UTF-8 (for example: iconv -f latin1 -t utf-8 in > out)",
        ) from e
    if not content.strip():
        raise ModelInputError(f"{path} is empty", hint="it needs at least one row of text")
    if fmt == "text":
        return [Example(line.strip()) for line in content.splitlines() if line.strip()]
    if fmt == "jsonl":
        rows = _jsonl_rows(path, content)
    else:
        rows = _delimited_rows(path, content, "," if fmt == "csv" else "\t")
    examples = []
    for line, row in rows:
        if text_column not in row:
            raise ModelInputError(
                f"{path}: line {line} has no column {text_column!r} (columns: {', '.join(map(str, row))})",
                hint="set data.text_column to the column that holds the text",
            )
        label = None
        if label_column is not None:
            if label_column not in row:
                raise ModelInputError(
                    f"{path}: line {line} has no column {label_column!r} (columns: {', '.join(map(str, row))})",
                    hint="set data.label_column to the column that holds the label",
                )
            label = str(row[label_column]).strip()
        text = row[text_column]
        if not isinstance(text, str):
            raise ModelInputError(f"{path}: line {line}: {text_column!r} is {type(text).__name__}, not text")
        examples.append(Example(text, label))
    if not examples:
        raise ModelInputError(f"{path} has a header but no rows", hint="add data rows below the header")
    return examples


def split(examples: list[Example], *, validation_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Shuffles with ``seed`` and cuts test, then validation, off the front (the same every run)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    shuffled = [examples[i] for i in order]
    n_test = int(round(len(shuffled) * test_fraction))
    n_val = int(round(len(shuffled) * validation_fraction))
    return Splits(
        test=shuffled[:n_test],
        validation=shuffled[n_test : n_test + n_val],
        train=shuffled[n_test + n_val :],
    )


def check_labels(examples: list[Example], known: list[str], path: Path) -> None:
    unknown = sorted({e.label for e in examples if e.label not in known})
    if unknown:
        raise ModelInputError(
            f"{path} has labels the model does not know: {', '.join(map(repr, unknown[:5]))}",
            hint=f"the model's labels are {', '.join(map(repr, known))}; set model.labels or fix the data",
        )


def _jsonl_rows(path: Path, content: str):
    rows = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ModelInputError(f"{path}: line {number} is not valid JSON ({e.msg})", hint="each line must be one JSON object") from e
        if not isinstance(row, dict):
            raise ModelInputError(f"{path}: line {number} is a JSON {type(row).__name__}, not an object")
        rows.append((number, row))
    return rows


def _delimited_rows(path: Path, content: str, delimiter: str):
    reader = csv.DictReader(content.splitlines(), delimiter=delimiter)
    if not reader.fieldnames:
        raise ModelInputError(f"{path} has no header row", hint="the first line must name the columns, e.g. text,label")
    rows = []
    try:
        for row in reader:
            if None in row:
                raise ModelInputError(
                    f"{path}: line {reader.line_num} has more fields than the header",
                    hint="quote text that contains the delimiter",
                )
            rows.append((reader.line_num, row))
    except csv.Error as e:
        raise ModelInputError(f"{path}: line {reader.line_num}: {e}") from e
    return rows
