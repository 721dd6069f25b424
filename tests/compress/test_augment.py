"""Augmented transfer text: deterministic, new, and made of the training text's own words."""

from __future__ import annotations

from mobilekit.compress.augment import augment_texts

TEXTS = [
    "the film was a quiet delight from start to finish",
    "a tedious and overlong mess with nothing to say",
    "great acting",
    "it is not as bad as they said",
]


def test_same_seed_same_text_other_seed_other_text():
    first = augment_texts(TEXTS, 3, seed=0, mask_token="[MASK]")
    assert first == augment_texts(TEXTS, 3, seed=0, mask_token="[MASK]")
    assert first != augment_texts(TEXTS, 3, seed=1, mask_token="[MASK]")


def test_copies_are_distinct_new_and_use_only_training_words_or_the_mask():
    out = augment_texts(TEXTS, 4, seed=0, mask_token="[MASK]")
    assert 0 < len(out) <= 4 * len(TEXTS)
    assert len(set(out)) == len(out) and not set(out) & set(TEXTS)
    words = {w for t in TEXTS for w in t.split()} | {"[MASK]"}
    assert all(out_text.strip() and set(out_text.split()) <= words for out_text in out)
    assert any("[MASK]" in t for t in out)
    # Long sentences get their full quota; a two-word one may run out of distinct variants.
    assert len(out) >= 3 * 4


def test_without_a_mask_token_words_are_dropped_not_replaced():
    out = augment_texts(TEXTS, 3, seed=0, mask_token=None)
    assert out and not any("[MASK]" in t or "None" in t.split() for t in out)


def test_nothing_asked_nothing_made():
    assert augment_texts(TEXTS, 0, seed=0, mask_token="[MASK]") == []
    assert augment_texts([], 3, seed=0, mask_token="[MASK]") == []
    assert augment_texts(["", "   "], 3, seed=0, mask_token="[MASK]") == []
