"""Perplexity of a causal LM: exp of the mean negative log-likelihood per predicted token.

Sequences are token ids, optionally with labels (Hugging Face convention: aligned with the ids,
-100 where no loss is taken, the model predicts labels[t + 1] from ids[..t]). Token-weighted: a
long reply counts more than a short one, as in the training loss.
"""

from __future__ import annotations

import math
from typing import Sequence

from mobilekit.llm.chat_data import IGNORE


def as_pair(sequence) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of a ChatExample, an (ids, labels) pair or plain ids (every token counts)."""
    if hasattr(sequence, "input_ids") and hasattr(sequence, "labels"):
        return list(sequence.input_ids), list(sequence.labels)
    if len(sequence) == 2 and not isinstance(sequence[0], int):
        return list(sequence[0]), list(sequence[1])
    return list(sequence), list(sequence)


def pad_batch(pairs: Sequence[tuple[list[int], list[int]]]):
    """Right-padded (input_ids, attention_mask, labels) tensors; padding is masked and unlabelled."""
    import torch

    width = max(len(ids) for ids, _ in pairs)
    ids = torch.zeros((len(pairs), width), dtype=torch.long)
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    labels = torch.full((len(pairs), width), IGNORE, dtype=torch.long)
    for row, (tokens, targets) in enumerate(pairs):
        ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        mask[row, : len(tokens)] = 1
        labels[row, : len(targets)] = torch.tensor(targets, dtype=torch.long)
    return ids, mask, labels


def token_nll(model, input_ids, attention_mask, labels):
    """(summed NLL, number of predicted tokens) of one padded batch; differentiable."""
    import torch.nn.functional as F

    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float()
    targets = labels[:, 1:]
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE, reduction="sum")
    return nll, int((targets != IGNORE).sum())


def mean_nll(model, sequences, batch_size: int = 8) -> float:
    """Token-weighted mean NLL (nats) over ``sequences``; the model is left in eval mode."""
    import torch

    pairs = [as_pair(s) for s in sequences]
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))  # similar lengths: less padding
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), max(1, batch_size)):
            batch = [pairs[i] for i in order[start : start + batch_size]]
            nll, n = token_nll(model, *pad_batch(batch))
            total, count = total + float(nll), count + n
    if count == 0:
        raise ValueError("no labelled tokens to score")
    return total / count


def perplexity(model, sequences, batch_size: int = 8) -> float:
    return math.exp(min(mean_nll(model, sequences, batch_size), 700.0))  # exp overflows past ~709


def text_windows(tokenizer, texts: Sequence[str], window: int) -> list[list[int]]:
    """Each text's tokens cut into consecutive windows of at most ``window`` tokens; a window of one
    token predicts nothing and is dropped."""
    if window < 2:
        raise ValueError(f"window must be at least 2 tokens, got {window}")
    windows = []
    for text in texts:
        ids = list(tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])
        windows += [ids[i : i + window] for i in range(0, len(ids), window) if len(ids[i : i + window]) >= 2]
    return windows
