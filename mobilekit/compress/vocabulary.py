"""Vocabulary trimming: keep the WordPiece tokens a task needs, drop the other embedding rows.

Kept: every token the task corpus produces (at least ``min_count`` times), every single-character
piece with and without "##" (so any word the original tokenizer could split, the trimmed one can
still split, just into smaller pieces), and the special and added tokens. Kept tokens keep their
relative order, so the special tokens stay first as in every BERT vocabulary.

Why in-vocabulary text tokenizes identically: WordPiece is greedy longest-match-first. If every
piece the original tokenizer chose for a word is kept, each was the longest match among all tokens,
so it is still the longest match among the kept ones, and the trimmed tokenizer picks the same.

vocab.txt, tokenizer.json (model vocabulary, added tokens, post-processor and padding ids) and the
embedding matrix are rewritten together; the model config's vocab_size and pad_token_id follow.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mobilekit.errors import ModelInputError


@dataclass(frozen=True)
class VocabularyChoice:
    kept_ids: list[int]  # old ids, ascending; new id = position in this list
    old_size: int
    from_corpus: int  # distinct corpus tokens kept (before adding characters and specials)
    single_characters: int
    special: int

    @property
    def new_id(self) -> dict[int, int]:
        return {old: new for new, old in enumerate(self.kept_ids)}


def choose_tokens(tokenizer, texts: list[str], *, min_count: int = 1) -> VocabularyChoice:
    vocab = tokenizer.get_vocab()
    counts: Counter[int] = Counter()
    for start in range(0, len(texts), 256):
        for ids in tokenizer(texts[start : start + 256], add_special_tokens=False)["input_ids"]:
            counts.update(ids)
    corpus = {i for i, c in counts.items() if c >= min_count}
    characters = {i for token, i in vocab.items() if len(token.removeprefix("##")) == 1}
    special = set(tokenizer.all_special_ids) | {i for i in tokenizer.added_tokens_decoder}
    kept = sorted(corpus | characters | special)
    return VocabularyChoice(kept, len(vocab), len(corpus), len(characters), len(special))


def write_trimmed_tokenizer(source: Path, tokenizer, choice: VocabularyChoice, out_dir: Path) -> None:
    """tokenizer.json + vocab.txt with the kept tokens renumbered; the other tokenizer files copied."""
    path = Path(source) / "tokenizer.json"
    spec = json.loads(path.read_text(encoding="utf-8") if path.is_file() else tokenizer.backend_tokenizer.to_str())
    model = spec.get("model") or {}
    if model.get("type") != "WordPiece":
        raise ModelInputError(
            f"vocabulary trimming supports WordPiece tokenizers (BERT family), not {model.get('type')!r}",
            hint="set distill.trim_vocabulary = false",
        )
    new_id = choice.new_id
    by_old = {i: token for token, i in model["vocab"].items()}
    model["vocab"] = {by_old[old]: new for new, old in enumerate(choice.kept_ids)}
    for added in spec.get("added_tokens") or []:
        added["id"] = new_id[added["id"]]
    spec["post_processor"] = _renumber_processor(spec.get("post_processor"), new_id)
    if isinstance(spec.get("padding"), dict) and "pad_id" in spec["padding"]:
        spec["padding"]["pad_id"] = new_id[spec["padding"]["pad_id"]]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False, indent=2), encoding="utf-8")
    (out_dir / "vocab.txt").write_text("".join(by_old[old] + "\n" for old in choice.kept_ids), encoding="utf-8")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (Path(source) / name).is_file():
            shutil.copy2(Path(source) / name, out_dir / name)
    if not (out_dir / "tokenizer_config.json").is_file():
        tokenizer.save_pretrained(str(out_dir / ".tokenizer-config"))
        shutil.move(str(out_dir / ".tokenizer-config" / "tokenizer_config.json"), out_dir / "tokenizer_config.json")
        shutil.rmtree(out_dir / ".tokenizer-config")


def trim_embeddings(model, choice: VocabularyChoice) -> None:
    """Keeps the embedding rows of the kept tokens, in the new order (in place)."""
    import torch

    if model.get_output_embeddings() is not None:
        raise ModelInputError("vocabulary trimming does not support models with an output vocabulary layer",
                              hint="set distill.trim_vocabulary = false")
    old = model.get_input_embeddings()
    index = torch.tensor(choice.kept_ids)
    pad = model.config.pad_token_id
    new_pad = choice.new_id.get(pad) if pad is not None else None
    new = torch.nn.Embedding(len(choice.kept_ids), old.embedding_dim, padding_idx=new_pad)
    with torch.no_grad():
        new.weight.copy_(old.weight[index])
    model.set_input_embeddings(new)
    model.config.vocab_size = len(choice.kept_ids)
    if pad is not None:
        model.config.pad_token_id = new_pad


def dropped_words(tokenizer, choice: VocabularyChoice) -> list[str]:
    """The whole words (not "##" continuations, not special) the trimmed vocabulary no longer has.

    Distilling on each alone, the teacher reading it as one token and the student as the smaller
    pieces that now spell it, teaches the student the meaning of words the task corpus may never
    show it (test text is full of them).
    """
    kept = set(choice.kept_ids)
    return [token for token, i in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
            if i not in kept and len(token) > 1 and token.isalpha()]


def tokenization_changes(original, trimmed, texts: list[str]) -> dict:
    """How often the trimmed tokenizer splits text differently (compared as token strings)."""
    changed = 0
    tokens_before = tokens_after = 0
    for start in range(0, len(texts), 256):
        chunk = texts[start : start + 256]
        before = original(chunk)["input_ids"]
        after = trimmed(chunk)["input_ids"]
        for a, b in zip(before, after):
            tokens_before += len(a)
            tokens_after += len(b)
            if original.convert_ids_to_tokens(a) != trimmed.convert_ids_to_tokens(b):
                changed += 1
    return {
        "texts": len(texts),
        "texts_tokenized_differently": changed,
        "fraction_tokenized_differently": changed / len(texts) if texts else 0.0,
        "tokens_per_text_before": tokens_before / len(texts) if texts else 0.0,
        "tokens_per_text_after": tokens_after / len(texts) if texts else 0.0,
    }


def _renumber_processor(processor, new_id: dict[int, int]):
    if processor is None:
        return None
    kind = processor.get("type")
    if kind == "TemplateProcessing":
        for special in processor.get("special_tokens", {}).values():
            special["ids"] = [new_id[i] for i in special["ids"]]
    elif kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("sep", "cls"):
            token, old = processor[key]
            processor[key] = [token, new_id[old]]
    elif kind == "Sequence":
        processor["processors"] = [_renumber_processor(p, new_id) for p in processor["processors"]]
    elif kind != "ByteLevel":
        raise ModelInputError(f"cannot trim the vocabulary: unknown tokenizer post-processor {kind!r}",
                              hint="set distill.trim_vocabulary = false")
    return processor
