"""Every causal-LM variant against the original PyTorch model, on held-out text.

Per variant:
  - logits parity, teacher-forced through the real path: each text's first part through the
    prefill signature(s), its last ``DECODE_TAIL`` tokens one by one through ``decode``; max abs
    diff and top-1 agreement against torch's full forward;
  - perplexity on the same predictions, relative to torch's (the budget: verify.perplexity_budget);
  - greedy continuations of verify.greedy_tokens tokens for verify.greedy_prompts prompts,
    compared token by token with torch: identical continuations, and greedy agreement = the share
    of tokens matched before each prompt's first divergence (the budget: verify.min_greedy_agreement).
float32 variants are also held to a logits tolerance: they must compute what torch computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DECODE_TAIL = 8
FLOAT32_LOGIT_TOLERANCE = 1e-3  # relative to the largest reference logit


@dataclass(frozen=True)
class Budget:
    perplexity_percent: float
    min_greedy_agreement: float


@dataclass
class Reference:
    """torch's outputs on the checks' inputs, computed once for all variants."""

    logits: list  # per text, [len-1 predictions, vocab]
    perplexity: float
    continuations: list[list[int]]
    logit_scale: float
    margins: list[list[float]]  # per prompt: torch's top-1 minus top-2 logit at each greedy step


@dataclass
class VariantReport:
    name: str
    checks: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    @property
    def ships(self) -> bool:
        return all(c["passed"] for c in self.checks)

    def add(self, name: str, value: float, limit: float, passed: bool, detail: str) -> None:
        self.checks.append({"name": name, "value": value, "limit": limit, "passed": bool(passed), "line": detail})

    def to_dict(self) -> dict:
        return {"ships": self.ships, "verified": True, "checks": self.checks, "metrics": self.metrics,
                "reasons": [c["line"] for c in self.checks if not c["passed"]]}


def perplexity_from_logits(logits_per_text, texts) -> float:
    """exp of the mean next-token NLL over every predicted token of every text."""
    import numpy as np

    total, count = 0.0, 0
    for logits, tokens in zip(logits_per_text, texts):
        rows = logits.astype(np.float64)
        rows = rows - rows.max(axis=1, keepdims=True)
        log_probs = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))
        targets = np.asarray(tokens[1:])
        total -= float(log_probs[np.arange(len(targets)), targets].sum())
        count += len(targets)
    return math.exp(total / max(count, 1))


def reference(model, texts, prompts, new_tokens: int, stop_ids) -> Reference:
    from mobilekit.llm.torch_runner import full_logits, greedy

    logits = [full_logits(model, t)[:-1] for t in texts]
    scale = max(float(abs(x).max()) for x in logits)
    continuations = [greedy(model, p, new_tokens, stop_ids) for p in prompts]
    return Reference(logits=logits, perplexity=perplexity_from_logits(logits, texts), continuations=continuations,
                     logit_scale=scale, margins=[_margins(model, p, c) for p, c in zip(prompts, continuations)])


def _margins(model, prompt: list[int], continuation: list[int]) -> list[float]:
    """How decided torch's own greedy choice was at each step: a divergence where the margin is
    a fraction of a logit is a near-tie that any rounding can flip, not a broken variant."""
    import numpy as np

    from mobilekit.llm.torch_runner import full_logits

    rows = full_logits(model, prompt + continuation)[len(prompt) - 1: len(prompt) - 1 + len(continuation)]
    top2 = np.sort(rows, axis=1)[:, -2:]
    return [float(m) for m in top2[:, 1] - top2[:, 0]]


def verify_variant(name: str, decoder, family: str, ref: Reference, texts, prompts, new_tokens: int, stop_ids,
                   budget: Budget) -> VariantReport:
    """``decoder`` is a ``StepDecoder`` (TFLite, Core ML, ...) over the variant."""
    import numpy as np

    report = VariantReport(name)
    logits = []
    for tokens in texts:
        prefill = max(1, len(tokens) - DECODE_TAIL)
        logits.append(decoder.teacher_forced_logits(tokens[:-1], prefill=min(prefill, len(tokens) - 1)))
    diffs = [float(np.abs(a - b).max()) for a, b in zip(logits, ref.logits)]
    top1 = np.concatenate([a.argmax(1) == b.argmax(1) for a, b in zip(logits, ref.logits)])
    ppl = perplexity_from_logits(logits, texts)
    increase = 100.0 * (ppl / ref.perplexity - 1.0)
    continuations = [decoder.greedy(p, new_tokens, stop_ids) for p in prompts]
    agreement, identical, divergences = _greedy_agreement(continuations, ref.continuations)
    tie_margins = [ref.margins[i][d] for i, d in enumerate(divergences) if d is not None and d < len(ref.margins[i])]
    report.metrics = {
        "max_abs_diff": max(diffs), "top1_agreement": float(top1.mean()), "perplexity": ppl,
        "reference_perplexity": ref.perplexity, "perplexity_increase_percent": increase,
        "greedy_agreement": agreement, "greedy_identical": identical, "greedy_prompts": len(prompts),
        "first_divergence": divergences, "predicted_tokens": int(top1.size),
        # torch's top-1 minus top-2 logit where each diverging continuation left it
        "divergence_margins": tie_margins,
    }
    if family == "float32":
        limit = FLOAT32_LOGIT_TOLERANCE * max(1.0, ref.logit_scale)
        report.add("logits", max(diffs), limit, max(diffs) <= limit,
                   f"logits max abs diff {max(diffs):.3g} (limit {limit:.3g}, float32 must match torch)")
    report.add("perplexity", increase, budget.perplexity_percent, increase <= budget.perplexity_percent,
               f"perplexity {ppl:.4g} vs {ref.perplexity:.4g} ({increase:+.2f}%, budget {budget.perplexity_percent:g}%)")
    report.add("greedy", agreement, budget.min_greedy_agreement, agreement >= budget.min_greedy_agreement,
               f"greedy agreement {agreement:.3f} (min {budget.min_greedy_agreement:g}); "
               f"{identical}/{len(prompts)} continuations identical")
    return report


def _greedy_agreement(got: list[list[int]], want: list[list[int]]) -> tuple[float, int, list[int | None]]:
    matched, total, identical, divergences = 0, 0, 0, []
    for a, b in zip(got, want):
        prefix = 0
        while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
            prefix += 1
        same = a == b
        identical += same
        divergences.append(None if same else prefix)
        matched += len(b) if same else prefix
        total += len(b)
    return (matched / total if total else 1.0), identical, divergences
