"""``static_model.bin``: a static student as one little-endian file, and its reference inference.

The Kotlin and Swift SDKs read this file and compute what ``StaticModel.pooled`` computes here,
so the layout below is a contract with ``templates/*/static``:

    offset  what
    0       magic "MKSTATIC" (8 bytes)
    8       u32 version (1)
    12      u32 vocab_size V, u32 table_dims D, u32 output_dims H, u32 labels L (0: an embedder)
    28      u32 flags: 1 = int8 rows, 2 = projection, 4 = L2-normalize the output
    32      u32 excluded count E, then E x i32: token ids the mean leaves out ([CLS], [SEP], [PAD])
    ...     int8 rows: V x f32 scales, V x D i8 rows (then zero bytes up to a multiple of 4)
            else:      V x D f32
            projection: D x H f32, then H f32 offset
            head: L x H f32 weights, then L f32 biases

A text's vector: the mean of its rows (``row = int8 x scale`` for int8 rows) over the ids not
excluded (zeros when none is left), then ``@ projection + offset``, then ``weights @ v + bias``
for a classifier (logits), or the L2 normalization for an embedder that asks for it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mobilekit.errors import ModelInputError

MAGIC = b"MKSTATIC"
VERSION = 1
FILE_NAME = "static_model.bin"
DESCRIPTION_FILE = "static_model.json"  # what the .bin holds, for people and the SDK generators
INT8_ROWS, PROJECTION, NORMALIZE = 1, 2, 4
_HEADER = struct.Struct("<8s7I")


@dataclass(frozen=True)
class StaticModel:
    table: np.ndarray  # float32 [V, D]: the rows as the mean uses them (int8 rows: dequantized)
    projection: np.ndarray | None  # float32 [D, H]
    offset: np.ndarray | None  # float32 [H]
    head_weight: np.ndarray | None  # float32 [L, H]
    head_bias: np.ndarray | None  # float32 [L]
    excluded_ids: list[int]
    normalize: bool
    int8: tuple[np.ndarray, np.ndarray] | None = None  # (int8 rows [V, D], float32 scales [V]) when stored so

    @property
    def vocab_size(self) -> int:
        return int(self.table.shape[0])

    @property
    def output_dims(self) -> int:
        return int(self.projection.shape[1]) if self.projection is not None else int(self.table.shape[1])

    @property
    def num_labels(self) -> int:
        return 0 if self.head_weight is None else int(self.head_weight.shape[0])

    @property
    def parameter_count(self) -> int:
        arrays = (self.table, self.projection, self.offset, self.head_weight, self.head_bias)
        return int(sum(a.size for a in arrays if a is not None))

    def with_projection_folded(self) -> "StaticModel":
        """A classifier's projection folded into its head (W (m P + o) + b = (W P^T) m + (W o + b)): the same
        logits with a [labels, D] head instead of a [D, H] projection, smaller and cheaper per text."""
        from dataclasses import replace

        if self.projection is None or self.head_weight is None:
            return self
        weight = (self.head_weight.astype(np.float64) @ self.projection.T.astype(np.float64)).astype(np.float32)
        bias = (self.head_bias.astype(np.float64) + self.head_weight.astype(np.float64) @ self.offset).astype(np.float32)
        return replace(self, projection=None, offset=None, head_weight=weight, head_bias=bias)

    def with_int8_rows(self) -> "StaticModel":
        """Every row symmetric int8 with its own scale; ``table`` becomes the dequantized rows."""
        from dataclasses import replace

        from mobilekit.compress.embedding_table import int8_table

        quantized = int8_table(self.table)
        rows, scales = quantized.codebook, quantized.scales.astype(np.float32)
        return replace(self, table=rows.astype(np.float32) * scales[:, None], int8=(rows, scales))

    # -- inference -------------------------------------------------------------------------------

    def pooled(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """[texts, H]: each text's mean row (projected); the step before the head or normalization."""
        drop = set(self.excluded_ids)
        out = np.zeros((len(ids), self.table.shape[1]), dtype=np.float32)
        for n, row in enumerate(ids):
            kept = [i for i in row if i not in drop]
            if kept:
                out[n] = self.table[kept].sum(axis=0, dtype=np.float32) / np.float32(len(kept))
        if self.projection is not None:
            out = out @ self.projection + self.offset
        return out

    def logits(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        return self.pooled(ids) @ self.head_weight.T + self.head_bias

    def embed(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        vectors = self.pooled(ids)
        if self.normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.float32(1e-12))
        return vectors

    # -- the file --------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        vocab, dims = self.table.shape
        flags = (INT8_ROWS if self.int8 is not None else 0) | (PROJECTION if self.projection is not None else 0) \
            | (NORMALIZE if self.normalize else 0)
        parts = [_HEADER.pack(MAGIC, VERSION, vocab, dims, self.output_dims, self.num_labels, flags, len(self.excluded_ids)),
                 np.asarray(self.excluded_ids, dtype="<i4").tobytes()]
        if self.int8 is not None:
            rows, scales = self.int8
            parts += [scales.astype("<f4").tobytes(), rows.astype(np.int8).tobytes(), b"\0" * (-rows.size % 4)]
        else:
            parts.append(self.table.astype("<f4").tobytes())
        if self.projection is not None:
            parts += [self.projection.astype("<f4").tobytes(), self.offset.astype("<f4").tobytes()]
        if self.head_weight is not None:
            parts += [self.head_weight.astype("<f4").tobytes(), self.head_bias.astype("<f4").tobytes()]
        return b"".join(parts)

    def save(self, folder: Path) -> Path:
        path = Path(folder) / FILE_NAME
        path.write_bytes(self.to_bytes())
        return path


def load_static_model(path: Path) -> StaticModel:
    """Reads ``static_model.bin`` (a file, or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE_NAME
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelInputError(f"cannot read the static model {path}: {e}", hint="rebuild from the distill stage") from e
    return parse_static_model(data, path)


def parse_static_model(data: bytes, where: Path | str = "static_model.bin") -> StaticModel:
    if len(data) < _HEADER.size or data[:8] != MAGIC:
        raise ModelInputError(f"{where} is not a mobilekit static model (no MKSTATIC header)", hint="rebuild from the distill stage")
    _, version, vocab, dims, width, labels, flags, excluded = _HEADER.unpack_from(data)
    if version != VERSION:
        raise ModelInputError(f"{where} is static model format {version}; this mobilekit reads {VERSION}", hint="rebuild from the distill stage")
    reader = _Reader(data, _HEADER.size, where)
    excluded_ids = reader.array("<i4", excluded).astype(int).tolist()
    int8 = None
    if flags & INT8_ROWS:
        scales = reader.array("<f4", vocab)
        rows = reader.array("i1", vocab * dims).reshape(vocab, dims)
        reader.skip(-rows.size % 4)
        int8 = (rows, scales)
        table = rows.astype(np.float32) * scales[:, None]
    else:
        table = reader.array("<f4", vocab * dims).reshape(vocab, dims)
    projection = offset = weight = bias = None
    if flags & PROJECTION:
        projection = reader.array("<f4", dims * width).reshape(dims, width)
        offset = reader.array("<f4", width)
    if labels:
        weight = reader.array("<f4", labels * width).reshape(labels, width)
        bias = reader.array("<f4", labels)
    reader.finish()
    return StaticModel(table, projection, offset, weight, bias, excluded_ids, bool(flags & NORMALIZE), int8)


class _Reader:
    def __init__(self, data: bytes, position: int, where):
        self.data, self.position, self.where = data, position, where

    def array(self, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if self.position + size > len(self.data):
            raise ModelInputError(f"{self.where} is truncated ({len(self.data)} bytes)", hint="rebuild from the distill stage")
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.position).astype(np.dtype(dtype).newbyteorder("="))
        self.position += size
        return out

    def skip(self, count: int) -> None:
        self.position += count

    def finish(self) -> None:
        if self.position != len(self.data):
            raise ModelInputError(f"{self.where} has {len(self.data) - self.position} bytes after its model", hint="rebuild from the distill stage")
