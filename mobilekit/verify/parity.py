"""Parity of a converted variant against the reference (the torch model the ONNX was exported from).

``compare`` computes every figure, then judges each against its tolerance and returns a
``ParityReport``: one ``Check`` line per figure (value, threshold, pass/fail). It never prints and
never raises on a tolerance miss; ``raise_on_failure`` turns a failed report into a
``VerificationError`` when the build is strict (the caller decides, explicitly).

Figures:
  all tasks        max and mean absolute difference
  classification   argmax agreement; with labels, accuracy and macro-F1 of the candidate AND of
                   the reference, and the drop between them
  embeddings       mean and min cosine similarity, row by row
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from mobilekit import variants as _v
from mobilekit.errors import ModelInputError, VerificationError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

TASKS = ("text-classification", "sentence-embedding")


@dataclass(frozen=True)
class Tolerance:
    """Thresholds; ``None`` means the figure is reported but not judged."""

    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    min_agreement: float | None = None  # classification: fraction of rows with the same argmax
    min_mean_cosine: float | None = None  # embeddings
    min_min_cosine: float | None = None  # embeddings: the worst row
    max_accuracy_drop: float | None = None  # reference accuracy - candidate accuracy (with labels)
    max_macro_f1_drop: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# Variant families. float32 must match closely; float16 (weights, or compute on Core ML) drifts by
# ~1e-3 relative; int8 variants are judged mainly by agreement, cosine and task accuracy, their
# raw differences are reported but not judged. Keyed by tolerance name; which one each variant gets
# is its registry family's (``mobilekit.variants.PARITY_TOLERANCES``).
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    _v.FLOAT32: Tolerance(max_abs_diff=1e-3, mean_abs_diff=1e-4, min_agreement=1.0,
                         min_mean_cosine=0.99999, min_min_cosine=0.9999,
                         max_accuracy_drop=0.0, max_macro_f1_drop=0.0),
    _v.FLOAT16: Tolerance(max_abs_diff=5e-2, mean_abs_diff=1e-2, min_agreement=0.99,
                         min_mean_cosine=0.9995, min_min_cosine=0.999,
                         max_accuracy_drop=0.01, max_macro_f1_drop=0.01),
    _v.DYNAMIC_INT8: Tolerance(min_agreement=0.95, min_mean_cosine=0.99, min_min_cosine=0.95,
                              max_accuracy_drop=0.02, max_macro_f1_drop=0.02),
    _v.FULL_INT8: Tolerance(min_agreement=0.90, min_mean_cosine=0.97, min_min_cosine=0.90,
                           max_accuracy_drop=0.03, max_macro_f1_drop=0.03),
}

_FAMILY_ALIASES = {
    "onnx": _v.FLOAT32, "fp32": _v.FLOAT32, _v.FLOAT32: _v.FLOAT32,
    "fp16": _v.FLOAT16, _v.FLOAT16: _v.FLOAT16,
    _v.DYNAMIC_INT8: _v.DYNAMIC_INT8, _v.INT8: _v.DYNAMIC_INT8,
    _v.FULL_INT8: _v.FULL_INT8,
    **_v.PARITY_TOLERANCES,  # the registry's family names (int8-weights, int8-full, int4-weights, ...)
}


def default_tolerance(variant: str) -> Tolerance:
    """The default tolerance for a variant name ("float32", "float16", "dynamic-int8", "full-int8", "onnx")."""
    family = _FAMILY_ALIASES.get(variant)
    if family is None:
        raise ModelInputError(f"no default tolerance for variant {variant!r}",
                              hint=f"known: {', '.join(sorted(_FAMILY_ALIASES))}")
    return DEFAULT_TOLERANCES[family]


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    threshold: float | None
    comparison: str  # "<=" (value must not exceed threshold) or ">="
    passed: bool  # True when threshold is None (reported only)

    @property
    def judged(self) -> bool:
        return self.threshold is not None

    def line(self) -> str:
        if self.threshold is None:
            return f"info  {self.name} = {self.value:.6g}"
        return f"{'pass' if self.passed else 'FAIL'}  {self.name} = {self.value:.6g} ({self.comparison} {self.threshold:.6g})"

    def to_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "threshold": self.threshold,
                "comparison": self.comparison, "passed": self.passed, "line": self.line()}


@dataclass
class ParityReport:
    task: str
    samples: int
    tolerance: Tolerance
    checks: list[Check] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def lines(self) -> list[str]:
        return [c.line() for c in self.checks]

    def to_dict(self) -> dict:
        return {"task": self.task, "samples": self.samples, "passed": self.passed,
                "tolerance": self.tolerance.to_dict(), "metrics": dict(self.metrics),
                "checks": [c.to_dict() for c in self.checks]}


def _judge(name: str, value: float, threshold: float | None, comparison: str) -> Check:
    if threshold is None:
        passed = True
    elif comparison == "<=":
        passed = bool(value <= threshold)  # NaN fails
    else:
        passed = bool(value >= threshold)
    return Check(name=name, value=float(value), threshold=threshold, comparison=comparison, passed=passed)


def accuracy(predictions: "np.ndarray", labels: "np.ndarray") -> float:
    import numpy as np

    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))


def macro_f1(predictions: "np.ndarray", labels: "np.ndarray", num_classes: int | None = None) -> float:
    """Unweighted mean of per-class F1 over the classes present in labels or predictions."""
    import numpy as np

    predictions, labels = np.asarray(predictions), np.asarray(labels)
    classes = range(num_classes) if num_classes else np.union1d(predictions, labels)
    scores = []
    for c in classes:
        tp = np.sum((predictions == c) & (labels == c))
        fp = np.sum((predictions == c) & (labels != c))
        fn = np.sum((predictions != c) & (labels == c))
        denom = 2 * tp + fp + fn
        scores.append(0.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(scores)) if scores else 0.0


def _cosines(a: "np.ndarray", b: "np.ndarray") -> "np.ndarray":
    import numpy as np

    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.sum(a64 * b64, axis=1) / np.maximum(norms, 1e-30)


def compare(
    reference: "np.ndarray",
    candidate: "np.ndarray",
    *,
    task: str,
    labels: "np.ndarray | None",
    tolerance: Tolerance,
) -> ParityReport:
    """Compare ``candidate`` outputs [N, ...] with ``reference`` outputs of the same inputs."""
    import numpy as np

    if task not in TASKS:
        raise ModelInputError(f"unknown task {task!r}", hint=f"use one of: {', '.join(TASKS)}")
    reference = np.asarray(reference, dtype=np.float32)
    candidate = np.asarray(candidate, dtype=np.float32)
    if reference.shape != candidate.shape:
        raise VerificationError(
            f"output shapes differ: reference {reference.shape}, candidate {candidate.shape}",
            hint="the variant was converted with another sequence length, task or label count")
    if reference.ndim != 2 or len(reference) == 0:
        raise ModelInputError(f"expected outputs of shape [N, features] with N >= 1, got {reference.shape}")
    if labels is not None and task != "text-classification":
        raise ModelInputError("labels apply to text-classification only")

    report = ParityReport(task=task, samples=len(reference), tolerance=tolerance)
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    max_diff = float(np.max(diff)) if np.all(np.isfinite(candidate)) else float("nan")
    mean_diff = float(np.mean(diff)) if np.all(np.isfinite(candidate)) else float("nan")
    report.checks.append(_judge("max_abs_diff", max_diff, tolerance.max_abs_diff, "<="))
    report.checks.append(_judge("mean_abs_diff", mean_diff, tolerance.mean_abs_diff, "<="))

    if task == "text-classification":
        ref_pred, cand_pred = reference.argmax(axis=1), candidate.argmax(axis=1)
        report.checks.append(_judge("argmax_agreement", float(np.mean(ref_pred == cand_pred)),
                                    tolerance.min_agreement, ">="))
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if len(labels) != len(reference):
                raise ModelInputError(f"{len(labels)} labels for {len(reference)} outputs")
            num_classes = reference.shape[1]
            ref_acc, cand_acc = accuracy(ref_pred, labels), accuracy(cand_pred, labels)
            ref_f1 = macro_f1(ref_pred, labels, num_classes)
            cand_f1 = macro_f1(cand_pred, labels, num_classes)
            report.metrics.update(reference_accuracy=ref_acc, candidate_accuracy=cand_acc,
                                  reference_macro_f1=ref_f1, candidate_macro_f1=cand_f1)
            report.checks.append(_judge("accuracy_drop", ref_acc - cand_acc, tolerance.max_accuracy_drop, "<="))
            report.checks.append(_judge("macro_f1_drop", ref_f1 - cand_f1, tolerance.max_macro_f1_drop, "<="))
    else:
        cos = _cosines(reference, candidate)
        mean_cos = float(np.mean(cos)) if np.all(np.isfinite(cos)) else float("nan")
        min_cos = float(np.min(cos)) if np.all(np.isfinite(cos)) else float("nan")
        report.checks.append(_judge("mean_cosine", mean_cos, tolerance.min_mean_cosine, ">="))
        report.checks.append(_judge("min_cosine", min_cos, tolerance.min_min_cosine, ">="))
    report.metrics.update({c.name: c.value for c in report.checks})
    return report


def raise_on_failure(report: ParityReport, *, variant: str) -> None:
    """Raise VerificationError listing every failed check (for strict builds)."""
    if report.passed:
        return
    lines = "; ".join(c.line() for c in report.failures)
    raise VerificationError(
        f"variant {variant} failed {len(report.failures)} parity check(s): {lines}",
        hint="loosen the tolerance in mobilekit.toml only if the drop is acceptable, or drop the variant",
    )
