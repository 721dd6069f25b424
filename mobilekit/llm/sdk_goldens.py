"""The golden file that proves Kotlin and Swift sample, stop and render prompts as Python does.

A line-based text file (no JSON: the JVM tests have no JSON library), read by
templates/android/llm_test/LlmGoldenFile.kt and templates/ios/llm_test/LlmGoldenFile.swift.
Numbers that must be exact travel as bits, text as UTF-8 hex, so nothing is re-parsed or re-encoded:

    mobilekit-llm-goldens 1
    rng <seed u64> <n> <u64 decimal> x n                  SplitMix64.next_u64 from that seed
    unit <seed u64> <n> <hex64> x n                        SplitMix64.next_double bits
    exp <hex64 x> <hex64 det_exp(x)>
    logits <name> <vocab> <steps>                          followed by <steps> lines of <vocab> hex32 floats
    sample <case> <logits> <temperature> <top_k> <top_p> <penalty> <seed u64> <prompt ids> <tokens | !>
    chat <case> <shape> <generation 0|1> <thinking -|0|1> <messages> <expected hex | !>
    msg <system|user|assistant> <hex>                      <messages> lines after each chat line
    stop <case> <prompt tokens> <context> <max new> <stop ids> <stop strings hex> <events>
    event <token> <hex>                                    <events> lines, then:
    expect <reason> <chunks hex> <tokens accepted>

Lists are comma-separated, "-" when empty; an empty string is "_". Doubles of configs are Python
reprs (shortest round-trip text, which Kotlin's toDouble and Swift's Double(_:) parse exactly).
A sample case replays <logits> step by step (previous tokens = prompt + tokens picked so far);
"!" means the first step must fail (no usable logits).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

from mobilekit.llm.chat_template import ChatRenderError, ChatTemplateShape, render
from mobilekit.llm.sampling import (MASK64, SamplerConfig, SamplingError, SplitMix64, StopCriteria, StopTracker,
                                    det_exp, sample)

HEADER = "mobilekit-llm-goldens 1"
GOLDEN_FILE = "sampling_chat_goldens.txt"


def hex_text(text: str) -> str:
    return text.encode("utf-8").hex() if text else "_"


def unhex_text(field: str) -> str:
    return "" if field == "_" else bytes.fromhex(field).decode("utf-8")


def hex_list(texts: Sequence[str]) -> str:
    return ",".join(hex_text(t) for t in texts) if texts else "-"


def int_list(values: Sequence[int]) -> str:
    return ",".join(str(v) for v in values) if values else "-"


def f32_hex(value: float) -> str:
    return struct.pack(">f", value).hex()


def f64_hex(value: float) -> str:
    return struct.pack(">d", value).hex()


@dataclass
class SampleCase:
    name: str
    logits: str  # name of a logits block
    config: SamplerConfig
    prompt: list[int]
    tokens: list[int] | None  # None: the first step fails


@dataclass
class ChatCase:
    name: str
    shape: str  # name of a shape the test code can look up
    messages: list[tuple[str, str]]
    generation: bool
    thinking: bool | None
    expected: str | None  # None: rendering fails


@dataclass
class StopCase:
    name: str
    prompt_tokens: int
    context_length: int
    criteria: StopCriteria
    events: list[tuple[int, str]]
    reason: str | None = None
    chunks: list[str] | None = None
    accepted: int = 0


def replay_sample(case: SampleCase, steps: Sequence[Sequence[float]]) -> list[int] | None:
    """The tokens Python picks for a case (None when the first step has no usable logits)."""
    rng, picked = case.config.rng(), []
    for logits in steps:
        try:
            picked.append(sample(logits, case.prompt + picked, case.config, rng))
        except SamplingError:
            if picked:
                raise
            return None
    return picked


def replay_stop(case: StopCase) -> tuple[str | None, list[str], int]:
    """(reason, emitted chunks, tokens accepted) for a stop case; None when the events run out first."""
    tracker = StopTracker(case.criteria, case.prompt_tokens, case.context_length)
    chunks = []
    for token, delta in case.events:
        step = tracker.accept(token, delta)
        chunks.append(step.text)
        if step.stop:
            return step.stop, chunks, tracker.generated
    return None, chunks, tracker.generated


def write_goldens(*, logits: dict[str, list[list[float]]], samples: Sequence[SampleCase], chats: Sequence[ChatCase],
                  stops: Sequence[StopCase], rng_seeds: Sequence[int], exp_inputs: Sequence[float]) -> str:
    lines = [HEADER]
    for seed in rng_seeds:
        rng = SplitMix64(seed)
        lines.append(f"rng {seed & MASK64} 8 " + " ".join(str(rng.next_u64()) for _ in range(8)))
        rng = SplitMix64(seed)
        lines.append(f"unit {seed & MASK64} 8 " + " ".join(f64_hex(rng.next_double()) for _ in range(8)))
    lines += [f"exp {f64_hex(x)} {f64_hex(det_exp(x))}" for x in exp_inputs]
    for name, steps in logits.items():
        lines.append(f"logits {name} {len(steps[0])} {len(steps)}")
        lines += [" ".join(f32_hex(v) for v in step) for step in steps]
    for case in samples:
        c = case.config
        tokens = "!" if case.tokens is None else int_list(case.tokens)
        lines.append(f"sample {case.name} {case.logits} {c.temperature!r} {c.top_k} {c.top_p!r} {c.repetition_penalty!r} "
                     f"{c.seed & MASK64} {int_list(case.prompt)} {tokens}")
    for case in chats:
        thinking = "-" if case.thinking is None else str(int(case.thinking))
        expected = "!" if case.expected is None else hex_text(case.expected)
        lines.append(f"chat {case.name} {case.shape} {int(case.generation)} {thinking} {len(case.messages)} {expected}")
        lines += [f"msg {role} {hex_text(content)}" for role, content in case.messages]
    for case in stops:
        cr = case.criteria
        lines.append(f"stop {case.name} {case.prompt_tokens} {case.context_length} {cr.max_new_tokens} "
                     f"{int_list(sorted(cr.stop_token_ids))} {hex_list(cr.stop_strings)} {len(case.events)}")
        lines += [f"event {token} {hex_text(delta)}" for token, delta in case.events]
        lines.append(f"expect {case.reason or '-'} {hex_list(case.chunks or [])} {case.accepted}")
    return "\n".join(lines) + "\n"


def python_chat(shape: ChatTemplateShape, case: ChatCase) -> str | None:
    try:
        return render(shape, [dict(role=r, content=c) for r, c in case.messages], case.generation, case.thinking)
    except ChatRenderError:
        return None
