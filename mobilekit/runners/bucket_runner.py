"""Run a length-bucketed TFLite model the way the SDKs do: each text in the smallest bucket that holds it.

Inputs come tokenized to the full ``sequence_length`` (right padding, as every encoder tokenizer
mobilekit supports pads); a row whose ``attention_mask`` counts ``n`` tokens runs in
``bucket_for(n, buckets)``, cut to that length. Cutting a right-padded row to a length that holds
all its tokens gives exactly what the tokenizer would give padded to that length, so no second
tokenization is needed (``cut`` checks that only padding is cut off).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mobilekit.buckets import bucket_for, signature_name
from mobilekit.errors import ModelInputError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


def token_counts(encodings: dict[str, "np.ndarray"]) -> "np.ndarray":
    """Tokens per row (special tokens included; truncated rows count ``sequence_length``)."""
    import numpy as np

    return np.asarray(encodings["attention_mask"]).sum(axis=1).astype(int)


def routes(encodings: dict[str, "np.ndarray"], buckets) -> "np.ndarray":
    """The bucket each row runs in."""
    import numpy as np

    return np.asarray([bucket_for(int(n), buckets) for n in token_counts(encodings)], dtype=int)


def fitting_rows(encodings: dict[str, "np.ndarray"], length: int, buckets) -> "np.ndarray":
    """Rows that fit ``length`` tokens (every row for the largest bucket, which truncates)."""
    import numpy as np

    if length == max(buckets):
        return np.arange(len(encodings["attention_mask"]))
    return np.flatnonzero(token_counts(encodings) <= length)


def cut(encodings: dict[str, "np.ndarray"], rows, length: int, *, truncate: bool = False) -> dict[str, "np.ndarray"]:
    """``rows`` of every input, cut to ``length`` columns; only padding may be cut off unless
    ``truncate`` (a parity probe of a bucket no text fits: torch gets the same cut rows)."""
    import numpy as np

    mask = np.asarray(encodings["attention_mask"])[rows]
    if not truncate and mask[:, length:].any():
        raise ModelInputError(f"cutting rows to {length} tokens would drop real tokens",
                              hint="length buckets need right padding and rows that fit the bucket")
    return {name: np.ascontiguousarray(np.asarray(values)[rows, :length]) for name, values in encodings.items()}


class BucketedTflite:
    """One signature runner per bucket of a .tflite file."""

    def __init__(self, path: Path, buckets, *, num_threads: int = 1):
        from mobilekit.runners.tflite_runner import TfliteRunner

        self.buckets = tuple(sorted(buckets))
        self.runners = {b: TfliteRunner(path, num_threads=num_threads, signature=signature_name(b, self.buckets))
                        for b in self.buckets}
        for b, runner in self.runners.items():
            widths = {info.shape[-1] for info in runner.inputs.values()}
            if widths != {b}:
                raise ModelInputError(f"{Path(path).name}: signature {runner.signature} takes {sorted(widths)} tokens, not {b}")

    def run_bucket(self, length: int, encodings: dict[str, "np.ndarray"], rows, *, truncate: bool = False) -> "np.ndarray":
        """``rows`` (which must fit, unless ``truncate``) run in the ``length`` bucket."""
        return self.runners[length].run(cut(encodings, rows, length, truncate=truncate))

    def run(self, encodings: dict[str, "np.ndarray"]) -> "np.ndarray":
        """Every row in its own bucket (what the SDKs do), in the input order."""
        import numpy as np

        chosen = routes(encodings, self.buckets)
        out = None
        for b in self.buckets:
            rows = np.flatnonzero(chosen == b)
            if len(rows) == 0:
                continue
            values = self.run_bucket(b, encodings, rows)
            if out is None:
                out = np.zeros((len(chosen),) + values.shape[1:], dtype=np.float32)
            out[rows] = values
        return out
