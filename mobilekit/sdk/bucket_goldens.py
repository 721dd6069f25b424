"""Golden vectors for the SDKs' length-bucket choice: texts at every bucket's edge.

For each bucket ``b`` the texts have ``b - 1``, ``b`` and ``b + 1`` tokens ([CLS] and [SEP]
included), plus one far longer than the largest bucket. Each golden holds the bucket the text must
run in (``mobilekit.buckets.bucket_for``) and the model tokenizer's own ids padded to that bucket
(truncated to the largest for the long ones, exactly as without buckets): the generated tests
tokenize at the full length, pick the bucket and cut, and must get exactly these ids; verify has
already checked each bucket's signature against torch on inputs like them.
"""

from __future__ import annotations

from pathlib import Path

from mobilekit.buckets import bucket_for
from mobilekit.errors import ModelInputError
from mobilekit.sdk.inputs import BucketGolden

FILLERS = ("a", "word", "the", "x")  # tried in order: a word the tokenizer keeps as one token


def _filler(tokenizer) -> str:
    for word in FILLERS:
        if len(tokenizer(" ".join([word] * 3), add_special_tokens=False)["input_ids"]) == 3:
            return word
    raise ModelInputError("no one-token filler word (tried " + ", ".join(FILLERS) + ") for the bucket goldens",
                          hint="the tokenizer's vocabulary should hold one of these words")


def edge_token_counts(buckets) -> list[int]:
    """Token counts at each bucket's edge (at least 2: [CLS] [SEP]), and one far past the largest."""
    counts = {n for b in buckets for n in (b - 1, b, b + 1) if n >= 2}
    counts.add(2 * max(buckets) + 3)
    return sorted(counts)


def bucket_goldens(model_dir: Path, buckets) -> list[BucketGolden]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    filler, largest = _filler(tokenizer), max(buckets)
    goldens = []
    for count in edge_token_counts(buckets):
        text = " ".join([filler] * (count - 2))
        full = tokenizer(text)["input_ids"]
        if len(full) != count:
            raise ModelInputError(f"{count - 2} x {filler!r} gave {len(full)} tokens, not {count}")
        bucket = bucket_for(count, buckets)
        encoded = tokenizer(text, padding="max_length", truncation=True, max_length=bucket)
        token_type_ids = encoded.get("token_type_ids") or [0] * bucket
        goldens.append(BucketGolden(text=text, token_count=min(count, largest), bucket=bucket,
                                    input_ids=list(encoded["input_ids"]), attention_mask=list(encoded["attention_mask"]),
                                    token_type_ids=list(token_type_ids)))
    return goldens
