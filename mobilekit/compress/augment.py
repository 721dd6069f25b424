"""More transfer text for distillation: perturbed copies of the training texts, labelled by the teacher.

A student learns from the teacher's outputs, and those exist for any text, not just the labelled
ones. Tang et al. (2019, "Distilling Task-Specific Knowledge from BERT into Simple Neural
Networks") perturb each training sentence word by word (mask it, or swap in another word) and
sometimes keep only an n-gram of it; the teacher's soft targets on such near-misses show the
student where the decision boundary lies. Swapped-in words come from the training text itself (no
part-of-speech tagger), so no new vocabulary appears and vocabulary trimming is unaffected.
"""

from __future__ import annotations

import random
from typing import Sequence

MASK_PROBABILITY = 0.1
SWAP_PROBABILITY = 0.1
NGRAM_PROBABILITY = 0.25
NGRAM_LENGTHS = (1, 5)


def augment_texts(texts: Sequence[str], copies: int, *, seed: int, mask_token: str | None) -> list[str]:
    """Up to ``copies`` distinct perturbed versions of each text, none equal to a training text.

    Deterministic for a given seed. Without a mask token (tokenizers that have none) a masked word
    is dropped instead.
    """
    if copies <= 0 or not texts:
        return []
    rng = random.Random(seed)
    words = [text.split() for text in texts]
    vocabulary = sorted({w for sentence in words for w in sentence})
    seen = set(texts)
    out: list[str] = []
    for sentence in words:
        if not sentence:
            continue
        made = 0
        for _ in range(copies * 3):  # a few retries: short sentences often repeat themselves
            if made == copies:
                break
            candidate = " ".join(_perturb(sentence, rng, vocabulary, mask_token))
            if candidate and candidate not in seen:
                seen.add(candidate)
                out.append(candidate)
                made += 1
    return out


def _perturb(sentence: list[str], rng: random.Random, vocabulary: list[str], mask_token: str | None) -> list[str]:
    out = []
    for word in sentence:
        roll = rng.random()
        if roll < MASK_PROBABILITY:
            if mask_token:
                out.append(mask_token)
        elif roll < MASK_PROBABILITY + SWAP_PROBABILITY:
            out.append(rng.choice(vocabulary))
        else:
            out.append(word)
    if len(out) > 1 and rng.random() < NGRAM_PROBABILITY:
        n = rng.randint(*NGRAM_LENGTHS)
        start = rng.randint(0, max(0, len(out) - n))
        out = out[start : start + n]
    return out
