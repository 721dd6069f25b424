"""Compare ways to store MiniLM's word-embedding table while keeping the whole vocabulary.

    .venv/bin/python benchmarks/embedding_tables.py [--exact 4096] [--out results.json]

int8 rows with a scale per row for every token (what mobilekit ships by default); then, with the
same exact rows (the most frequent tokens of the benchmark's training text plus 4,000
general-English sentences, and the special tokens), the other rows stored as k-means directions
with a per-token scale (``distill.embedding_table = "kmeans"``), int4 rows with a scale per row,
or a rank-r factorization (GroupReduce with one group). For each: bytes, and how well the rows
come back, per row of the tail and per token of the test sentences (which is what a model reads:
a frequent token counts as often as it occurs). No training here: docs/compress.md has what the
shipped method does to accuracy. Data: `bash setup/install.sh example-weights` (MiniLM, the Pang &
Lee sentences); the general text is ~/.cache/mobilekit/data/nlp-corpus-4000.txt when present.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CACHE = Path.home() / ".cache" / "mobilekit"


def split_texts(source: Path) -> tuple[list[str], list[str]]:
    """(training + validation texts, test texts) as compress_minilm.py prepares and splits them."""
    import importlib.util
    import tempfile

    from mobilekit.data import Example, split

    spec = importlib.util.spec_from_file_location("compress_minilm", REPO / "benchmarks" / "compress_minilm.py")
    compress_minilm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compress_minilm)
    with tempfile.TemporaryDirectory() as tmp:
        data_csv = Path(tmp) / "data.csv"
        compress_minilm.prepare_data(source, data_csv)
        with data_csv.open(encoding="utf-8", newline="") as f:
            examples = [Example(row["text"], row["label"]) for row in csv.DictReader(f)]
    parts = split(examples, validation_fraction=0.05, test_fraction=0.125, seed=0)
    return [e.text for e in parts.train + parts.validation], [e.text for e in parts.test]


def main() -> None:
    from transformers import AutoModel, AutoTokenizer

    from mobilekit.compress import embedding_table as tables

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=CACHE / "models" / "all-MiniLM-L6-v2")
    parser.add_argument("--data", type=Path, default=CACHE / "data" / "pang-lee-polarity.csv")
    parser.add_argument("--general", type=Path, default=CACHE / "data" / "nlp-corpus-4000.txt")
    parser.add_argument("--exact", type=int, default=4096)
    parser.add_argument("--out", type=Path, default=CACHE / "bench" / "embedding-tables.json")
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(str(args.model))
    weight = AutoModel.from_pretrained(str(args.model)).get_input_embeddings().weight.detach().numpy().copy()
    corpus, test = split_texts(args.data)
    general = args.general.read_text(encoding="utf-8").splitlines() if args.general.is_file() else []
    counts = tables.token_counts(tokenizer, corpus + general, len(weight))
    exact = tables.choose_exact_rows(counts, args.exact, always=tokenizer.all_special_ids)
    tail = np.setdiff1d(np.arange(len(weight)), exact)
    test_ids = np.asarray([i for row in tokenizer(test, add_special_tokens=False)["input_ids"] for i in row])
    dense_bytes = weight.nbytes

    def row(method: str, dense: np.ndarray, nbytes: int, seconds: float) -> dict:
        tail_error = tables.reconstruction_error(weight, dense, tail)
        occurrences = tables.reconstruction_error(weight, dense, test_ids)
        figures = {"method": method, "bytes": nbytes, "ratio": round(dense_bytes / nbytes, 2),
                   "tail_relative_error": round(tail_error["relative_error"], 4), "tail_mean_cosine": round(tail_error["mean_cosine"], 4),
                   "test_token_mean_cosine": round(occurrences["mean_cosine"], 5), "seconds": round(seconds, 1)}
        print(json.dumps(figures), flush=True)
        return figures

    rows = []
    started = time.monotonic()
    table = tables.int8_table(weight)
    rows.append(row("int8 rows + scale per row, every row (shipped default)", table.dense(), table.nbytes, time.monotonic() - started))
    for clusters in (512, 1024, 2048, 4096):
        started = time.monotonic()
        table = tables.kmeans_table(weight, exact, clusters, seed=0)
        rows.append(row(f"k-means, {clusters} directions + scale", table.dense(), table.nbytes, time.monotonic() - started))
    started = time.monotonic()
    dense, nbytes = tables.int4_rows(weight, exact)
    rows.append(row("int4 rows + scale per row", dense, nbytes, time.monotonic() - started))
    dense, nbytes = tables.int4_rows(weight, np.asarray([], dtype=np.int64))
    rows.append(row("int4 rows + scale per row, every row", dense, nbytes, 0.0))
    for rank in (32, 64, 128):
        started = time.monotonic()
        dense, nbytes = tables.low_rank_rows(weight, exact, rank)
        rows.append(row(f"rank {rank} (one group)", dense, nbytes, time.monotonic() - started))
    exact_share = float(np.isin(test_ids, exact).mean())
    result = {"model": str(args.model), "vocab": len(weight), "hidden": weight.shape[1], "dense_bytes": dense_bytes,
              "exact_rows": len(exact), "frequency_texts": len(corpus) + len(general), "test_sentences": len(test),
              "test_tokens": len(test_ids), "test_tokens_exact": round(exact_share, 4), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{len(exact)} exact rows cover {exact_share:.1%} of the test tokens; results: {args.out}")


if __name__ == "__main__":
    main()
