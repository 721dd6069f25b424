"""Verification of a length-bucketed variant (TFLite or Core ML): every bucket against torch, and the routed mix.

For each bucket, the verify texts that fit it (every text for the largest, which truncates) are
cut to its length and run by torch and by that bucket's signature (or Core ML function): one parity report per bucket,
so a bucket the task text rarely reaches is still checked (a bucket no text fits gets every text
cut to its length, torch and TFLite alike: a parity probe, marked ``truncated``). Then each text's output from its own
bucket (what the SDKs run) is compared with torch's at that length, with labels when there are
some: that routed report carries the task accuracy. The variant ships when all of them pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mobilekit.runners.bucket_runner import BucketedModel, cut, fitting_rows, routes

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from mobilekit.verify.parity import ParityReport, Tolerance


@dataclass(frozen=True)
class BucketReferences:
    """Torch's outputs per bucket, on the rows that fit it (``rows[b]`` indexes the encodings)."""

    buckets: tuple[int, ...]
    rows: dict[int, "np.ndarray"]
    outputs: dict[int, "np.ndarray"]
    truncated: frozenset[int]  # buckets no text fits, probed with every text cut to their length

    def routed(self, chosen: "np.ndarray") -> "np.ndarray":
        """Torch's output for every row at the length of the bucket it runs in."""
        import numpy as np

        out = None
        for b in self.buckets:
            position = {int(r): i for i, r in enumerate(self.rows[b])}
            for row in np.flatnonzero(chosen == b):
                if out is None:
                    out = np.zeros((len(chosen),) + self.outputs[b].shape[1:], dtype=np.float32)
                out[row] = self.outputs[b][position[int(row)]]
        return out


def bucket_references(model_dir: Path, encodings: dict, buckets, *, task: str, pooling: str,
                      normalize: bool) -> BucketReferences:
    """Torch (the same wrapper the converters start from) on every bucket's fitting rows."""
    from mobilekit.convert.onnx_export import reference_outputs

    import numpy as np

    buckets = tuple(sorted(buckets))
    rows, outputs, truncated = {}, {}, set()
    for b in buckets:
        rows[b] = fitting_rows(encodings, b, buckets)
        if not len(rows[b]):
            rows[b], truncated = np.arange(len(encodings["attention_mask"])), truncated | {b}
        outputs[b] = reference_outputs(model_dir, cut(encodings, rows[b], b, truncate=b in truncated), task=task,
                                       pooling=pooling, normalize=normalize)
    return BucketReferences(buckets, rows, outputs, frozenset(truncated))


def verify_bucketed(model: BucketedModel, encodings: dict, references: BucketReferences, *, task: str,
                    labels: "np.ndarray | None", tolerance: "Tolerance") -> tuple["ParityReport", dict]:
    """(the routed report, {str(bucket): per-bucket summary}) for one bucketed model (a
    ``BucketedTflite`` or ``BucketedCoreml``)."""
    from mobilekit.verify.parity import compare

    per_bucket = {}
    for b in references.buckets:
        rows, truncated = references.rows[b], b in references.truncated
        report = compare(references.outputs[b], model.run_bucket(b, encodings, rows, truncate=truncated), task=task,
                         labels=None, tolerance=tolerance)
        per_bucket[str(b)] = {"rows": int(len(rows)), "truncated": truncated, "passed": report.passed,
                              "max_abs_diff": report.metrics["max_abs_diff"],
                              "checks": [c.to_dict() for c in report.checks], "reasons": [c.line() for c in report.failures]}
    chosen = routes(encodings, references.buckets)
    routed = compare(references.routed(chosen), model.run(encodings), task=task, labels=labels, tolerance=tolerance)
    return routed, per_bucket
