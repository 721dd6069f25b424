"""Run a length-bucketed model (TFLite signatures, or Core ML functions) the way the SDKs do: each text in the smallest bucket that holds it.

Inputs come tokenized to the full ``sequence_length`` (right padding, as every encoder tokenizer
mobilekit supports pads); a row whose ``attention_mask`` counts ``n`` tokens runs in
``bucket_for(n, buckets)``, cut to that length. Cutting a right-padded row to a length that holds
all its tokens gives exactly what the tokenizer would give padded to that length, so no second
tokenization is needed (``cut`` checks that only padding is cut off).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from mobilekit.buckets import bucket_for, coreml_function_name, signature_name
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


class BucketedModel:
    """One runner per bucket (``runners[length](inputs cut to length) -> outputs``), routed as the SDKs route."""

    def __init__(self, runners: dict[int, Callable[[dict], "np.ndarray"]]):
        self.buckets = tuple(sorted(runners))
        self.runners = runners

    def run_bucket(self, length: int, encodings: dict[str, "np.ndarray"], rows, *, truncate: bool = False) -> "np.ndarray":
        """``rows`` (which must fit, unless ``truncate``) run in the ``length`` bucket."""
        return self.runners[length](cut(encodings, rows, length, truncate=truncate))

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


def _check_widths(source: str, entry: str, widths: set[int], length: int) -> None:
    if widths != {length}:
        raise ModelInputError(f"{source}: {entry} takes {sorted(widths)} tokens, not {length}")


class BucketedTflite(BucketedModel):
    """One signature runner per bucket of a .tflite file."""

    def __init__(self, path: Path, buckets, *, num_threads: int = 1):
        from mobilekit.runners.tflite_runner import TfliteRunner

        buckets = tuple(sorted(buckets))
        signature_runners = {b: TfliteRunner(path, num_threads=num_threads, signature=signature_name(b, buckets))
                             for b in buckets}
        for b, runner in signature_runners.items():
            _check_widths(Path(path).name, f"signature {runner.signature}", {i.shape[-1] for i in runner.inputs.values()}, b)
        super().__init__({b: runner.run for b, runner in signature_runners.items()})


class BucketedCoreml(BucketedModel):
    """One MIL interpreter program per function (``seq_<length>``) of a multifunction .mlpackage;
    the functions share their evaluated weights."""

    def __init__(self, path: Path, buckets, output_name: str):
        from mobilekit.mil.interpreter import MilProgram
        from mobilekit.mil.package import load_model_spec

        spec, cache = load_model_spec(Path(path)), {}
        programs = {b: MilProgram.from_package(path, function=coreml_function_name(b), spec=spec, constant_cache=cache)
                    for b in sorted(buckets)}
        for b, program in programs.items():
            _check_widths(Path(path).name, f"function {program.function_name}",
                          {i.shape[-1] for i in program.inputs if i.shape}, b)

        def runner(program):
            def run(inputs: dict) -> "np.ndarray":
                import numpy as np

                values = program.run(inputs)[output_name]
                return np.asarray(values, dtype=np.float32).reshape(len(next(iter(inputs.values()))), -1)
            return run

        super().__init__({b: runner(program) for b, program in programs.items()})
