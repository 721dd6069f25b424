"""Token sampling and stopping, specified so Python, Kotlin (Sampler.kt) and Swift (Sampler.swift)
pick the same tokens from the same logits, bit for bit.

Only IEEE-754 double operations that every language rounds the same way are used (+ - * /, compare,
floor, float32 -> double, power-of-two scaling); ``exp`` is computed here from those operations
(``det_exp``) because libm's exp differs by an ulp between glibc, bionic, Darwin and the JVM. No
fused multiply-add: the JVM never fuses, Swift does not contract, CPython rounds every operation.

Random numbers: SplitMix64 (Steele, Lea, Flood 2014), state = seed mod 2^64:
    state += 0x9E3779B97F4A7C15; z = state
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    next_u64 = z ^ (z >> 31)                     (all mod 2^64, >> logical)
    next_double = (next_u64 >> 11) * 2^-53       (53 random bits, exactly representable, in [0, 1))

sample(logits float32[V], previous_tokens, config, rng), in this order:
 1. x_i = float32 logit as double. Repetition penalty p != 1 (as Hugging Face): for every distinct
    id t in previous_tokens with 0 <= t < V: s_t = x_t * p if x_t < 0 else x_t / p; s_i = x_i otherwise.
    NaN scores count as -inf. If no score is above -inf: error (the model returned no usable logits).
 2. temperature == 0 (greedy): the id with the largest s, the lowest id among equals. No random draw.
 3. Otherwise exactly one draw u = next_double() per call (so streams stay aligned whatever is kept),
    then z_i = s_i / temperature (+inf -> the largest finite double), m = max z.
 4. Candidates: ids with z_i - m >= -30 (weight e^-30 ~ 1e-13 of the top token; the rest never
    counts), ordered by z descending then id ascending (IEEE compare: -0.0 == 0.0).
 5. top_k > 0: keep the first top_k candidates.
 6. w_i = det_exp(z_i - m); running sums a_j = a_(j-1) + w_j in candidate order (a_0 = w_0 = 1).
 7. top_p < 1: keep candidates up to the first j with a_j >= top_p * a_last.
 8. target = u * a_kept_last; the token is the first kept candidate with target < a_j (the last kept
    one if rounding leaves none).

Differences from Hugging Face's warpers, on purpose: top-k keeps exactly k (ties to the lower id)
where HF keeps every token tied with the k-th; tokens 30 logits below the top are never sampled.

Stopping (``StopTracker``), checked after every token in this order:
 1. a stop token id: stop "stop_token" (its text is not emitted);
 2. a stop string in the decoded text: stop "stop_string"; the text before the match is emitted,
    the match and anything after it never are. Stop strings may span tokens: the text is checked,
    not tokens, and text that could be the start of a stop string is held back until it cannot;
 3. max_new_tokens generated: stop "max_new_tokens";
 4. the context is full: the token just generated has no KV-cache slot to be decoded into
    (prompt + generated > context_length): stop "context_full". The SDK never drops or shifts
    earlier tokens to make room, and a prompt longer than the context is an error, not truncated.
On every stop but "stop_string" the held-back text is emitted.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Iterable, Sequence

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
MIX1, MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
TWO_POW_MINUS_53 = 2.0 ** -53
CANDIDATE_WINDOW = 30.0  # candidates are within this many (temperature-scaled) logits of the top
MAX_DOUBLE = 1.7976931348623157e308

# det_exp: Cody-Waite reduction by ln 2 (LN2_HI has 21 trailing zero bits, so k * LN2_HI is exact)
# and the degree-13 Taylor polynomial of e^r, |r| <= ln2/2 (truncation error < 1e-17).
INV_LN2 = 1.4426950408889634
LN2_HI = 0.6931471803691238
LN2_LO = 1.9082149292705877e-10
EXP_COEFFS = (  # 1/n! for n = 13 down to 2, correctly rounded (Horner order)
    1.6059043836821613e-10, 2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07,
    2.7557319223985893e-06, 2.48015873015873e-05, 0.0001984126984126984, 0.001388888888888889,
    0.008333333333333333, 0.041666666666666664, 0.16666666666666666, 0.5,
)


class SamplingError(ValueError):
    """Invalid sampler settings, or logits no token can be chosen from."""


# -- random numbers --------------------------------------------------------------------------------


class SplitMix64:
    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next_u64(self) -> int:
        self.state = (self.state + GOLDEN_GAMMA) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * MIX1) & MASK64
        z = ((z ^ (z >> 27)) * MIX2) & MASK64
        return z ^ (z >> 31)

    def next_double(self) -> float:
        return (self.next_u64() >> 11) * TWO_POW_MINUS_53


# -- arithmetic ------------------------------------------------------------------------------------


def det_exp(x: float) -> float:
    """e^x for -708 <= x <= 0 from + - * / and floor only (0.0 below -708), the same bits everywhere."""
    if x < -708.0:
        return 0.0
    k = math.floor(x * INV_LN2 + 0.5)
    r = (x - k * LN2_HI) - k * LN2_LO
    p = EXP_COEFFS[0]
    for c in EXP_COEFFS[1:]:
        p = p * r + c
    p = p * r + 1.0
    p = p * r + 1.0
    return p * math.ldexp(1.0, int(k))  # 2^k is a normal double for k >= -1022: an exact scaling


def to_float32(values: Iterable[float]) -> list[float]:
    """Logits as the float32 values the phone sees (rounded to nearest), held as doubles."""
    return list(array("f", values))


# -- the sampler -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplerConfig:
    """temperature 0 = greedy; top_k 0 = off; top_p 1 = off; repetition_penalty 1 = off."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise SamplingError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise SamplingError(f"top_k must be an integer >= 0 (0 = off), got {self.top_k}")
        if not (0 < self.top_p <= 1):
            raise SamplingError(f"top_p must be in (0, 1] (1 = off), got {self.top_p}")
        if not (math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0):
            raise SamplingError(f"repetition_penalty must be a finite number > 0 (1 = off), got {self.repetition_penalty}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SamplingError(f"seed must be an integer, got {self.seed!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def rng(self) -> SplitMix64:
        return SplitMix64(self.seed)

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p,
                "repetition_penalty": self.repetition_penalty, "seed": self.seed & MASK64}


def penalized(logits: Sequence[float], previous_tokens: Iterable[int], penalty: float) -> list[float]:
    """Step 1: float32 logits as doubles, previous tokens penalised once each, NaN as -inf."""
    x = to_float32(logits)
    s = list(x)
    if penalty != 1.0:
        for t in set(previous_tokens):
            if 0 <= t < len(x):
                s[t] = x[t] * penalty if x[t] < 0 else x[t] / penalty
    return [-math.inf if v != v else v for v in s]


def argmax(scores: Sequence[float]) -> int:
    best = 0
    for i in range(1, len(scores)):
        if scores[i] > scores[best]:
            best = i
    return best


def sample(logits: Sequence[float], previous_tokens: Iterable[int], config: SamplerConfig, rng: SplitMix64) -> int:
    """The next token id (see the module docstring for the exact steps)."""
    s = penalized(logits, previous_tokens, config.repetition_penalty)
    if not s or max(s) == -math.inf:
        raise SamplingError("the model returned no usable logits (all NaN or -inf)")
    if config.greedy:
        return argmax(s)
    u = rng.next_double()
    z = [v / config.temperature for v in s]
    z = [MAX_DOUBLE if v == math.inf else v for v in z]
    m = max(z)
    order = sorted((i for i in range(len(z)) if z[i] - m >= -CANDIDATE_WINDOW), key=lambda i: (-z[i], i))
    if config.top_k > 0:
        order = order[: config.top_k]
    sums, total = [], 0.0
    for i in order:
        total += det_exp(z[i] - m)
        sums.append(total)
    if config.top_p < 1.0:
        bound = config.top_p * total
        cut = next(j for j, a in enumerate(sums) if a >= bound)
        order, sums = order[: cut + 1], sums[: cut + 1]
    target = u * sums[-1]
    for i, a in zip(order, sums):
        if target < a:
            return i
    return order[-1]


class Sampler:
    """A config and its random stream: what one generation uses, token after token."""

    def __init__(self, config: SamplerConfig):
        self.config = config
        self.rng = config.rng()

    def sample(self, logits: Sequence[float], previous_tokens: Iterable[int]) -> int:
        return sample(logits, previous_tokens, self.config, self.rng)


# -- stopping --------------------------------------------------------------------------------------

STOP_TOKEN, STOP_STRING, MAX_NEW_TOKENS, CONTEXT_FULL = "stop_token", "stop_string", "max_new_tokens", "context_full"
STOP_REASONS = (STOP_TOKEN, STOP_STRING, MAX_NEW_TOKENS, CONTEXT_FULL)


def _valid_text(text: str) -> bool:
    return not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


@dataclass(frozen=True)
class StopCriteria:
    stop_token_ids: frozenset[int] = frozenset()
    stop_strings: tuple[str, ...] = ()
    max_new_tokens: int = 256

    def __post_init__(self):
        object.__setattr__(self, "stop_token_ids", frozenset(self.stop_token_ids))
        object.__setattr__(self, "stop_strings", tuple(self.stop_strings))
        if self.max_new_tokens < 1:
            raise SamplingError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        for text in self.stop_strings:
            if not text or not _valid_text(text):
                raise SamplingError(f"stop strings must be non-empty valid Unicode, got {text!r}")


@dataclass
class Step:
    text: str  # what the stream may show now
    stop: str | None = None  # a STOP_REASONS entry once generation is over


@dataclass
class StopTracker:
    """Decides after each token what text is safe to emit and whether generation is over."""

    criteria: StopCriteria
    prompt_tokens: int
    context_length: int
    generated: int = 0
    text: str = ""
    emitted: int = 0  # text[:emitted] has been emitted
    stopped: str | None = field(default=None)

    def __post_init__(self):
        if self.prompt_tokens > self.context_length:
            raise SamplingError(f"the prompt has {self.prompt_tokens} tokens, more than the context of "
                                f"{self.context_length}: shorten it (the SDK never truncates)")

    def accept(self, token: int, delta: str) -> Step:
        """``token`` was generated and decodes to ``delta`` (the stream decoder's new text)."""
        if self.stopped:
            raise SamplingError(f"generation already stopped ({self.stopped})")
        self.generated += 1
        if token in self.criteria.stop_token_ids:
            return self._stop(STOP_TOKEN, self._flush())
        self.text += delta
        match = self._first_match()
        if match is not None:
            out, self.emitted = self.text[self.emitted: match], len(self.text)
            return self._stop(STOP_STRING, out)
        if self.generated >= self.criteria.max_new_tokens:
            return self._stop(MAX_NEW_TOKENS, self._flush())
        if self.prompt_tokens + self.generated > self.context_length:
            return self._stop(CONTEXT_FULL, self._flush())
        safe = len(self.text) - self._held_back()
        out, self.emitted = self.text[self.emitted: safe], safe
        return Step(out)

    def flush(self) -> str:
        """Held-back text, for a loop that ends for its own reason (cancellation)."""
        return self._flush()

    def _stop(self, reason: str, text: str) -> Step:
        self.stopped = reason
        return Step(text, reason)

    def _flush(self) -> str:
        out, self.emitted = self.text[self.emitted:], len(self.text)
        return out

    def _first_match(self) -> int | None:
        # A match never starts before `emitted`: text that could start one is never emitted.
        found = [i for i in (self.text.find(s, self.emitted) for s in self.criteria.stop_strings) if i >= 0]
        return min(found) if found else None

    def _held_back(self) -> int:
        """Length of the longest unemitted suffix that a stop string starts with."""
        longest = min(max((len(s) for s in self.criteria.stop_strings), default=1) - 1, len(self.text) - self.emitted)
        for k in range(longest, 0, -1):
            tail = self.text[len(self.text) - k:]
            if any(s.startswith(tail) for s in self.criteria.stop_strings):
                return k
        return 0
