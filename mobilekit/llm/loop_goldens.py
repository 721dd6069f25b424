"""Loop goldens: Python drives the shipped TFLite model and records what the SDK loops must do.

For each case, ``GenerationLoop`` (the reference of the Kotlin and Swift loops) runs on the real
model through the LiteRT interpreter. Every model call is recorded: the signature, the tokens and
positions fed, and the logits row the loop reads. The SDK tests replay the file: their loop runs
against a backend that checks each call against the recording and answers with the recorded
logits, and must pick the same tokens, show the same text chunks and stop for the same reason.

Only the ``TOP_LOGITS`` largest logits of a row are stored (a 49k vocabulary is 196 KB a row); the
others are -inf in every language. That can only change a pick among tokens outside those, so
recording checks that replaying the stored rows in Python gives exactly the tokens the full rows
gave, and the cases' sampling configs keep ``top_k`` well under ``TOP_LOGITS``.

Format (line-based text, read by LoopGoldenFile.kt / LoopGoldenFile.swift):

    mobilekit-loop-goldens 1
    case <name> <vocab> <context> <prefill lengths> <turns>
    turn <prompt ids> <temperature> <top_k> <top_p> <penalty> <seed> <max new> <stop ids> <stop strings hex> <reuse 0|1> <calls>
    call <signature> <tokens> <positions> <row> <n> <id:hex32> x n        <calls> lines, then
    expect <reason | !kind> <chunks hex> <generated ids> <reused prompt tokens>

Lists are comma-separated ("-" when empty), texts UTF-8 hex ("_" when empty); <row> is the logits
row the loop reads (-1: none, an earlier prefill chunk). An expected reason "!empty_prompt" or
"!prompt_too_long" means the turn must fail before any model call.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Sequence

from mobilekit.llm.decoding import StepDecoder
from mobilekit.llm.generation import EmptyPromptError, Generation, GenerationLoop, TokenText
from mobilekit.llm.sampling import MASK64, SamplerConfig, SamplingError, StopCriteria
from mobilekit.llm.sdk_goldens import hex_list, int_list

HEADER = "mobilekit-loop-goldens 1"
GOLDEN_FILE = "loop_goldens.txt"
TOP_LOGITS = 256


@dataclass
class Turn:
    prompt: list[int]
    config: SamplerConfig
    criteria: StopCriteria
    reuse: bool = False


@dataclass
class Call:
    signature: str
    tokens: list[int]
    positions: list[int]
    row: int  # the logits row the loop reads, -1 for none
    logits: dict[int, float] = field(default_factory=dict)  # id -> float32 value (the stored top)


@dataclass
class RecordedTurn:
    turn: Turn
    calls: list[Call]
    result: Generation | None
    error: str | None = None  # "empty_prompt" | "prompt_too_long"


class _Recorder(StepDecoder):
    """Wraps a real decoder: runs it and records each call with the top logits of the rows read."""

    def __init__(self, inner: StepDecoder):
        super().__init__(inner.spec)
        self.inner = inner
        self.calls: list[Call] = []

    def reset_cache(self) -> None:
        self.inner.reset_cache()

    def run(self, signature, tokens, positions):
        import numpy as np

        logits = np.asarray(self.inner.run(signature, tokens, positions), dtype=np.float32)
        valid = sum(1 for p in positions if p >= 0)
        self.calls.append(Call(signature, list(tokens), list(positions), valid - 1, _top(logits[valid - 1])))
        return logits


class _Replayer(StepDecoder):
    """Answers with the recorded rows (others -inf), as the SDK test backends do."""

    def __init__(self, spec, calls: Sequence[Call]):
        super().__init__(spec)
        self.calls = list(calls)
        self.index = 0

    def reset_cache(self) -> None:
        pass

    def run(self, signature, tokens, positions):
        import numpy as np

        call = self.calls[self.index]
        self.index += 1
        assert (call.signature, call.tokens, call.positions) == (signature, list(tokens), list(positions))
        rows = np.full((len(tokens), self.spec.vocab_size), -np.inf, dtype=np.float32)
        for token, value in call.logits.items():
            rows[call.row, token] = value
        return rows


def _top(row) -> dict[int, float]:
    import numpy as np

    order = np.argsort(-row, kind="stable")[:TOP_LOGITS]
    return {int(i): float(row[i]) for i in sorted(order)}


def record(decoder: StepDecoder, text: TokenText, turns: Sequence[Turn]) -> list[RecordedTurn]:
    """Runs ``turns`` in one loop (so ``reuse`` turns see the previous turns' cache) and records them."""
    recorder = _Recorder(decoder)
    loop = GenerationLoop(recorder, text)
    recorded = []
    for turn in turns:
        recorder.calls = []
        try:
            result = loop.generate(turn.prompt, turn.config, turn.criteria, reuse_cache=turn.reuse)
            recorded.append(RecordedTurn(turn, recorder.calls, result))
        except EmptyPromptError:
            recorded.append(RecordedTurn(turn, [], None, "empty_prompt"))
        except SamplingError:
            recorded.append(RecordedTurn(turn, [], None, "prompt_too_long"))
    # The stored top logits must give the same generation as the full rows did.
    replayer = _Replayer(decoder.spec, [c for r in recorded for c in r.calls])
    replay_loop = GenerationLoop(replayer, text)
    for item in recorded:
        if item.result is None:
            continue
        again = replay_loop.generate(item.turn.prompt, item.turn.config, item.turn.criteria, reuse_cache=item.turn.reuse)
        if (again.tokens, again.chunks, again.stop) != (item.result.tokens, item.result.chunks, item.result.stop):
            raise AssertionError(f"the top-{TOP_LOGITS} logits do not reproduce the generation of {item.turn}")
    return recorded


def file_text(cases: dict[str, list[RecordedTurn]], spec) -> str:
    lines = [HEADER]
    for name, turns in cases.items():
        lines.append(f"case {name} {spec.vocab_size} {spec.context_length} {int_list(list(spec.prefill_lengths))} {len(turns)}")
        for item in turns:
            t, c, cr = item.turn, item.turn.config, item.turn.criteria
            lines.append(f"turn {int_list(t.prompt)} {c.temperature!r} {c.top_k} {c.top_p!r} {c.repetition_penalty!r} "
                         f"{c.seed & MASK64} {cr.max_new_tokens} {int_list(sorted(cr.stop_token_ids))} "
                         f"{hex_list(cr.stop_strings)} {int(t.reuse)} {len(item.calls)}")
            for call in item.calls:
                pairs = " ".join(f"{i}:{struct.pack('>f', v).hex()}" for i, v in call.logits.items())
                lines.append(f"call {call.signature} {int_list(call.tokens)} {int_list(call.positions)} {call.row} "
                             f"{len(call.logits)} {pairs}".rstrip())
            if item.result is None:
                lines.append(f"expect !{item.error} - - 0")
            else:
                r = item.result
                lines.append(f"expect {r.stop} {hex_list(r.chunks)} {int_list(r.tokens)} {r.reused_tokens}")
    return "\n".join(lines) + "\n"


# -- the cases every generated SDK replays -------------------------------------------------------------

CHAT_QUESTION = "What is the capital of France?"
CHAT_FOLLOW_UP = "And of Italy? Answer in one word, please."
RAW_PROMPT = "The quick brown fox"


def standard_cases(decoder: StepDecoder, text: TokenText, encode, render_chat, stop_ids: Sequence[int],
                   new_tokens: int = 24) -> dict[str, list[RecordedTurn]]:
    """Greedy and seeded chat, a stop string spanning tokens, a two-turn session reusing its cache,
    a full context, and the two prompts that must fail (empty, longer than the context).

    ``encode(text, special)`` is the model's tokenizer (``special``: add BOS and the like), and
    ``render_chat(messages)`` its chat template with the generation prompt.
    """
    context = decoder.spec.context_length
    stops = frozenset(stop_ids)
    greedy = SamplerConfig()
    seeded = SamplerConfig(temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.1, seed=20261129)
    ask = [{"role": "user", "content": CHAT_QUESTION}]
    chat_prompt = encode(render_chat(ask), False)
    raw_prompt = encode(RAW_PROMPT, True)
    cases = {
        "greedy_chat": record(decoder, text, [Turn(chat_prompt, greedy, StopCriteria(stops, (), new_tokens))]),
        "seeded_raw": record(decoder, text, [Turn(raw_prompt, seeded, StopCriteria(stops, (), new_tokens))]),
    }
    cases["stop_string"] = record(decoder, text, [Turn(raw_prompt, greedy, StopCriteria(
        stops, (_spanning_stop_string(decoder, text, raw_prompt, new_tokens),), new_tokens))])
    first = cases["greedy_chat"][0].result
    follow_up = ask + [{"role": "assistant", "content": first.text}, {"role": "user", "content": CHAT_FOLLOW_UP}]
    cases["session"] = record(decoder, text, [
        Turn(chat_prompt, greedy, StopCriteria(stops, (), new_tokens)),
        Turn(encode(render_chat(follow_up), False), greedy, StopCriteria(stops, (), new_tokens), reuse=True),
    ])
    filler = (encode(" ".join([RAW_PROMPT] * (context // 2)), True) * 2)[: context - 3]
    cases["context_full"] = record(decoder, text, [Turn(filler, greedy, StopCriteria(frozenset(), (), 3 * new_tokens))])
    cases["hostile_prompts"] = record(decoder, text, [
        Turn([], greedy, StopCriteria(stops, (), new_tokens)),
        Turn((filler * 2)[: context + 1], greedy, StopCriteria(stops, (), new_tokens)),
    ])
    return cases


def _spanning_stop_string(decoder: StepDecoder, text: TokenText, prompt: list[int], new_tokens: int) -> str:
    """A stop string made of the end of one generated token and the start of the next (greedy run)."""
    run = GenerationLoop(decoder, text).generate(prompt, SamplerConfig(), StopCriteria(frozenset(), (), new_tokens))
    pieces = [text.bytes_of(t).decode("utf-8", "replace") for t in run.tokens]
    for i in range(2, len(pieces) - 1):
        left, right = pieces[i].rstrip(), pieces[i + 1]
        candidate = left[-2:] + right[:2] if pieces[i] == left else ""
        if len(left) >= 2 and len(right) >= 2 and candidate and candidate not in "".join(pieces[:i]) + left:
            return candidate
    return "".join(pieces)[-3:] or "\n"
