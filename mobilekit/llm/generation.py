"""The generation loop the Kotlin and Swift SDKs run, in Python: the reference their goldens come from.

One generation, given prompt ids (the SDK's tokenizer output, or the chat template's text encoded):

1. An empty prompt is an error (the model needs a token to predict from); a prompt longer than the
   context is an error too (``StopTracker``): the SDK never truncates or shifts the context.
2. Cache reuse (chat sessions): the ids whose keys and values are already in the cache are kept
   as far as they equal the new prompt's first ids, but at least one prompt id is always fed
   again (its logits start the generation). The rest is prefilled from that position, in chunks
   (``decoding.prefill_plan``). Entries past the position need no clearing: the graph's mask only
   lets a query see cache slots at or before its own position.
3. Then, until the ``StopTracker`` says stop: sample a token from the last logits (``Sampler``,
   previous tokens = prompt + generated), decode its bytes with a streaming UTF-8 decoder that
   never splits a character (special tokens skipped), let the tracker decide what text may be
   shown, and feed the token through ``decode`` unless generation stopped.
4. Bytes of an unfinished character left when generation stops are dropped, never shown as U+FFFD.

Afterwards the cache holds the prompt and every generated token but the last (the last one was
never fed to the model), which is what a session reuses next turn.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Callable, Sequence

from mobilekit.llm.decoding import StepDecoder
from mobilekit.llm.sampling import Sampler, SamplerConfig, SamplingError, StopCriteria, StopTracker


class EmptyPromptError(SamplingError):
    """No prompt token: there is nothing to predict the first token from."""


@dataclass
class Generation:
    prompt_tokens: int
    reused_tokens: int  # prompt ids whose cache entries were kept from the previous generation
    tokens: list[int] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)  # what a stream shows, step by step (empty ones kept)
    stop: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.chunks)


class TokenText:
    """Token id -> UTF-8 bytes, from the SDK's own tokenizer asset description."""

    def __init__(self, token_bytes: Sequence[bytes | None], special: set[int]):
        self.token_bytes = list(token_bytes)
        self.special = set(special)

    @classmethod
    def from_model_folder(cls, model_dir) -> "TokenText":
        """What the SDK tokenizer's asset says each id decodes to (``bpe_data``'s decode table)."""
        from mobilekit.sdk.bpe_data import TOKEN_DECODES, TOKEN_SPECIAL, token_entries, read_bpe_tokenizer

        entries = [e for e in token_entries(read_bpe_tokenizer(model_dir)) if e[1] & TOKEN_DECODES]
        table: list[bytes | None] = [None] * (max((e[0] for e in entries), default=-1) + 1)
        special = set()
        for token_id, flags, data in entries:
            table[token_id] = data
            if flags & TOKEN_SPECIAL:
                special.add(token_id)
        return cls(table, special)

    def bytes_of(self, token: int, skip_special: bool = True) -> bytes:
        if not 0 <= token < len(self.token_bytes) or self.token_bytes[token] is None:
            return b""
        if skip_special and token in self.special:
            return b""
        return self.token_bytes[token]


class GenerationLoop:
    """A decoder plus the ids its cache holds; one generation at a time."""

    def __init__(self, decoder: StepDecoder, text: TokenText):
        self.decoder = decoder
        self.text = text
        self.cached: list[int] = []

    def generate(self, prompt: Sequence[int], config: SamplerConfig, criteria: StopCriteria, *,
                 reuse_cache: bool = False, on_step: Callable[[int], None] | None = None) -> Generation:
        prompt = [int(t) for t in prompt]
        if not prompt:
            raise EmptyPromptError("the prompt has no tokens: give at least one (an empty text encodes to none)")
        tracker = StopTracker(criteria, len(prompt), self.decoder.spec.context_length)
        keep = _common_prefix(self.cached, prompt) if reuse_cache else 0
        keep = min(keep, len(prompt) - 1)
        self.cached = []  # until this generation has finished, the cache holds nothing reusable
        if keep == 0:
            self.decoder.reset()
        self.decoder.position = keep
        logits = self.decoder.prefill(prompt[keep:])[-1]
        result = Generation(prompt_tokens=len(prompt), reused_tokens=keep)
        sampler = Sampler(config)
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            token = sampler.sample(logits, prompt + result.tokens)
            result.tokens.append(token)
            if on_step:
                on_step(token)
            step = tracker.accept(token, utf8.decode(self.text.bytes_of(token)))
            result.chunks.append(step.text)
            if step.stop:
                result.stop = step.stop
                break
            logits = self.decoder.decode(token)
        self.cached = prompt + result.tokens[:-1]
        return result


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
