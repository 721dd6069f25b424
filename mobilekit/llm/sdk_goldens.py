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
RNG_SEEDS = (0, 1, 42, 2**63, 2**64 - 1, 0x9E3779B97F4A7C15)
EXP_INPUTS = (0.0, -0.0, -1e-300, -1e-17, -0.34657359027997264, -0.3465735902799727, -0.5, -1.0, -0.6931471805599453,
              -10.0, -29.999999999999996, -30.0, -100.0, -700.0, -708.0, -708.0000000000001, -745.0)

# Conversations every chat-template golden set renders: system prompts, several turns, unicode,
# empty messages, whitespace Jinja's trim sees, template syntax typed as text, roles out of order.
CONVERSATIONS: dict[str, list[tuple[str, str]]] = {
    "user_only": [("user", "Hello!")],
    "system_user": [("system", "You are terse."), ("user", "Hi")],
    "multi_turn": [("system", "Be brief."), ("user", "What is 2+2?"), ("assistant", "4."), ("user", "And 3+3?"),
                   ("assistant", "6."), ("user", "Thanks")],
    "no_system_turns": [("user", "one"), ("assistant", "two"), ("user", "three")],
    "unicode": [("system", "R\u00e9ponds en fran\u00e7ais \U0001F1EB\U0001F1F7"),
                ("user", "\u65e5\u672c\u8a9e \U0001F600 \u05e2\u05d1\u05e8\u05d9\u05ea e\u0301 \u200b\u202e end"),
                ("assistant", "\u00e7a va \u2713"), ("user", "\U0001D518\U0001D52B \U0001F44D\U0001F3FD \uFEFF")],
    "empty_message": [("user", "")],
    "empty_system_and_user": [("system", ""), ("user", "")],
    "whitespace": [("user", "  padded\t\n"), ("assistant", "\u3000 wide \u00a0\u2009"), ("user", "\u0085x\u001c \u200b")],
    "special_text": [("user", "<|im_start|>assistant\n<end_of_turn>{{ bos_token }}{% if x %}<bos>")],
    "newlines": [("user", "\n\nline1\r\nline2\n\n")],
    "system_only": [("system", "only a system prompt")],
    "system_late": [("user", "q"), ("assistant", "a"), ("system", "late"), ("user", "q2")],
    "assistant_first": [("assistant", "hi"), ("user", "x")],
    "think_history": [("user", "q"), ("assistant", "<think>\nplan\n</think>\n\nanswer"), ("user", "q2")],
    "think_last": [("user", "q"), ("assistant", "<think>r</think>\n\nfinal")],
    "think_combining": [("user", "q"), ("assistant", "<think>x</think>\u0301y")],
    "tool_response_user": [("user", "q"), ("assistant", "a"), ("user", "<tool_response>r</tool_response>"),
                           ("assistant", "partial</think>tail")],
    "long": [("user", "a long message \u00e9 " * 150)],
}

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


# -- sampler cases every SDK replays --------------------------------------------------------------------

CONFIGS: dict[str, SamplerConfig] = {
    "greedy": SamplerConfig(),
    "greedy_penalty": SamplerConfig(repetition_penalty=1.3),
    "t1_seed0": SamplerConfig(temperature=1.0, seed=0),
    "t1_seed1": SamplerConfig(temperature=1.0, seed=1),
    "t1_seed42": SamplerConfig(temperature=1.0, seed=42),
    "t07": SamplerConfig(temperature=0.7, seed=3),
    "t15": SamplerConfig(temperature=1.5, seed=4),
    "t005": SamplerConfig(temperature=0.05, seed=5),
    "topk1": SamplerConfig(temperature=1.0, top_k=1, seed=6),
    "topk5": SamplerConfig(temperature=0.8, top_k=5, seed=7),
    "topk40": SamplerConfig(temperature=1.0, top_k=40, seed=8),
    "topp09": SamplerConfig(temperature=1.0, top_p=0.9, seed=9),
    "topp05": SamplerConfig(temperature=1.2, top_p=0.5, seed=10),
    "topp001": SamplerConfig(temperature=1.0, top_p=0.01, seed=11),
    "penalty15": SamplerConfig(temperature=0.9, repetition_penalty=1.5, seed=12),
    "penalty08": SamplerConfig(temperature=1.0, repetition_penalty=0.8, seed=13),
    "combined_seed0": SamplerConfig(temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.1, seed=0),
    "combined_seed7": SamplerConfig(temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.1, seed=7),
    "combined_seed_max": SamplerConfig(temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.1, seed=2**64 - 1),
    "combined_seed_2p63": SamplerConfig(temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.1, seed=2**63),
    "combined_seed_neg": SamplerConfig(temperature=1.3, top_k=3, top_p=0.7, repetition_penalty=1.2, seed=-5),
}

def random_logits() -> dict[str, list[list[float]]]:
    """Seeded logits with the hard cases: ties, -0.0, NaN, +-inf, float32 extremes, subnormals."""
    import numpy as np

    rs = np.random.RandomState(1234)
    blocks = {
        "rand64": (rs.standard_normal((24, 64)) * 3).astype(np.float32),
        "rand1000": np.round(rs.standard_normal((10, 1000)) * 2, 1).astype(np.float32),  # many ties
        "peaked": (rs.standard_normal((8, 128)) + np.eye(8, 128, 5) * 20).astype(np.float32),
    }
    ties = rs.choice(np.array([0.0, -0.0, 1.0, 2.0, 2.0, -np.inf, np.nan], dtype=np.float32), size=(12, 32))
    ties[:, 7] = 2.0  # always a tie at the top
    blocks["ties"] = ties
    extreme = (rs.standard_normal((6, 16)) * 1e30).astype(np.float32)
    extreme[0, 3], extreme[1, :] = np.inf, np.float32(1e-40)  # +inf, and all subnormal
    extreme[2, 4], extreme[3, 9] = np.finfo(np.float32).max, -np.finfo(np.float32).max
    blocks["extreme"] = extreme
    blocks["all_nan"] = np.full((1, 8), np.nan, dtype=np.float32)
    return {name: [[float(v) for v in row] for row in block] for name, block in blocks.items()}


def standard_sample_cases() -> tuple[dict[str, list[list[float]]], list[SampleCase]]:
    """Every config on every random block (greedy and one seed only on the all-NaN one)."""
    logits, cases = random_logits(), []
    for block, steps in logits.items():
        vocab = len(steps[0])
        prompt = [t % vocab for t in (3, 5, 5, 17, 2, 7)]
        names = ("greedy", "t1_seed0") if block == "all_nan" else CONFIGS
        for config_name in names:
            case = SampleCase(f"{block}.{config_name}", block, CONFIGS[config_name], prompt, None)
            case.tokens = replay_sample(case, steps)
            cases.append(case)
    return logits, cases


def standard_stop_cases() -> list[StopCase]:
    """Stop rules on hand-made token streams (one piece of text per token; no tokenizer needed)."""
    chars = lambda text: [(100 + i, ch) for i, ch in enumerate(text)]  # noqa: E731 - one token per character
    spec = [
        ("earliest_wins", chars("say hello world"), StopCriteria(stop_strings=["world", "hello"]), 1, 64),
        ("overlapping", chars("xabce"), StopCriteria(stop_strings=["abcd", "bc"]), 1, 64),
        ("repeated_prefix", chars("aaab tail"), StopCriteria(stop_strings=["aab"]), 1, 64),
        ("combining_mark", [(1, "ca"), (2, "fe"), (3, "\u0301 ok")], StopCriteria(stop_strings=["cafe"]), 1, 64),
        ("in_first_delta", [(1, "xyEND tail"), (2, "more")], StopCriteria(stop_strings=["END"]), 1, 64),
        ("ran_out", chars("no stop here"), StopCriteria(stop_strings=["zz", "ere!"]), 1, 64),
        ("empty_deltas", [(1, ""), (2, "E"), (3, ""), (4, "N"), (5, "D")], StopCriteria(stop_strings=["END"]), 1, 64),
        ("stop_token", chars("ab") + [(7, "")] + chars("cd"), StopCriteria({7}, ["zzz"], 100), 1, 64),
        ("max_new_tokens", chars("abcdefgh"), StopCriteria(stop_strings=["zzz"], max_new_tokens=5), 1, 64),
        ("context_full", chars("abcdefgh"), StopCriteria(stop_strings=["gh"], max_new_tokens=100), 10, 14),
        ("emoji_held_back", [(1, "smile \U0001F642"), (2, " ok"), (3, "\U0001F642!")], StopCriteria(stop_strings=["\U0001F642!"]), 1, 64),
    ]
    return stop_cases_from(spec)


def stop_cases_from(spec) -> list[StopCase]:
    """(name, events, criteria, prompt tokens, context length) rows -> cases with Python's outcome."""
    cases = []
    for name, events, criteria, prompt, context in spec:
        case = StopCase(name, prompt, context, criteria, events)
        case.reason, case.chunks, case.accepted = replay_stop(case)
        cases.append(case)
    return cases


def model_chat_cases(tokenizer, shape_name: str = "model") -> list[ChatCase]:
    """CONVERSATIONS rendered by the model's own tokenizer (transformers' apply_chat_template), with
    and without the generation prompt; None where the template refuses a conversation."""
    cases = []
    for conv_name, messages in CONVERSATIONS.items():
        for generation in (True, False):
            try:
                expected = tokenizer.apply_chat_template([dict(role=r, content=c) for r, c in messages], tokenize=False,
                                                         add_generation_prompt=generation)
            except Exception:  # noqa: BLE001 - the template refuses the conversation: so must the SDK
                expected = None
            cases.append(ChatCase(f"{conv_name}.{'gen' if generation else 'nogen'}", shape_name, list(messages),
                                  generation, None, expected))
    return cases
