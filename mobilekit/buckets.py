"""Length buckets: one encoder model, several fixed sequence lengths sharing its weights.

An encoder converted for 128 tokens makes every text pay for 128 tokens. With length buckets
(``[model] length_buckets``) the TFLite file holds one signature per bucket length, all reading
the same weight buffers; the SDKs tokenize once, count the text's tokens and run the smallest
bucket that holds them. A text longer than the largest bucket (which is always
``sequence_length``) is truncated exactly as without buckets.

Signature names: the largest bucket keeps ``serving_default`` and is the file's first signature,
so anything that does not know about buckets (LiteRT's ``benchmark_model``, an older app, a
runner that takes the default signature) runs the full-length model as before; every smaller
bucket is ``seq_<length>``. Core ML has no such convention: a bucketed ``.mlpackage`` is a
multifunction package (iOS 18) with one function ``seq_<length>`` per bucket, the largest being
the default function (see ``convert.coreml``).

``"auto"``: powers of two from 16 below ``sequence_length``, the smallest ones that hold the
50th, 90th and 99th percentile of the task texts' token counts (special tokens included), plus
``sequence_length`` itself. A text mix of 10-20 tokens at 128 gets [16, 32, 128]; texts that
mostly fill the window get [128] alone.

Standard library only: the converter drivers import it in other Python environments.
"""

from __future__ import annotations

import math
from typing import Sequence

DEFAULT_SIGNATURE = "serving_default"
AUTO = "auto"
AUTO_SMALLEST = 16  # auto buckets start here: below it the per-inference overhead dominates
AUTO_PERCENTILES = (50, 90, 99)


def signature_name(length: int, buckets: Sequence[int]) -> str:
    """The TFLite signature of one bucket: ``serving_default`` for the largest, else ``seq_<length>``."""
    if length not in buckets:
        raise ValueError(f"{length} is not one of the buckets {list(buckets)}")
    return DEFAULT_SIGNATURE if length == max(buckets) else f"seq_{length}"


def coreml_function_name(length: int) -> str:
    """The Core ML function of one bucket: ``seq_<length>`` for every bucket (the largest is the
    package's default function, run by an app that names none)."""
    return f"seq_{length}"


def coreml_functions(buckets: Sequence[int]) -> dict[int, str]:
    """{length: Core ML function name}, largest first."""
    return {length: coreml_function_name(length) for length in sorted(buckets, reverse=True)}


def signatures(buckets: Sequence[int]) -> dict[int, str]:
    """{length: signature name}, largest first (the order the signatures are written in the file)."""
    return {length: signature_name(length, buckets) for length in sorted(buckets, reverse=True)}


def bucket_for(token_count: int, buckets: Sequence[int]) -> int:
    """The smallest bucket holding ``token_count`` tokens; the largest when none does (truncation)."""
    fitting = [b for b in buckets if b >= token_count]
    return min(fitting) if fitting else max(buckets)


def problem(buckets: Sequence[int], sequence_length: int) -> str | None:
    """Why ``buckets`` is not a valid bucket list for ``sequence_length`` (None when it is)."""
    if not buckets:
        return "the list is empty"
    for b in buckets:
        if not isinstance(b, int) or isinstance(b, bool):
            return f"every bucket must be an integer; {b!r} is not"
        if b < 2:
            return f"{b} is below 2 (a bucket holds at least [CLS] and [SEP])"
        if b > sequence_length:
            return f"{b} is above model.sequence_length ({sequence_length})"
    if list(buckets) != sorted(set(buckets)):
        return "buckets must be strictly ascending (no repeats)"
    if buckets[-1] != sequence_length:
        return f"the largest bucket must equal model.sequence_length ({sequence_length}), so long texts truncate as before"
    return None


def percentile(values: Sequence[int], q: float) -> int:
    """The nearest-rank ``q``-th percentile of ``values`` (an actual value, never interpolated)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def auto_buckets(token_counts: Sequence[int], sequence_length: int) -> tuple[int, ...]:
    """Buckets chosen from the task texts' token counts (see the module docstring)."""
    candidates = []
    size = AUTO_SMALLEST
    while size < sequence_length:
        candidates.append(size)
        size *= 2
    candidates.append(sequence_length)
    if not token_counts:
        return (sequence_length,)
    chosen = {sequence_length}
    for q in AUTO_PERCENTILES:
        chosen.add(bucket_for(percentile(token_counts, q), candidates))
    return tuple(sorted(chosen))


def describe_choice(token_counts: Sequence[int], buckets: Sequence[int]) -> dict:
    """What ``auto`` saw and chose (recorded in the convert stage's metadata and the report)."""
    return {
        "texts": len(token_counts),
        "percentiles": {f"p{q}": percentile(token_counts, q) for q in AUTO_PERCENTILES} if token_counts else {},
        "buckets": list(buckets),
        "share_per_bucket": share_per_bucket(token_counts, buckets),
    }


def share_per_bucket(token_counts: Sequence[int], buckets: Sequence[int]) -> dict[str, float]:
    """{str(length): share of the texts that run in that bucket}."""
    counts = {b: 0 for b in buckets}
    for n in token_counts:
        counts[bucket_for(n, buckets)] += 1
    total = max(1, len(token_counts))
    return {str(b): round(c / total, 4) for b, c in counts.items()}
