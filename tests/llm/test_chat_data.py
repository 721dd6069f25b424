"""Chat JSONL: rendering with the model's template, assistant-only labels, bad lines, splits."""

from __future__ import annotations

import json

import pytest

from mobilekit.errors import ModelInputError
from mobilekit.llm.chat_data import (
    IGNORE,
    Conversation,
    encode_conversation,
    load_chat_examples,
    load_chat_tokenizer,
    read_chat_jsonl,
    split,
)
from tests.tiny_lm import tiny_tokenizer, write_chat_jsonl

# Qwen3's habit: only the last assistant turn gets an (empty) <think> block, so rendering a
# prefix of the conversation is not a prefix of rendering all of it.
THINKING_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'assistant' and loop.last %}"
    "{{ '<|im_start|>assistant\n<think>\n\n</think>\n\n' + message['content'] + '<|im_end|>\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
NO_SYSTEM_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}"
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    tiny_tokenizer(folder)
    return folder


@pytest.fixture(scope="module")
def tokenizer(folder):
    return load_chat_tokenizer(folder)


def supervised_text(tokenizer, example) -> str:
    return tokenizer.decode([t for t, label in zip(example.input_ids, example.labels) if label != IGNORE])


def conversation(*turns):
    return Conversation(tuple({"role": role, "content": content} for role, content in turns), line=1)


def write_lines(path, lines):
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def test_only_the_assistant_reply_and_its_end_marker_carry_labels(tokenizer):
    example = encode_conversation(tokenizer, conversation(("user", "what is 1 plus 2?"), ("assistant", "1 plus 2 is 3.")), 256)
    assert supervised_text(tokenizer, example) == "1 plus 2 is 3.<|im_end|>\n"
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "what is 1 plus 2?"},
                                              {"role": "assistant", "content": "1 plus 2 is 3."}], tokenize=False)
    assert tokenizer.decode(example.input_ids) == rendered  # the model's own template, nothing added
    first = example.labels.index(next(label for label in example.labels if label != IGNORE))
    assert all(label == IGNORE for label in example.labels[:first])  # system prompt, user turn, "assistant\n"
    assert tokenizer.decode(example.input_ids[:first]).endswith("<|im_start|>assistant\n")
    assert all(label in (IGNORE, token) for label, token in zip(example.labels, example.input_ids))


def test_every_assistant_turn_is_trained_and_no_user_turn(tokenizer):
    example = encode_conversation(tokenizer, conversation(("system", "be brief"), ("user", "hi"), ("assistant", "hello there"),
                                                          ("user", "again"), ("assistant", "hello again")), 256)
    assert supervised_text(tokenizer, example) == "hello there<|im_end|>\nhello again<|im_end|>\n"


def test_templates_that_rewrite_earlier_turns_fall_back_to_character_offsets(tmp_path):
    tokenizer = tiny_tokenizer(tmp_path)
    tokenizer.chat_template = THINKING_TEMPLATE
    example = encode_conversation(tokenizer, conversation(("user", "hi"), ("assistant", "hello there"),
                                                          ("user", "again"), ("assistant", "hello again")), 256)
    assert supervised_text(tokenizer, example) == "hello there<|im_end|>\n<think>\n\n</think>\n\nhello again<|im_end|>\n"


def test_prompt_completion_lines_become_a_user_and_an_assistant_turn(tmp_path, tokenizer):
    path = write_lines(tmp_path / "chat.jsonl", [{"prompt": "say hello", "completion": "hello, the cat sat."}])
    (example,) = load_chat_examples(path, tokenizer, 256)
    assert supervised_text(tokenizer, example) == "hello, the cat sat.<|im_end|>\n"
    assert "<|im_start|>user\nsay hello<|im_end|>" in tokenizer.decode(example.input_ids)
    assert example.line == 1 and not example.truncated


def test_the_test_data_file_reads_in_both_shapes(tmp_path, tokenizer):
    examples = load_chat_examples(write_chat_jsonl(tmp_path / "chat.jsonl", rows=6), tokenizer, 256)
    assert [e.line for e in examples] == [1, 2, 3, 4, 5, 6]
    assert all(e.supervised_tokens > 0 for e in examples)


def test_long_conversations_are_cut_to_max_length(tokenizer):
    example = encode_conversation(tokenizer, conversation(("user", "say hello"), ("assistant", "hello " * 40)), 32)
    assert len(example.input_ids) == len(example.labels) == 32 and example.truncated


def test_every_bad_line_is_reported_with_its_number(tmp_path):
    path = write_lines(tmp_path / "chat.jsonl", [
        {"prompt": "ok", "completion": "fine"},
        '{"messages": [',
        {"text": "no conversation here"},
        {"messages": [{"role": "bot", "content": "hi"}]},
        {"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}]},
        {"messages": [{"role": "user", "content": "nobody answers"}]},
        "",
        {"prompt": "no completion"},
        "[1, 2]",
    ])
    with pytest.raises(ModelInputError) as caught:
        read_chat_jsonl(path)
    error = caught.value
    assert error.EXIT_CODE == 4 and str(path) in error.message and "7 unusable lines" in error.message
    for line, words in [(2, "not valid JSON"), (3, "neither 'messages' nor 'prompt'/'completion'"), (4, "role 'bot'"),
                        (5, "content is a int"), (6, "no assistant message"), (8, "'completion' is missing"), (9, "JSON list")]:
        assert f"line {line}: " in error.message and words in error.message.split(f"line {line}: ")[1].splitlines()[0]
    assert "line 1:" not in error.message and "line 7:" not in error.message
    assert '"messages"' in error.hint and '"prompt"' in error.hint


def test_many_bad_lines_are_summarised(tmp_path):
    with pytest.raises(ModelInputError) as caught:
        read_chat_jsonl(write_lines(tmp_path / "chat.jsonl", ["nope"] * 25))
    assert "25 unusable lines" in caught.value.message and "... and 15 more" in caught.value.message
    assert "line 10:" in caught.value.message and "line 11:" not in caught.value.message


def test_an_empty_or_missing_file_is_an_input_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    for path in (tmp_path / "empty.jsonl", tmp_path / "absent.jsonl"):
        with pytest.raises(ModelInputError) as caught:
            read_chat_jsonl(path)
        assert str(path) in caught.value.message and caught.value.hint


def test_a_folder_without_a_chat_template_is_refused(tmp_path):
    tiny_tokenizer(tmp_path)
    (tmp_path / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelInputError) as caught:
        load_chat_tokenizer(tmp_path)
    assert "no chat template" in caught.value.message and caught.value.EXIT_CODE == 4


def test_a_conversation_the_template_rejects_is_a_bad_line(tmp_path):
    tokenizer = tiny_tokenizer(tmp_path)
    tokenizer.chat_template = NO_SYSTEM_TEMPLATE
    path = write_lines(tmp_path / "chat.jsonl", [
        {"prompt": "hi", "completion": "hello"},
        {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
    ])
    with pytest.raises(ModelInputError) as caught:
        load_chat_examples(path, tokenizer, 64)
    assert "line 2: the model's chat template rejects this conversation: System role not supported" in caught.value.message


def test_split_is_deterministic_disjoint_and_never_empty():
    items = list(range(40))
    train, validation, test = split(items, 0.1, 0.2, seed=3)
    assert (len(train), len(validation), len(test)) == (28, 4, 8)
    assert sorted(train + validation + test) == items
    assert split(items, 0.1, 0.2, seed=3) == (train, validation, test)
    assert split(items, 0.1, 0.2, seed=4) != (train, validation, test)
    assert [len(part) for part in split([1, 2, 3], 0.01, 0.01, seed=0)] == [1, 1, 1]
    assert [len(part) for part in split(list(range(5)), 0.1, 0.0, seed=0)] == [4, 1, 0]
    assert [len(part) for part in split([1, 2], 0.1, 0.1, seed=0)] == [2, 0, 0]
