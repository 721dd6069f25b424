"""A static student (model2vec-style): one vector per vocabulary token, averaged over a text.

A token's vector is the teacher's own output for that token alone (``[CLS] token [SEP]``, pooled
as the teacher pools), times a SIF weight ``a / (a + p(token))`` (Arora et al. 2017; ``p`` from
the token counts of the training text) so that frequent, uninformative tokens count less. With
``dimensions`` below the teacher's width the table is reduced by PCA and the mean is projected
back (``mean @ projection + offset``: the mean commutes with the affine map), so embeddings stay
in the teacher's space and can be compared with, or mixed with, the teacher's. A classifier gets
a linear head trained on the teacher's soft targets over the training text; optionally the table
is trained too.

Inference is a lookup, a mean, an optional projection and an optional linear layer: no ML
runtime. ``static_model.bin`` (``mobilekit.compress.static_format``) is the one description of
the model: Python computes from that file what the Kotlin and Swift SDKs compute from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from mobilekit.compress.static_format import StaticModel

TOKEN_BATCH = 512  # single-token texts per teacher forward pass
HEAD_BATCH = 256


@dataclass(frozen=True)
class StaticSettings:
    task: str
    pooling: str
    normalize: bool
    max_length: int
    dimensions: int | None  # None: the teacher's width (no PCA)
    sif: float  # 0: a plain mean
    int8_rows: bool
    train_table: bool
    epochs: int
    learning_rate: float
    batch_size: int
    temperature: float
    alpha: float
    seed: int


# -- the table ------------------------------------------------------------------------------------


def token_vectors(teacher, tokenizer, *, pooling: str) -> np.ndarray:
    """[vocab, width]: the teacher's pooled output for every token id alone, between [CLS] and [SEP]."""
    import torch

    from mobilekit.compress.batches import pool

    encoder = teacher.base_model if hasattr(teacher, "base_model") else teacher
    vocab = len(tokenizer)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    out = None
    encoder.eval()
    with torch.no_grad():
        for start in range(0, vocab, TOKEN_BATCH):
            ids = torch.arange(start, min(vocab, start + TOKEN_BATCH)).unsqueeze(1)
            edges = [torch.full_like(ids, token) for token in (cls, sep)]
            input_ids = torch.cat([edges[0], ids, edges[1]], dim=1)
            mask = torch.ones_like(input_ids)
            hidden = encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
            vectors = pool(hidden, mask, pooling=pooling, normalize=False).float().numpy()
            if out is None:
                out = np.zeros((vocab, vectors.shape[1]), dtype=np.float32)
            out[start : start + len(vectors)] = vectors
    return out


def sif_weights(counts: np.ndarray, coefficient: float) -> np.ndarray:
    """``a / (a + p(token))`` per token; tokens never seen get p = 0 (weight 1). a = 0: all 1."""
    if coefficient <= 0 or counts.sum() == 0:
        return np.ones(len(counts), dtype=np.float32)
    p = counts.astype(np.float64) / counts.sum()
    return (coefficient / (coefficient + p)).astype(np.float32)


def pca(table: np.ndarray, dimensions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(reduced [vocab, dimensions], projection [dimensions, width], offset [width], variance kept)."""
    offset = table.mean(axis=0)
    centred = (table - offset).astype(np.float64)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:dimensions]
    kept = float((singular[:dimensions] ** 2).sum() / max((singular**2).sum(), 1e-30))
    return (centred @ components.T).astype(np.float32), components.astype(np.float32), offset.astype(np.float32), kept


def excluded_ids(tokenizer) -> list[int]:
    """The ids a text's mean leaves out: the [CLS]/[SEP] the tokenizer adds, and padding."""
    ids = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    return sorted(i for i in ids if i is not None)


def build_table(teacher, tokenizer, counts: np.ndarray, settings: StaticSettings) -> tuple[StaticModel, dict]:
    """The untrained static model (no head yet) and what building it measured."""
    vectors = token_vectors(teacher, tokenizer, pooling=settings.pooling)
    weighted = vectors * sif_weights(counts[: len(vectors)], settings.sif)[:, None]
    facts: dict = {"vocab_size": len(vectors), "teacher_width": int(vectors.shape[1])}
    projection = offset = None
    table = weighted
    if settings.dimensions is not None and settings.dimensions < vectors.shape[1]:
        table, projection, offset, kept = pca(weighted, settings.dimensions)
        facts["pca_variance_kept"] = round(kept, 5)
    model = StaticModel(table=table, projection=projection, offset=offset, head_weight=None, head_bias=None,
                        excluded_ids=excluded_ids(tokenizer), normalize=settings.normalize and settings.task == "sentence-embedding")
    return model, facts


# -- encoding texts -------------------------------------------------------------------------------


def text_ids(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Each text's token ids as the SDKs' tokenizer gives them (special tokens added, truncated)."""
    ids: list[list[int]] = []
    for start in range(0, len(texts), 1024):
        chunk = list(texts[start : start + 1024])
        ids += tokenizer(chunk, truncation=True, max_length=max_length)["input_ids"]
    return ids


# -- training -------------------------------------------------------------------------------------


def train_static(model: StaticModel, train_ids: list[list[int]], targets: np.ndarray, labels, settings: StaticSettings,
                 validate) -> tuple[StaticModel, list[dict]]:
    """Fit the head (classifiers) and, with ``train_table``, the table, to the teacher's outputs on
    the training text; the epoch with the best ``validate(model)`` is kept. Returns (model, history)."""
    import torch

    torch.manual_seed(settings.seed)
    module = _torch_module(model, num_labels=targets.shape[1] if settings.task == "text-classification" else 0,
                           train_table=settings.train_table)
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=settings.learning_rate)
    bags = _bags(train_ids, model.excluded_ids)
    target = torch.from_numpy(np.asarray(targets, dtype=np.float32))
    hard = torch.tensor([-100 if y is None else y for y in labels]) if labels is not None else None
    rng = np.random.default_rng(settings.seed)
    best, best_score, history = model, -np.inf, []
    for epoch in range(settings.epochs):
        module.train()
        losses = []
        for batch in np.array_split(rng.permutation(len(train_ids)), max(1, len(train_ids) // settings.batch_size)):
            out = module(*_batch(bags, batch))
            loss = _loss(out, target[batch], None if hard is None else hard[batch], settings)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        candidate = module.export(model)
        score = validate(candidate)
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 6), "validation": round(score, 5)})
        if score > best_score:
            best, best_score = candidate, score
    return best, history


def _loss(out, target, hard, settings: StaticSettings):
    import torch.nn.functional as F

    from mobilekit.compress.distill import classifier_loss

    if settings.task == "text-classification":
        return classifier_loss(out, target, hard, temperature=settings.temperature, alpha=settings.alpha)
    return (1 - F.cosine_similarity(out, target, dim=-1)).mean()


def _bags(ids: list[list[int]], excluded: Sequence[int]) -> list[np.ndarray]:
    """Each text's ids without the ones the mean leaves out."""
    drop = set(excluded)
    return [np.asarray([i for i in row if i not in drop], dtype=np.int64) for row in ids]


def _batch(bags: list[np.ndarray], batch: np.ndarray):
    """(flat ids, offsets, lengths) of ``batch``'s texts, as embedding_bag takes them."""
    import torch

    rows = [bags[i] for i in batch]
    lengths = [len(r) for r in rows]
    flat = torch.from_numpy(np.concatenate(rows) if sum(lengths) else np.zeros(0, dtype=np.int64))
    offsets = torch.tensor(np.concatenate([[0], np.cumsum(lengths)[:-1]]), dtype=torch.long)
    return flat, offsets, torch.tensor(lengths)


def _torch_module(model: StaticModel, *, num_labels: int, train_table: bool):
    """The static model as a torch module: the table (trainable or not), the fixed projection, a head."""
    import torch

    class StaticModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = torch.nn.Parameter(torch.from_numpy(model.table.copy()), requires_grad=train_table)
            self.projection = None if model.projection is None else torch.from_numpy(model.projection)
            self.offset = None if model.offset is None else torch.from_numpy(model.offset)
            self.head = torch.nn.Linear(model.output_dims, num_labels) if num_labels else None

        def forward(self, flat, offsets, lengths):
            summed = torch.nn.functional.embedding_bag(flat, self.table, offsets, mode="sum")
            mean = summed / lengths.clamp(min=1).unsqueeze(1).to(summed.dtype)
            if self.projection is not None:
                mean = mean @ self.projection + self.offset
            return self.head(mean) if self.head is not None else mean

        def export(self, base: StaticModel) -> StaticModel:
            head = self.head
            return replace(base, table=self.table.detach().numpy().copy(),
                           head_weight=None if head is None else head.weight.detach().numpy().copy(),
                           head_bias=None if head is None else head.bias.detach().numpy().copy())

    return StaticModule()
