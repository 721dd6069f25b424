"""The tokens a Hugging Face tokenizer splits out of the text before WordPiece ("added tokens").

Both SDK tokenizers (Kotlin and Swift) match them with the same rules, so both generators pass
them the same list, read here once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mobilekit.errors import ModelInputError
from mobilekit.sdk.inputs import SdkInputs

ADDED_TOKEN_FLAGS = (("single_word", "singleWord"), ("lstrip", "stripsLeft"), ("rstrip", "stripsRight"),
                     ("normalized", "normalized"))


def added_tokens(inputs: SdkInputs) -> list[dict[str, Any]]:
    """The tokens the Hugging Face tokenizer splits out of the text before WordPiece, in its order.

    From the model folder's ``tokenizer.json`` (``added_tokens``: the special tokens and any token
    added to the tokenizer, with their ``single_word``/``lstrip``/``rstrip``/``normalized`` options),
    else from ``tokenizer_config.json``'s ``added_tokens_decoder``, else the settings' special tokens
    plus ``[MASK]`` when the vocabulary has them (matched as typed, as ``tokenizers`` does).
    ``tokenizers`` tries the special tokens first, then the others, each group in id order; a token
    in the vocabulary gets its vocabulary id (the last line that holds it, as both SDKs read vocab.txt),
    any other token the id the file gives it. Each entry: ``content``, ``id`` and ``flags`` (the
    Kotlin/Swift parameter names of the options that are set).
    """
    vocab_ids = {token: i for i, token in enumerate(inputs.vocab)}
    entries = _declared_added_tokens(Path(inputs.vocab_file).parent)
    if not entries:
        s = inputs.tokenizer
        defaults = dict.fromkeys((s.pad_token, s.unk_token, s.cls_token, s.sep_token, "[MASK]"))
        entries = [{"content": t, "id": vocab_ids[t], "special": True, "normalized": False}
                   for t in defaults if t in vocab_ids]
    tokens, seen = [], set()
    for entry in sorted(entries, key=lambda t: not t.get("special", False)):  # stable: id order kept
        content = entry.get("content")
        if not isinstance(content, str) or not content or content in seen:
            continue
        seen.add(content)
        token_id = vocab_ids.get(content, entry.get("id"))
        if not isinstance(token_id, int) or not 0 <= token_id <= 2**31 - 1:
            raise ModelInputError(f"the added token {content!r} has no usable id ({token_id!r})",
                                hint="check added_tokens in the model folder's tokenizer.json")
        defaults = {"normalized": not entry.get("special", False)}  # as tokenizers' AddedToken::from
        flags = [name for key, name in ADDED_TOKEN_FLAGS if entry.get(key, defaults.get(key, False))]
        tokens.append({"content": content, "id": token_id, "flags": flags})
    return tokens


def _declared_added_tokens(model_dir: Path) -> list[dict[str, Any]]:
    """The added tokens the first tokenizer file that lists any declares, in id order."""
    for name, key in (("tokenizer.json", "added_tokens"), ("tokenizer_config.json", "added_tokens_decoder")):
        path = model_dir / name
        if not path.is_file():
            continue
        try:
            found = json.loads(path.read_text(encoding="utf-8")).get(key) or []
            if isinstance(found, dict):  # added_tokens_decoder: {"<id>": {"content": ..., ...}}
                found = [dict(token, id=int(id_)) for id_, token in found.items()]
            entries = sorted((dict(token) for token in found), key=lambda t: int(t.get("id", -1)))
        except (ValueError, TypeError, AttributeError) as e:
            raise ModelInputError(f"{path}: unreadable {key}: {e}",
                                hint="restore the model folder's tokenizer files") from e
        if entries:
            return entries
    return []
