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

import os
from pathlib import Path

import numpy as np

from mobilekit.llm.chat_template import recognise_template
from mobilekit.llm.sampling import StopCriteria, det_exp
from mobilekit.llm.sdk_goldens import (CONFIGS, CONVERSATIONS, EXP_INPUTS, RNG_SEEDS, ChatCase, SampleCase, StopCase, replay_sample,
                                       standard_sample_cases, standard_stop_cases, stop_cases_from, write_goldens)

TEMPLATE_DIR = Path(__file__).resolve().parent / "chat_templates"
SMOLLM2_DIR = Path(os.environ.get("MOBILEKIT_HOME", Path.home() / ".cache" / "mobilekit")) / "models" / "SmolLM2-135M-Instruct"

HOSTILE_SYSTEM = 'Say "hi" $x ${y} \\ it\'s */ /* \U0001F600 \u202e\u0301 caf\u00e9\n2nd line\t'


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

MODEL_CONFIGS = ("greedy", "greedy_penalty", "t1_seed0", "t1_seed42", "t07", "topk5", "topp09", "penalty15",
                 "combined_seed0", "combined_seed_max")


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
    logits, cases = standard_sample_cases()
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
    ]
    return stop_cases_from(spec) + standard_stop_cases()  # plus the hand-made streams every SDK replays


def exp_inputs() -> list[float]:
    rs = np.random.RandomState(7)
    return list(EXP_INPUTS) + [float(v) for v in -rs.random_sample(300) * 40] + [float(v) for v in -rs.random_sample(50) * 1e-6]


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
                         rng_seeds=RNG_SEEDS, exp_inputs=exp_inputs())
    return {"text": text, "shapes": shapes, "chats": chats, "samples": samples, "logits": logits, "stops": stops,
            "exp_inputs": exp_inputs(), "det_exp": det_exp}
