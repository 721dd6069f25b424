"""The host-side generation loop shared by every runtime (TFLite, Core ML, torch reference).

A runtime only has to provide ``run(signature, tokens, positions) -> logits [T, vocab]`` that
also updates its KV cache, plus ``reset()``. ``StepDecoder`` turns that into prefill in chunks
(each chunk uses the smallest prefill signature that holds it; the last one is padded with
PAD_POSITION), single-token decode, teacher-forced logits and greedy continuations. The Kotlin and
Swift SDK loops follow the same chunking rule.
"""

from __future__ import annotations

from mobilekit.errors import ModelInputError
from mobilekit.llm.kv_decoder import PAD_POSITION, DecoderSpec, prefill_signature


def prefill_plan(spec: DecoderSpec, count: int) -> list[int]:
    """Chunk lengths (signature sizes) for a prompt of ``count`` tokens: the largest signature
    while more than it remains, then the smallest one that holds the rest."""
    plan, left = [], count
    largest = max(spec.prefill_lengths)
    while left > 0:
        if left >= largest:
            plan.append(largest)
            left -= largest
        else:
            plan.append(min(n for n in spec.prefill_lengths if n >= left))
            left = 0
    return plan


class StepDecoder:
    """Prefill/decode over a runtime's signatures, tracking the next free cache position."""

    def __init__(self, spec: DecoderSpec):
        self.spec = spec
        self.position = 0

    # -- what a runtime implements ------------------------------------------------------------

    def run(self, signature: str, tokens: list[int], positions: list[int]):  # pragma: no cover
        raise NotImplementedError

    def reset_cache(self) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- the loop ------------------------------------------------------------------------------

    def reset(self) -> None:
        self.reset_cache()
        self.position = 0

    def _check_room(self, count: int) -> None:
        if self.position + count > self.spec.context_length:
            raise ModelInputError(
                f"{self.position + count} tokens do not fit the KV cache of {self.spec.context_length}",
                hint="shorten the prompt or raise generation.context_length")

    def prefill(self, tokens: list[int]):
        """Feeds ``tokens`` at the next positions; returns their logits [len(tokens), vocab]."""
        import numpy as np

        self._check_room(len(tokens))
        out, start = [], 0
        for size in prefill_plan(self.spec, len(tokens)):
            chunk = tokens[start:start + size]
            positions = list(range(self.position, self.position + len(chunk)))
            padding = size - len(chunk)
            logits = self.run(prefill_signature(size), chunk + [0] * padding, positions + [PAD_POSITION] * padding)
            out.append(logits[: len(chunk)])
            self.position += len(chunk)
            start += size
        return np.concatenate(out, axis=0)

    def decode(self, token: int):
        """Feeds one token; returns the logits for the next one [vocab]."""
        self._check_room(1)
        logits = self.run("decode", [token], [self.position])
        self.position += 1
        return logits[0]

    def teacher_forced_logits(self, tokens: list[int], prefill: int):
        """Logits after each of ``tokens``: the first ``prefill`` through prefill, the rest one by
        one through decode (the real path a phone takes)."""
        import numpy as np

        self.reset()
        rows = [self.prefill(tokens[:prefill])]
        rows += [self.decode(t)[None, :] for t in tokens[prefill:]]
        return np.concatenate(rows, axis=0)

    def greedy(self, prompt: list[int], new_tokens: int, stop_ids=()) -> list[int]:
        """Greedy continuation of ``prompt`` (stops early at a stop id, which is included)."""
        self.reset()
        logits = self.prefill(prompt)[-1]
        generated = []
        for _ in range(new_tokens):
            token = int(logits.argmax())
            generated.append(token)
            if token in stop_ids or len(generated) == new_tokens:
                break
            logits = self.decode(token)
        return generated
