"""Chat / instruction data for causal LMs: reading the JSONL file, rendering it with the model's own
chat template, and labels that train on the assistant's tokens only.

Each line of the file is one conversation, in either shape:

    {"messages": [{"role": "system" | "user" | "assistant", "content": "..."}, ...]}
    {"prompt": "...", "completion": "..."}          (a user turn and the assistant's reply)

Labels follow the Hugging Face convention (aligned with ``input_ids``; the model shifts them):
the token ids of what the assistant says, the end-of-turn marker included, and -100 everywhere
else. Which tokens those are is found by rendering the conversation up to each assistant turn
twice, with the generation prompt and with the turn, and taking the tokens in between; templates
that rewrite earlier turns (Qwen3 drops old reasoning) fall back to character offsets.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from mobilekit.errors import ModelInputError

ROLES = ("system", "user", "assistant")
IGNORE = -100  # the label torch's cross-entropy skips
MAX_SHOWN = 10
LINE_FORMAT = ('each line must be {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]} '
               'or {"prompt": "...", "completion": "..."}')


@dataclass(frozen=True)
class Conversation:
    messages: tuple[dict, ...]  # {"role", "content"} only, validated
    line: int


@dataclass(frozen=True)
class ChatExample:
    input_ids: list[int]
    labels: list[int]  # -100 outside the assistant's turns
    line: int
    truncated: bool = False

    @property
    def supervised_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels[1:])  # the first token is never predicted


def read_chat_jsonl(path: Path) -> list[Conversation]:
    """Every conversation of the file, or one ModelInputError listing the bad lines."""
    path = Path(path)
    content = _read_text(path)
    conversations, problems = [], []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        messages, problem = _parse_line(line)
        if problem:
            problems.append((number, problem))
        else:
            conversations.append(Conversation(tuple(messages), number))
    _raise_problems(path, problems)
    if not conversations:
        raise ModelInputError(f"{path} is empty", hint=f"it needs at least one conversation; {LINE_FORMAT}")
    return conversations


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise ModelInputError(f"chat data file {path} does not exist", hint="point data.path at a .jsonl file of conversations")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ModelInputError(f"{path} is not UTF-8 text (invalid byte 0x{raw[e.start]:02x} on line {line})",
                              hint="re-save it as UTF-8 (for example: iconv -f latin1 -t utf-8 in > out)") from e


def _parse_line(line: str) -> tuple[list[dict] | None, str | None]:
    """(messages, None) or (None, what is wrong and how to fix it)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        return None, f"not valid JSON ({e.msg} at column {e.colno}); write one JSON object per line"
    if not isinstance(row, dict):
        return None, f"a JSON {type(row).__name__}, not an object; {LINE_FORMAT}"
    if "messages" in row:
        return _check_messages(row["messages"])
    if "prompt" in row or "completion" in row:
        for key in ("prompt", "completion"):
            if not isinstance(row.get(key), str):
                got = "missing" if key not in row else f"a {type(row[key]).__name__}"
                return None, f"{key!r} is {got}; prompt and completion must both be strings"
        return [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}], None
    keys = ", ".join(map(repr, row)) or "no keys"
    return None, f"has neither 'messages' nor 'prompt'/'completion' (it has {keys}); {LINE_FORMAT}"


def _check_messages(messages) -> tuple[list[dict] | None, str | None]:
    if not isinstance(messages, list) or not messages:
        return None, "'messages' must be a non-empty list of {\"role\": ..., \"content\": ...} objects"
    clean = []
    for i, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            return None, f"message {i} is a {type(message).__name__}, not an object with 'role' and 'content'"
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            return None, f"message {i} has role {role!r}; use one of {', '.join(ROLES)}"
        if not isinstance(content, str):
            got = "missing" if "content" not in message else f"a {type(content).__name__}"
            return None, f"message {i} content is {got}; content must be a string"
        clean.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in clean):
        return None, "no assistant message; add the reply the model should learn ({\"role\": \"assistant\", ...})"
    return clean, None


def _raise_problems(path: Path, problems: list[tuple[int, str]]) -> None:
    if not problems:
        return
    shown = "\n".join(f"  line {number}: {problem}" for number, problem in problems[:MAX_SHOWN])
    more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
    first = problems[0][0]
    raise ModelInputError(
        f"{path} has {len(problems)} unusable line{'s' if len(problems) > 1 else ''} (first: line {first}):\n{shown}{more}",
        hint=f"fix or remove those lines; {LINE_FORMAT}",
    )


def load_chat_tokenizer(model_dir: Path):
    """The folder's tokenizer; it must carry a chat template (the format the model was tuned on)."""
    from mobilekit.compress.folders import load_tokenizer

    tokenizer = load_tokenizer(Path(model_dir))
    if not getattr(tokenizer, "chat_template", None):
        raise ModelInputError(
            f"{model_dir} has no chat template, so chat data cannot be rendered the way the model expects",
            hint="use the instruction-tuned variant of the model (it ships chat_template.jinja or a chat_template in "
                 "tokenizer_config.json), or set tokenizer.chat_template and save_pretrained() the tokenizer into the folder",
        )
    return tokenizer


def encode_chat(tokenizer, conversations: list[Conversation], max_length: int, *, path: Path | None = None) -> list[ChatExample]:
    """Token ids and assistant-only labels of every conversation, cut to ``max_length`` tokens.
    A conversation the template rejects, or whose replies it does not render, is a bad line."""
    examples, problems = [], []
    for conversation in conversations:
        try:
            examples.append(encode_conversation(tokenizer, conversation, max_length))
        except _TemplateProblem as e:
            problems.append((conversation.line, str(e)))
    _raise_problems(Path(path or "the chat data"), problems)
    return examples


def load_chat_examples(path: Path, tokenizer, max_length: int) -> list[ChatExample]:
    return encode_chat(tokenizer, read_chat_jsonl(path), max_length, path=path)


class _TemplateProblem(Exception):
    pass


def render(tokenizer, messages, *, generation_prompt: bool) -> str:
    try:
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)
    except Exception as e:  # jinja's raise_exception (e.g. "roles must alternate") or a template bug
        raise _TemplateProblem(f"the model's chat template rejects this conversation: {str(e).splitlines()[0][:200]}") from e


def encode_conversation(tokenizer, conversation: Conversation, max_length: int) -> ChatExample:
    messages = conversation.messages
    full = render(tokenizer, messages, generation_prompt=False)
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)  # the template adds BOS etc.
    ids, offsets = list(encoded["input_ids"]), [tuple(o) for o in encoded["offset_mapping"]]
    labels = [IGNORE] * len(ids)
    cursor = 0  # where the previous reply ended (characters), for the content-search fallback
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        span = _token_span(tokenizer, messages, i, ids)
        if span is None:
            chars = _char_span(tokenizer, messages, i, full, cursor)
            if chars is None:
                continue
            cursor = chars[1]
            span = [t for t, (s, e) in enumerate(offsets) if s < chars[1] and max(e, s + 1) > chars[0]]
        for t in span:
            labels[t] = ids[t]
    if all(label == IGNORE for label in labels):
        raise _TemplateProblem("the chat template does not render the assistant's reply verbatim, "
                               "so there is nothing to train on; check the template or the message content")
    truncated = len(ids) > max_length
    return ChatExample(ids[:max_length], labels[:max_length], conversation.line, truncated)


def _token_span(tokenizer, messages, i: int, ids: list[int]) -> range | None:
    """Tokens between "up to turn i, generation prompt" and "up to and with turn i", when both
    tokenize to prefixes of the whole conversation (the usual case)."""
    if i == 0:
        return None
    try:
        before = render(tokenizer, messages[:i], generation_prompt=True)
        upto = render(tokenizer, messages[: i + 1], generation_prompt=False)
    except _TemplateProblem:
        return None  # some templates refuse a conversation that ends on a user turn
    start = tokenizer(before, add_special_tokens=False)["input_ids"]
    end = tokenizer(upto, add_special_tokens=False)["input_ids"]
    if ids[: len(start)] != list(start) or ids[: len(end)] != list(end) or len(end) <= len(start):
        return None
    return range(len(start), len(end))


def _char_span(tokenizer, messages, i: int, full: str, cursor: int) -> tuple[int, int] | None:
    """Characters of turn i in ``full``: by rendered prefixes when they are prefixes of it, else
    where the reply's text occurs after the previous reply (plus the end-of-turn text after it)."""
    content = messages[i]["content"]
    try:
        before = render(tokenizer, messages[:i], generation_prompt=True) if i else ""
        upto = render(tokenizer, messages[: i + 1], generation_prompt=False)
    except _TemplateProblem:
        before = upto = None
    if before is not None and full.startswith(upto) and upto.startswith(before) and len(upto) > len(before) >= cursor:
        return len(before), len(upto)
    content = content if content in full[cursor:] else content.strip()  # some templates strip the content
    start = full.find(content, cursor) if content else -1
    if start < 0:
        return None
    end = start + len(content)
    if upto is not None and content in upto:
        tail = upto[upto.rfind(content) + len(content):]  # e.g. "<|im_end|>\n": the model must learn to stop
        if tail and full.startswith(tail, end):
            end += len(tail)
    return start, end


def split(examples: list, validation_fraction: float, test_fraction: float, seed: int) -> tuple[list, list, list]:
    """(train, validation, test), the same every run for a seed: shuffled, then test and validation
    cut off the front. With 3 or more examples a part whose fraction is above 0 gets at least one,
    and training keeps at least one."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n = len(order)
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * validation_fraction))
    if n >= 3:
        n_test = max(n_test, 1) if test_fraction > 0 else 0
        n_val = max(n_val, 1) if validation_fraction > 0 else 0
        while n_test + n_val > n - 1:  # leave something to train on
            if n_test >= n_val:
                n_test -= 1
            else:
                n_val -= 1
    test = sorted(order[:n_test])
    validation = sorted(order[n_test : n_test + n_val])
    train = sorted(order[n_test + n_val :])
    return [examples[i] for i in train], [examples[i] for i in validation], [examples[i] for i in test]
