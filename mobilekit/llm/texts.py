"""The held-out text causal-LM checks run on: perplexity texts and greedy prompts.

In order of preference: the test split of [data] (chat JSONL: each conversation rendered with the
model's chat template; the prompt is the conversation up to its last assistant turn, with the
generation prompt), then verify.texts_path, then data.unlabelled_path (its last lines, which
distillation never trains on), then mobilekit's built-in sentences. Plain-text prompts are the
first half of each text's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mobilekit.config import Config

HELD_OUT_UNLABELLED = 0.1  # the tail of data.unlabelled_path kept for checks (see distill)


@dataclass(frozen=True)
class EvalTexts:
    texts: list[list[int]]  # token ids of each perplexity text
    prompts: list[list[int]]  # token ids of each greedy prompt
    source: str


def unlabelled_split(lines: list[str]) -> tuple[list[str], list[str]]:
    """(training lines, held-out lines): the last 10% (at least one line) is never trained on."""
    held = max(1, int(len(lines) * HELD_OUT_UNLABELLED)) if len(lines) > 1 else 0
    return lines[: len(lines) - held], lines[len(lines) - held:]


def eval_texts(config: Config, inputs: dict[str, Path], tokenizer, *, window: int, limit: int, prompts: int) -> EvalTexts:
    from mobilekit.data import read_examples
    from mobilekit.samples import builtin_texts

    if "data" in inputs:
        return _chat_texts(config, inputs["data"], tokenizer, window=window, limit=limit, prompts=prompts)
    if "verify_texts" in inputs:
        lines, source = [e.text for e in read_examples(inputs["verify_texts"], fmt="text")], inputs["verify_texts"].name
    elif "unlabelled" in inputs:
        lines = unlabelled_split([e.text for e in read_examples(inputs["unlabelled"], fmt="text")])[1]
        source = f"held-out tail of {inputs['unlabelled'].name}"
    else:
        lines, source = builtin_texts(), "mobilekit's built-in sample sentences"
    encoded = [ids[:window] for ids in (tokenizer(line, add_special_tokens=False).input_ids for line in lines) if len(ids) >= 4]
    texts = encoded[:limit]
    return EvalTexts(texts=texts, prompts=[ids[: max(2, len(ids) // 2)] for ids in texts[:prompts]], source=source)


def conversation_splits(config: Config, path: Path) -> tuple[list, list, list]:
    """(train, validation, test) conversations of the chat JSONL at ``path``, as message lists,
    split as [data] says (the split LoRA uses too)."""
    from mobilekit.llm.chat_data import read_chat_jsonl, split

    conversations = [list(c.messages) for c in read_chat_jsonl(path)]
    data = config.data
    return split(conversations, data.validation_fraction, data.test_fraction, data.seed)


def _chat_texts(config: Config, path: Path, tokenizer, *, window: int, limit: int, prompts: int) -> EvalTexts:
    from mobilekit.llm.chat_data import render

    train, validation, test = conversation_splits(config, path)
    chosen = test or train + validation + test

    def encode(text: str) -> list[int]:  # the template already holds the special tokens
        return tokenizer(text, add_special_tokens=False).input_ids

    texts = [encode(render(tokenizer, messages, generation_prompt=False))[:window] for messages in chosen[:limit]]
    prompt_ids = []
    for messages in chosen[:prompts]:
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        prompt_ids.append(encode(render(tokenizer, messages[:last], generation_prompt=True))[-window:])
    return EvalTexts(texts=texts, prompts=prompt_ids, source=f"test split of {path.name}")
