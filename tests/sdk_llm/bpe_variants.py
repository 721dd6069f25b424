"""Byte-level BPE tokenizers of every supported shape, made from the tiny tokenizer of tests/tiny_lm.py
by editing its tokenizer.json: what SmolLM2's GGUF conversion lacks (Llama-3 and Qwen2 regexes, NFC,
ignore_merges, Digits, add_prefix_space, a BOS post-processor, added tokens with every option)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mobilekit.sdk.bpe_data import GPT2_PATTERN, LLAMA3_PATTERN, QWEN2_PATTERN
from tests.tiny_lm import tiny_tokenizer

# Added tokens typed in the corpus (extra_texts) so their options are exercised.
FLAGGED_TOKENS = [
    {"content": "[lstrip]", "lstrip": True},
    {"content": "[rstrip]", "rstrip": True},
    {"content": "[both]", "lstrip": True, "rstrip": True, "special": True},
    {"content": "[single]", "single_word": True},
    {"content": "cafe\u0301", "normalized": True},  # NFC variant: matches "café" typed either way
    {"content": "\u212b", "normalized": False},  # ANGSTROM SIGN: matched before NFC turns it into Å
    {"content": "<sp>", "special": True},
    {"content": "<sp>x", "special": False},  # longest match wins over <sp>
]
FLAGGED_TEXTS = (
    "a [lstrip] b", "a   [lstrip]b", "a[rstrip]   b", "x [both]  y", "[both][both]", " [both] [lstrip] ",
    "word[single]", "word [single] word", "[single]", "é[single]", "_[single]", "1[single]2", "\u0301[single]",
    "café", "cafe\u0301", "CAFÉ", "\u212b \u00c5 A\u030a", "<sp>", "<sp>x", "<sp>y", "<sp><sp>x",
    "xyz", " xyz", "hel", "hello", "\u2003[lstrip]\u3000", "[rstrip]\u00a0\u2028x",
)
# Entries only ignore_merges can produce (no merge leads to them).
EXTRA_VOCAB = ["xyz", "Ġxyz", "hel"]


def _added(entry: dict, token_id: int) -> dict:
    base = {"single_word": False, "lstrip": False, "rstrip": False, "special": False}
    normalized = entry.get("normalized", not entry.get("special", False))
    return {**base, **entry, "normalized": normalized, "id": token_id}


def _byte_level(prefix: bool = False, regex: bool = False) -> dict:
    return {"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": True, "use_regex": regex}


def _split(pattern: str) -> dict:
    return {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False}


VARIANTS = {
    # Llama-3: Split + ByteLevel without regex, ignore_merges, BOS added by a template, added tokens.
    "llama3": dict(pre=[_split(LLAMA3_PATTERN), _byte_level()], ignore_merges=True, bos=True, flagged=True),
    # Qwen2: its regex, NFC, added tokens (normalized ones are matched in the NFC text).
    "qwen2": dict(pre=[_split(QWEN2_PATTERN), _byte_level()], nfc=True, flagged=True),
    # SmolLM2 as published: Digits(individual) + ByteLevel (regex), here with add_prefix_space.
    "digits": dict(pre=[{"type": "Digits", "individual_digits": True}, _byte_level(prefix=True, regex=True)]),
    # GPT-2's regex as a Split, digits in runs.
    "gpt2split": dict(pre=[{"type": "Digits", "individual_digits": False}, _split(GPT2_PATTERN), _byte_level()]),
}


def make_variant(base: Path, folder: Path, *, pre: list, ignore_merges: bool = False, nfc: bool = False,
                 bos: bool = False, flagged: bool = False) -> Path:
    """A copy of the tiny tokenizer folder ``base`` with the given shape."""
    shutil.copytree(base, folder, dirs_exist_ok=True)
    path = folder / "tokenizer.json"
    spec = json.loads(path.read_text(encoding="utf-8"))
    spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": pre}
    spec["normalizer"] = {"type": "NFC"} if nfc else None
    model = spec["model"]
    model["ignore_merges"] = ignore_merges
    next_id = max(model["vocab"].values()) + 1
    for token in EXTRA_VOCAB:
        model["vocab"][token] = next_id
        next_id += 1
    if flagged:
        spec["added_tokens"] += [_added(entry, next_id + i) for i, entry in enumerate(FLAGGED_TOKENS)]
    if bos:
        bos_token = spec["added_tokens"][0]  # <|endoftext|>
        spec["post_processor"] = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": bos_token["content"], "type_id": 0}},
                                                      {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {bos_token["content"]: {"id": bos_token["content"], "ids": [bos_token["id"]],
                                                       "tokens": [bos_token["content"]]}}}]}
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return folder


def make_all(root: Path) -> dict[str, Path]:
    """The tiny tokenizer and its variants, by name."""
    base = root / "tiny"
    base.mkdir(parents=True, exist_ok=True)
    tiny_tokenizer(base)
    return {"tiny": base, **{name: make_variant(base, root / name, **spec) for name, spec in VARIANTS.items()}}
