"""A compressed word-embedding table that keeps every token of the vocabulary.

Trimming the vocabulary makes a BERT student small but changes how most texts tokenize (80-94%
of the benchmark's test sentences), and that costs accuracy no recipe recovered. This keeps the
tokenizer as it is and stores the table cheaply instead, one of two ways:

* ``int8-rows`` (the default): every row symmetric int8 with its own float32 scale; the graph
  gathers the int8 row, casts it and multiplies by the gathered scale. 3.96x smaller than the
  float32 table; on MiniLM every row comes back with cosine >= 0.9999 (0.99988 averaged over
  the test sentences' tokens).
* ``kmeans``: the rows of the ``exact`` most frequent tokens (task text, plus any general text
  given, plus every special and added token) kept as they are, every other row one of
  ``clusters`` shared unit directions times its own least-squares scale (spherical k-means on
  the directions, as model2vec's vocabulary quantization does). ``codebook`` holds the exact rows,
  then the centroids; ``codes[token]`` is the token's codebook row and ``scales[token]`` its scale
  (1.0 for exact rows), so ``row(token) = codebook[codes[token]] * scales[token]``.

Why int8 rows by default, measured on MiniLM-L6's 30522 x 384 table (``benchmarks/embedding_tables.py``,
4,096 exact rows covering 87% of the test tokens): k-means with 4,096 directions (12.8 MB) brings
the tail rows back with mean cosine 0.66, a rank-64 factorization of the tail (13.2 MB) 0.70,
int4 rows with a scale per row (11.5 MB) 0.991. The token embeddings of a trained BERT are not
clustered and not low-rank; per-row scalar quantization is what keeps them. int4 rows would halve
the bytes again, but the gathers here cannot read int4 (LiteRT's GATHER copies raw elements), so
the rows are stored as int8; an int4 table is a convert-time variant instead (LiteRT's
EMBEDDING_LOOKUP and Core ML read int4 tables: ``mobilekit.convert.embedding_int4``).

Either way the graph is gathers and a multiply that every converter keeps as such (ONNX Gather,
TFLite GATHER/EMBEDDING_LOOKUP and CAST, MIL gather). On disk the model folder stays an ordinary
Hugging Face folder whose word embedding is the dense reconstruction (``EmbeddingTable.dense``,
the same float32 products the gathers compute), so anything that loads it with ``AutoModel``
computes what the compressed graph computes; the table itself is
``mobilekit_embedding_table.safetensors`` beside it, and ``attach_if_present`` (called where the
converters load the model) swaps the dense ``nn.Embedding`` for the gathers.

Also here, only for measuring against: int4 rows and a rank-r factorization of the tail
(GroupReduce with one group), as dense reconstructions with the bytes they would take.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

TABLE_FILE = "mobilekit_embedding_table.safetensors"
KMEANS = "kmeans"
INT8_ROWS = "int8-rows"
METHODS = (INT8_ROWS, KMEANS)


@dataclass(frozen=True)
class EmbeddingTable:
    """``row(token) = codebook[codes[token]] * scales[token]`` (k-means), or, without codes,
    ``codebook[token] * scales[token]`` with an int8 codebook (int8 rows)."""

    method: str
    codebook: np.ndarray  # k-means: float32 (exact + clusters, hidden); int8 rows: int8 (vocab, hidden)
    codes: np.ndarray | None  # k-means: int32 (vocab,), each token's codebook row; int8 rows: None
    scales: np.ndarray  # float32 (vocab,): each token's scale (k-means: 1.0 for exact rows)
    exact_rows: int = 0

    @property
    def vocab_size(self) -> int:
        return len(self.scales)

    def dense(self) -> np.ndarray:
        """The full (vocab, hidden) table the gathers compute, in float32."""
        rows = self.codebook[self.codes] if self.codes is not None else self.codebook
        return (rows.astype(np.float32) * self.scales[:, None]).astype(np.float32)

    @property
    def nbytes(self) -> int:
        return int(self.codebook.nbytes + (self.codes.nbytes if self.codes is not None else 0) + self.scales.nbytes)

    def describe(self) -> dict:
        vocab, hidden = self.vocab_size, self.codebook.shape[1]
        shared = {"clusters": len(self.codebook) - self.exact_rows, "exact_rows": self.exact_rows} if self.method == KMEANS else {}
        return {"method": self.method, "vocab_size": vocab, **shared, "bytes": self.nbytes,
                "dense_bytes": vocab * hidden * 4, "ratio": round(vocab * hidden * 4 / self.nbytes, 2)}

    def save(self, folder: Path) -> Path:
        from safetensors.numpy import save_file

        path = Path(folder) / TABLE_FILE
        arrays = {"codebook": self.codebook, "scales": self.scales}
        if self.codes is not None:
            arrays["codes"] = self.codes
        save_file(arrays, str(path), metadata={"method": self.method, "exact_rows": str(self.exact_rows)})
        return path

    @classmethod
    def load(cls, folder: Path) -> "EmbeddingTable | None":
        """The folder's table, or None when it has none."""
        from safetensors import safe_open

        path = Path(folder) / TABLE_FILE
        if not path.is_file():
            return None
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            arrays = {name: f.get_tensor(name) for name in f.keys()}
        if meta.get("method") not in METHODS:
            from mobilekit.errors import ModelInputError

            raise ModelInputError(f"{path} holds a {meta.get('method')!r} table; this mobilekit reads {', '.join(METHODS)}",
                                  hint="rebuild the distill stage with this mobilekit")
        codes = arrays.get("codes")
        return cls(meta["method"], arrays["codebook"], codes.astype(np.int32) if codes is not None else None,
                   arrays["scales"].astype(np.float32), int(meta.get("exact_rows", 0)))


def int8_table(weight: np.ndarray) -> EmbeddingTable:
    """Every row symmetric int8 (-127..127) with its own float32 scale."""
    weight = np.asarray(weight, dtype=np.float32)
    scales = np.maximum(np.abs(weight).max(axis=1), 1e-12) / 127.0
    codebook = np.clip(np.round(weight / scales[:, None]), -127, 127).astype(np.int8)
    return EmbeddingTable(INT8_ROWS, codebook, None, scales.astype(np.float32))


# -- which rows stay exact ---------------------------------------------------------------------


def token_counts(tokenizer, texts: Sequence[str], vocab_size: int, batch: int = 512) -> np.ndarray:
    """How often each token id occurs in ``texts`` (special tokens not counted)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for start in range(0, len(texts), batch):
        for ids in tokenizer(list(texts[start:start + batch]), add_special_tokens=False)["input_ids"]:
            np.add.at(counts, np.asarray(ids, dtype=np.int64), 1)
    return counts


def choose_exact_rows(counts: np.ndarray, exact: int, always: Sequence[int] = ()) -> np.ndarray:
    """The ``exact`` most frequent token ids (ties by id), ``always`` included; sorted ids."""
    always = sorted(set(int(i) for i in always))
    order = np.lexsort((np.arange(len(counts)), -counts))  # most frequent first, then by id
    chosen = list(always)
    taken = set(always)
    for token in order:
        if len(chosen) >= max(exact, len(always)):
            break
        if int(token) not in taken and counts[token] > 0:
            chosen.append(int(token))
            taken.add(int(token))
    return np.asarray(sorted(chosen), dtype=np.int64)


# -- the k-means table -------------------------------------------------------------------------


def kmeans_table(weight: np.ndarray, exact_ids: np.ndarray, clusters: int, *, seed: int = 0,
                 iterations: int = 20) -> EmbeddingTable:
    """Exact rows for ``exact_ids``; every other row = one of ``clusters`` unit directions times
    its least-squares scale (spherical k-means, seeded, ``iterations`` Lloyd steps)."""
    weight = np.asarray(weight, dtype=np.float32)
    vocab = len(weight)
    exact_ids = np.asarray(exact_ids, dtype=np.int64)
    tail = np.setdiff1d(np.arange(vocab), exact_ids)
    codes = np.zeros(vocab, dtype=np.int32)
    scales = np.ones(vocab, dtype=np.float32)
    codes[exact_ids] = np.arange(len(exact_ids), dtype=np.int32)
    if not len(tail):
        return EmbeddingTable(KMEANS, weight[exact_ids].copy(), codes, scales, len(exact_ids))
    clusters = max(1, min(clusters, len(tail)))
    centroids, assignment = _spherical_kmeans(weight[tail], clusters, seed=seed, iterations=iterations)
    codes[tail] = len(exact_ids) + assignment
    scales[tail] = np.einsum("ij,ij->i", weight[tail], centroids[assignment])  # unit centroids: <row, c>
    codebook = np.concatenate([weight[exact_ids], centroids]).astype(np.float32)
    return EmbeddingTable(KMEANS, codebook, codes, scales, len(exact_ids))


def _spherical_kmeans(rows: np.ndarray, k: int, *, seed: int, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """(unit centroids (k, hidden), each row's centroid) by cosine, seeded with k distinct rows."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    directions = rows / np.maximum(norms, 1e-12)
    rng = np.random.default_rng(seed)
    centroids = directions[rng.choice(len(rows), size=k, replace=False)].copy()
    assignment = np.zeros(len(rows), dtype=np.int32)
    for _ in range(iterations):
        assignment = _nearest(directions, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assignment, directions)
        lengths = np.linalg.norm(sums, axis=1, keepdims=True)
        empty = lengths[:, 0] < 1e-12
        if empty.any():  # an empty cluster takes the rows its centroid explains worst
            worst = np.argsort(np.einsum("ij,ij->i", directions, centroids[assignment]))[: int(empty.sum())]
            sums[empty], lengths[empty] = directions[worst], 1.0
        centroids = sums / lengths
    return centroids.astype(np.float32), _nearest(directions, centroids)


def _nearest(directions: np.ndarray, centroids: np.ndarray, chunk: int = 4096) -> np.ndarray:
    out = np.empty(len(directions), dtype=np.int32)
    for start in range(0, len(directions), chunk):
        out[start:start + chunk] = np.argmax(directions[start:start + chunk] @ centroids.T, axis=1)
    return out


# -- the alternatives it was measured against --------------------------------------------------


def int4_rows(weight: np.ndarray, exact_ids: np.ndarray) -> tuple[np.ndarray, int]:
    """(dense reconstruction, bytes): the tail rows symmetric int4 with a float32 scale per row."""
    weight = np.asarray(weight, dtype=np.float32)
    tail = np.setdiff1d(np.arange(len(weight)), exact_ids)
    out = weight.copy()
    scale = np.maximum(np.abs(weight[tail]).max(axis=1, keepdims=True), 1e-12) / 7.0
    out[tail] = np.clip(np.round(weight[tail] / scale), -8, 7) * scale
    hidden = weight.shape[1]
    return out, int(len(exact_ids) * hidden * 4 + len(tail) * (hidden / 2 + 4))


def low_rank_rows(weight: np.ndarray, exact_ids: np.ndarray, rank: int) -> tuple[np.ndarray, int]:
    """(dense reconstruction, bytes): the tail rows as a rank-``rank`` product (truncated SVD)."""
    weight = np.asarray(weight, dtype=np.float32)
    tail = np.setdiff1d(np.arange(len(weight)), exact_ids)
    u, s, vt = np.linalg.svd(weight[tail], full_matrices=False)
    out = weight.copy()
    out[tail] = (u[:, :rank] * s[:rank]) @ vt[:rank]
    hidden = weight.shape[1]
    return out, int(len(exact_ids) * hidden * 4 + (len(tail) + hidden) * rank * 4)


def reconstruction_error(weight: np.ndarray, dense: np.ndarray, rows: np.ndarray) -> dict:
    """Relative Frobenius error and mean cosine of ``rows`` (e.g. the tail) against the original."""
    a, b = np.asarray(weight, np.float64)[rows], np.asarray(dense, np.float64)[rows]
    cos = np.einsum("ij,ij->i", a, b) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return {"relative_error": float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-12)), "mean_cosine": float(cos.mean())}


# -- in a torch model --------------------------------------------------------------------------


def compressed_embedding(table: EmbeddingTable):
    """A torch module computing the table's rows from its arrays (buffers, not parameters):
    ``codebook[codes[ids]] * scales[ids]``, or ``float(codebook[ids]) * scales[ids]`` for int8 rows."""
    import torch

    class CompressedEmbedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("codebook", torch.from_numpy(table.codebook.copy()))
            self.register_buffer("codes", torch.from_numpy(table.codes.copy()) if table.codes is not None else None)
            self.register_buffer("scales", torch.from_numpy(table.scales.copy()).unsqueeze(1))
            self.num_embeddings, self.embedding_dim = table.vocab_size, table.codebook.shape[1]

        def forward(self, input_ids):
            import torch.nn.functional as F

            scale = F.embedding(input_ids, self.scales)
            if self.codes is None:  # int8 rows: an integer gather, then a cast (EMBEDDING_LOOKUP takes float tables only)
                return self.codebook[input_ids].to(scale.dtype) * scale
            return F.embedding(self.codes[input_ids], self.codebook) * scale

    return CompressedEmbedding()


def attach(model, table: EmbeddingTable) -> None:
    """Replace ``model``'s input embedding with the compressed gathers."""
    current = model.get_input_embeddings()
    if current.weight.shape != (table.vocab_size, table.codebook.shape[1]):
        from mobilekit.errors import ModelInputError

        raise ModelInputError(f"the embedding table is {table.vocab_size} x {table.codebook.shape[1]}, "
                              f"the model's word embedding {tuple(current.weight.shape)}",
                              hint=f"the folder's {TABLE_FILE} belongs to another model: rebuild the distill stage")
    model.set_input_embeddings(compressed_embedding(table))


def attach_if_present(model, folder: Path) -> dict | None:
    """``attach`` the folder's table when it has one; its description, else None."""
    table = EmbeddingTable.load(folder)
    if table is None:
        return None
    attach(model, table)
    return table.describe()


def set_dense(model, table: EmbeddingTable) -> None:
    """Write the table's dense reconstruction into ``model``'s own ``nn.Embedding`` (for saving)."""
    import torch

    embedding = model.get_input_embeddings()
    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(table.dense()))
