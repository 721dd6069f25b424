"""The int4 word-embedding table variants on MiniLM-L6: file sizes and parity against torch.

    .venv/bin/python benchmarks/int4_embedding.py [--out results.json]

Converts all-MiniLM-L6-v2 (sentence embeddings, mean pooling, normalized, 128 tokens, one length
bucket) to TFLite dynamic-int8 and dynamic-int8-int4emb (litert-torch route) and Core ML int8 and
int8-int4emb, runs every file on the example's sentences (TFLite: the main environment's LiteRT;
Core ML: mobilekit's MIL interpreter) and compares with torch: bytes, max abs diff, mean and min
cosine. Also how well the word table's rows come back per token of those sentences with int4 in
one scale per row and in blocks of 128, 64 and 32 (the block choice of
``mobilekit/convert/embedding_int4.py``). Data: `bash setup/install.sh example-weights` (MiniLM).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CACHE = Path.home() / ".cache" / "mobilekit"
SEQUENCE_LENGTH = 128
TASK = dict(task="sentence-embedding", sequence_length=SEQUENCE_LENGTH, pooling="mean", normalize=True)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def judged(path: Path, outputs: np.ndarray, reference: np.ndarray) -> dict:
    from mobilekit.variants import artifact_size

    cos = cosines(outputs, reference)
    return {"bytes": artifact_size(path), "max_abs_diff": float(np.max(np.abs(outputs - reference))),
            "mean_cosine": float(cos.mean()), "min_cosine": float(cos.min())}


def converted_files(model: Path, out: Path) -> dict[str, Path]:
    """{artifact key: file} of the four variants."""
    from mobilekit import variants as _v
    from mobilekit.convert.coreml import convert_coreml
    from mobilekit.convert.litert_torch import convert_tflite_litert_torch

    tflite = convert_tflite_litert_torch(model, out / "tflite", variants=[_v.DYNAMIC_INT8, _v.DYNAMIC_INT8_INT4_EMBEDDING],
                                         calibration=None, **TASK)
    coreml = convert_coreml(model, out / "coreml", variants=[_v.INT8, _v.INT8_INT4_EMBEDDING], **TASK)
    return {**{_v.tflite_key(v): p for v, p in tflite.items()}, **{_v.coreml_key(v): p for v, p in coreml.items()}}


def outputs_of(key: str, path: Path, encodings: dict) -> np.ndarray:
    from mobilekit import variants as _v
    from mobilekit.mil import MilProgram
    from mobilekit.runners.tflite_runner import run_tflite

    if _v.by_key(key).format == _v.TFLITE:
        return run_tflite(path, encodings)
    rows = len(encodings["input_ids"])
    return np.asarray(MilProgram.from_package(path).run(encodings)["embedding"], dtype=np.float32).reshape(rows, -1)


def table_rows_per_token(model: Path, encodings: dict) -> dict[str, float]:
    """Mean cosine of the word table's rows, per token of the sentences, after int4 per row or per block."""
    from safetensors.numpy import load_file

    weight = next(v for k, v in load_file(str(model / "model.safetensors")).items() if "word_embeddings" in k)
    weight = weight.astype(np.float32)
    tokens = encodings["input_ids"][encodings["attention_mask"] == 1]
    rows = weight[tokens]
    found = {}
    for block in (rows.shape[1], 128, 64, 32):
        blocks = rows.reshape(len(rows), -1, block)
        scale = np.maximum(np.abs(blocks).max(axis=-1, keepdims=True), 1e-12) / 7.0
        if block < rows.shape[1]:
            scale = scale.astype(np.float16).astype(np.float32)  # blockwise scales are stored float16
        back = (np.clip(np.round(blocks / scale), -8, 7) * scale).reshape(rows.shape)
        found["per row" if block == rows.shape[1] else f"blocks of {block}"] = float(cosines(rows, back).mean())
    return found


def main() -> None:
    from mobilekit.convert.onnx_export import reference_outputs, tokenize

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=CACHE / "models" / "all-MiniLM-L6-v2")
    parser.add_argument("--texts", type=Path, default=REPO / "examples" / "minilm-embeddings" / "sentences.txt")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    texts = [t for t in args.texts.read_text(encoding="utf-8").splitlines() if t.strip()]
    encodings = tokenize(args.model, texts, SEQUENCE_LENGTH)
    reference = reference_outputs(args.model, encodings, **{k: TASK[k] for k in ("task", "pooling", "normalize")})
    with tempfile.TemporaryDirectory(prefix="mobilekit-int4emb-") as tmp:
        files = converted_files(args.model, Path(tmp))
        variants = {key: judged(path, outputs_of(key, path, encodings), reference) for key, path in files.items()}
    results = {"sentences": len(texts), "variants": variants,
               "table_cosine_per_token": table_rows_per_token(args.model, encodings)}
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
