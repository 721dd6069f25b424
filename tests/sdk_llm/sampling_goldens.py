"""The goldens Kotlin and Swift are held to: chat prompts rendered by transformers' apply_chat_template,
tokens picked by mobilekit.llm.sampling from random and tiny-model logits, and stop decisions.

Chat templates (tests/sdk_llm/chat_templates, copied from the models' published templates):
- qwen2_5.jinja: Qwen/Qwen2.5-*-Instruct tokenizer_config.json "chat_template", as quoted in a public
  GitHub file (code search, id 4110410369) and identical to the copy read out of the official
  Qwen2.5-0.5B-Instruct GGUF in a jinja test fixture (id 58484938303) on every chat path;
- qwen3.jinja: llama.cpp's models/templates/Qwen-Qwen3-0.6B.jinja (copy in ye-NX/llama.cpp at
  b354d7c9ecb76c97c07098617cdebbdfffa2583e, CRLF line ends normalised), the Qwen/Qwen3-0.6B template;
- gemma3.jinja: the google/gemma-3-*-it template, as several public copies agree (ids 67454395611,
  71645989142, 65772853653);
- SmolLM2's real template from ~/.cache/mobilekit/models/SmolLM2-135M-Instruct (setup: smollm2), and
  the ChatML template of tests/tiny_lm.py.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from mobilekit.llm.chat_template import recognise_template
from mobilekit.llm.sampling import SamplerConfig, StopCriteria, det_exp
from mobilekit.llm.sdk_goldens import ChatCase, SampleCase, StopCase, replay_sample, replay_stop, write_goldens

TEMPLATE_DIR = Path(__file__).resolve().parent / "chat_templates"
SMOLLM2_DIR = Path(os.environ.get("MOBILEKIT_HOME", Path.home() / ".cache" / "mobilekit")) / "models" / "SmolLM2-135M-Instruct"

HOSTILE_SYSTEM = 'Say "hi" $x ${y} \\ it\'s */ /* \U0001F600 \u202e\u0301 caf\u00e9\n2nd line\t'
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


def chat_templates() -> dict[str, str]:
    from tests.tiny_lm import CHATML_TEMPLATE

    templates = {p.stem: p.read_text(encoding="utf-8") for p in sorted(TEMPLATE_DIR.glob("*.jinja"))}
    templates["tiny_chatml"] = CHATML_TEMPLATE
    # A default system prompt that generated Kotlin/Swift literals must carry unchanged.
    literal = HOSTILE_SYSTEM.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    templates["hostile_default"] = CHATML_TEMPLATE.replace("You are a helpful assistant.", literal)
    if (SMOLLM2_DIR / "chat_template.jinja").is_file():
        templates["smollm2"] = (SMOLLM2_DIR / "chat_template.jinja").read_text(encoding="utf-8")
    return templates


def tokenizers(folder: Path) -> dict[str, object]:
    """A tokenizer per template: SmolLM2's own, else the tiny one (with a Gemma-style bos for Gemma)."""
    from transformers import AutoTokenizer

    from tests.tiny_lm import tiny_tokenizer

    tiny = tiny_tokenizer(folder / "tiny")
    gemma = tiny_tokenizer(folder / "gemma")
    gemma.add_special_tokens({"bos_token": "<bos>"})
    out = {name: tiny for name in chat_templates()}
    out["gemma3"] = gemma
    if "smollm2" in out:
        out["smollm2"] = AutoTokenizer.from_pretrained(str(SMOLLM2_DIR))
    return out


def chat_cases(folder: Path):
    """(shapes by template name, chat cases rendered by apply_chat_template)."""
    shapes, cases = {}, []
    toks = tokenizers(folder)
    for name, template in chat_templates().items():
        tok = toks[name]
        shapes[name] = recognise_template(template, tok.special_tokens_map)
        for conv_name, messages in CONVERSATIONS.items():
            for generation in (True, False):
                for thinking in ((None, False) if name == "qwen3" else (None,)):
                    extra = {} if thinking is None else {"enable_thinking": thinking}
                    try:
                        expected = tok.apply_chat_template([dict(role=r, content=c) for r, c in messages], chat_template=template,
                                                           tokenize=False, add_generation_prompt=generation, **extra)
                    except Exception:  # noqa: BLE001 - the template refuses the conversation: so must the SDK
                        expected = None
                    suffix = f"{'gen' if generation else 'nogen'}{'' if thinking is None else '_nothink'}"
                    cases.append(ChatCase(f"{name}.{conv_name}.{suffix}", name, messages, generation, thinking, expected))
    return shapes, cases


# -- sampling --------------------------------------------------------------------------------------

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
MODEL_CONFIGS = ("greedy", "greedy_penalty", "t1_seed0", "t1_seed42", "t07", "topk5", "topp09", "penalty15",
                 "combined_seed0", "combined_seed_max")


def random_logits() -> dict[str, list[list[float]]]:
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


def model_runs(model_dir: Path, prompts: list[list[int]]):
    """Per (config, prompt): the logits the tiny model gives while Python samples 12 tokens."""
    import torch
    from transformers import AutoModelForCausalLM

    from mobilekit.llm.sampling import Sampler

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    runs = {}
    for config_name in MODEL_CONFIGS:
        for p, prompt in enumerate(prompts):
            sampler, ids, steps = Sampler(CONFIGS[config_name]), list(prompt), []
            for _ in range(12):
                with torch.no_grad():
                    logits = model(input_ids=torch.tensor([ids])).logits[0, -1].float().numpy()
                steps.append([float(v) for v in logits])
                ids.append(sampler.sample(steps[-1], ids))
            runs[(config_name, p)] = (prompt, steps)
    return runs


def sample_cases(model_runs_: dict) -> tuple[dict, list[SampleCase]]:
    logits, cases = random_logits(), []
    for block, steps in list(logits.items()):
        vocab = len(steps[0])
        prompt = [t % vocab for t in (3, 5, 5, 17, 2, 7)]
        names = ("greedy", "t1_seed0") if block == "all_nan" else CONFIGS
        for config_name in names:
            case = SampleCase(f"{block}.{config_name}", block, CONFIGS[config_name], prompt, None)
            case.tokens = replay_sample(case, steps)
            cases.append(case)
    for (config_name, p), (prompt, steps) in model_runs_.items():
        block = f"model_{config_name}_{p}"
        logits[block] = steps
        case = SampleCase(f"tiny_llama.{config_name}.prompt{p}", block, CONFIGS[config_name], prompt, None)
        case.tokens = replay_sample(case, steps)
        cases.append(case)
    return logits, cases


# -- stopping --------------------------------------------------------------------------------------


def token_deltas(tokenizer, text: str) -> list[tuple[int, str]]:
    """(token, new text) as a streaming decoder gives them: a token ending mid-character adds ""."""
    ids, events, shown = tokenizer(text, add_special_tokens=False).input_ids, [], ""
    for i, token in enumerate(ids):
        decoded = tokenizer.decode(ids[: i + 1])
        if decoded.endswith("\ufffd"):
            events.append((token, ""))
            continue
        events.append((token, decoded[len(shown):]))
        shown = decoded
    return events


def stop_cases(tokenizer) -> list[StopCase]:
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    story = token_deltas(tokenizer, "the cat sat on the mat. the dog sat on the rug. END of story")
    emoji = token_deltas(tokenizer, "smile \U0001F642 ok \u4e2d\u6587 caf\u00e9 \U0001F642! done")
    chars = lambda text: [(100 + i, ch) for i, ch in enumerate(text)]  # noqa: E731 - one token per character
    spec = [
        ("span_tokens", story, StopCriteria(stop_strings=["t on th"], max_new_tokens=100), 5, 512),
        ("end_word", story, StopCriteria(stop_strings=["END"], max_new_tokens=100), 5, 512),
        ("held_then_released", story, StopCriteria(stop_strings=["mat!"], max_new_tokens=100), 5, 512),
        ("stop_token", story[:6] + [(end, "")] + story[6:], StopCriteria({end}, ["zzz"], 100), 5, 512),
        ("stop_token_beats_max", story[:3] + [(end, "")], StopCriteria({end}, [], 4), 5, 512),
        ("max_new_tokens", story, StopCriteria(stop_strings=["zzz"], max_new_tokens=5), 5, 512),
        ("context_full", story, StopCriteria(stop_strings=["the m"], max_new_tokens=100), 10, 14),
        ("prompt_fills_context", story, StopCriteria(max_new_tokens=100), 8, 8),
        ("emoji_stop", emoji, StopCriteria(stop_strings=["\U0001F642!"], max_new_tokens=100), 3, 512),
        ("cjk_stop", emoji, StopCriteria(stop_strings=["\u6587 ca"], max_new_tokens=100), 3, 512),
        ("earliest_wins", chars("say hello world"), StopCriteria(stop_strings=["world", "hello"]), 1, 64),
        ("overlapping", chars("xabce"), StopCriteria(stop_strings=["abcd", "bc"]), 1, 64),
        ("repeated_prefix", chars("aaab tail"), StopCriteria(stop_strings=["aab"]), 1, 64),
        ("combining_mark", [(1, "ca"), (2, "fe"), (3, "\u0301 ok")], StopCriteria(stop_strings=["cafe"]), 1, 64),
        ("in_first_delta", [(1, "xyEND tail"), (2, "more")], StopCriteria(stop_strings=["END"]), 1, 64),
        ("ran_out", chars("no stop here"), StopCriteria(stop_strings=["zz", "ere!"]), 1, 64),
        ("empty_deltas", [(1, ""), (2, "E"), (3, ""), (4, "N"), (5, "D")], StopCriteria(stop_strings=["END"]), 1, 64),
    ]
    cases = []
    for name, events, criteria, prompt, context in spec:
        case = StopCase(name, prompt, context, criteria, events)
        case.reason, case.chunks, case.accepted = replay_stop(case)
        cases.append(case)
    return cases


EXP_INPUTS = [0.0, -0.0, -1e-300, -1e-17, -0.34657359027997264, -0.3465735902799727, -0.5, -1.0, -math.log(2),
              -10.0, -29.999999999999996, -30.0, -100.0, -700.0, -708.0, -708.0000000000001, -745.0]


def exp_inputs() -> list[float]:
    rs = np.random.RandomState(7)
    return EXP_INPUTS + [float(v) for v in -rs.random_sample(300) * 40] + [float(v) for v in -rs.random_sample(50) * 1e-6]


def build(folder: Path, model_dir: Path) -> dict:
    """Everything: the golden file text plus the Python objects it was written from."""
    from transformers import AutoTokenizer

    from tests.tiny_lm import CORPUS

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    prompts = [tokenizer(CORPUS[0][:20], add_special_tokens=False).input_ids,
               tokenizer(CORPUS[5][:30], add_special_tokens=False).input_ids]
    runs = model_runs(model_dir, prompts)
    logits, samples = sample_cases(runs)
    shapes, chats = chat_cases(folder)
    stops = stop_cases(tokenizer)
    text = write_goldens(logits=logits, samples=samples, chats=chats, stops=stops,
                         rng_seeds=[0, 1, 42, 2**63, 2**64 - 1, 0x9E3779B97F4A7C15], exp_inputs=exp_inputs())
    return {"text": text, "shapes": shapes, "chats": chats, "samples": samples, "logits": logits, "stops": stops,
            "exp_inputs": exp_inputs(), "det_exp": det_exp}
