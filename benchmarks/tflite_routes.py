"""Compare the two TFLite routes: ONNX -> onnx2tf, and torch -> litert-torch. Prints a table.

    .venv/bin/python benchmarks/tflite_routes.py [--models tiny-classifier,minilm] [--rows 100]
                                                [--json out.json]

For each model, both routes build all four variants (float32, float16, dynamic-int8, full-int8)
from the same folder, calibrated on the same rows, and every variant is run with mobilekit's
TfliteRunner (the main environment's LiteRT) on the same evaluation rows against the torch
reference (``reference_outputs``): max abs diff, mean cosine (embeddings) or argmax agreement
(classifiers), file size, and build seconds.

Build seconds: "shared" is the wall time of the steps every variant needs (onnx2tf: torch ->
ONNX export plus the onnx2tf run(s) and its child process start; litert-torch: the child
process start, imports, model load and litert_torch.convert); each variant's own figure is the
extra step that makes it (copying onnx2tf's float file, TFLiteConverter quantization, the
ai-edge-quantizer pass). onnx2tf's full-int8 needs its own onnx2tf run (the graph with the mask
constant rewritten), shown as "int8 graph". "wall" is everything for all four variants.

Models: tiny-classifier (tests/tiny_models.py, trained head, seq 16) and minilm
(~/.cache/mobilekit/models/all-MiniLM-L6-v2 from `bash setup/install.sh example-weights`,
sentence-embedding, seq 128; rows from ~/.cache/mobilekit/data/pang-lee-polarity.csv).
Not a test: minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HOME = Path(os.environ.get("MOBILEKIT_HOME", Path.home() / ".cache" / "mobilekit"))
VARIANTS = ["float32", "float16", "dynamic-int8", "full-int8"]


def _pang_lee(n: int, offset: int) -> list[str]:
    path = HOME / "data" / "pang-lee-polarity.csv"
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r[1].strip() for r in csv.reader(f) if len(r) >= 2]
    # alternate the two halves (the file lists positives, then negatives)
    mixed = [t for pair in zip(rows[: len(rows) // 2], rows[len(rows) // 2:]) for t in pair]
    return mixed[offset: offset + n]


def _models(names: list[str], work: Path, rows: int) -> list[dict]:
    from tests.tiny_models import calibration_texts, make_trained_tiny_classifier, sentiment_samples

    models = []
    for name in names:
        if name == "tiny-classifier":
            folder = make_trained_tiny_classifier(work / "tiny-classifier")
            models.append(dict(name=name, folder=folder, task="text-classification", seq=16, pooling="mean",
                               normalize=True, eval=sentiment_samples(rows, seed=99)[0], calib=calibration_texts()))
        elif name == "minilm":
            folder = HOME / "models" / "all-MiniLM-L6-v2"
            if not (folder / "model.safetensors").is_file():
                sys.exit(f"{folder} is missing: run `bash setup/install.sh example-weights`")
            models.append(dict(name=name, folder=folder, task="sentence-embedding", seq=128, pooling="mean",
                               normalize=True, eval=_pang_lee(rows, 0), calib=_pang_lee(100, 2000)))
        else:
            sys.exit(f"unknown model {name!r} (tiny-classifier, minilm)")
    return models


def _measure(model: dict, paths: dict, enc, ref) -> dict:
    import numpy as np

    from mobilekit.runners.tflite_runner import TfliteRunner

    out = {}
    for variant, path in paths.items():
        got = TfliteRunner(path).run(enc)
        row = {"max_abs_diff": float(np.max(np.abs(got - ref))), "bytes": path.stat().st_size}
        if model["task"] == "text-classification":
            row["agreement"] = float(np.mean(got.argmax(1) == ref.argmax(1)))
        else:
            cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
            row["mean_cosine"], row["min_cosine"] = float(cos.mean()), float(cos.min())
        out[variant] = row
    return out


def run_model(model: dict, work: Path) -> dict:
    from mobilekit.convert.litert_torch import convert_tflite_litert_torch_detailed
    from mobilekit.convert.onnx_export import export_onnx, reference_outputs, tokenize
    from mobilekit.convert.tflite import convert_tflite_detailed

    folder, task, seq = model["folder"], model["task"], model["seq"]
    kw = dict(task=task, pooling=model["pooling"], normalize=model["normalize"])
    enc = tokenize(folder, model["eval"], seq)
    calibration = tokenize(folder, model["calib"], seq)
    ref = reference_outputs(folder, enc, **kw)
    result = {}

    print(f"[{model['name']}] onnx2tf route ...", flush=True)
    start = time.monotonic()
    info = export_onnx(folder, work / "onnx" / "model.onnx", sequence_length=seq, **kw)
    export_s = time.monotonic() - start
    conv = convert_tflite_detailed(info.path, work / "onnx2tf", variants=VARIANTS, calibration=calibration)
    wall = time.monotonic() - start
    s = conv.seconds
    plain = s.get("onnx2tf:model.onnx", 0.0)
    int8_graph = s.get("onnx2tf:model_int8.onnx", 0.0)
    variant_s = sum(s.get(v, 0.0) for v in VARIANTS)
    result["onnx2tf"] = {
        "wall": wall, "shared": wall - variant_s - int8_graph, "int8_graph": int8_graph,
        "detail": {"onnx_export": export_s, "onnx2tf_plain": plain, **s},
        "variants": _measure(model, conv.paths, enc, ref),
    }
    for v in VARIANTS:
        result["onnx2tf"]["variants"][v]["seconds"] = s.get(v, 0.0)

    print(f"[{model['name']}] litert-torch route ...", flush=True)
    start = time.monotonic()
    conv = convert_tflite_litert_torch_detailed(folder, work / "litert", sequence_length=seq, variants=VARIANTS,
                                                calibration=calibration, **kw)
    wall = time.monotonic() - start
    s = conv.seconds
    variant_s = sum(s.get(v, 0.0) for v in VARIANTS)
    result["litert-torch"] = {
        "wall": wall, "shared": wall - variant_s, "int8_graph": 0.0, "detail": s,
        "variants": _measure(model, conv.paths, enc, ref),
    }
    for v in VARIANTS:
        result["litert-torch"]["variants"][v]["seconds"] = s.get(v, 0.0)
    return result


def table(models: list[dict], results: dict) -> str:
    lines = ["| model | route | variant | max abs diff vs torch | cosine mean / min or argmax agreement | size | build s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for model in models:
        for route in ("onnx2tf", "litert-torch"):
            r = results[model["name"]][route]
            for v in VARIANTS:
                row = r["variants"][v]
                quality = (f"{row['agreement']:.1%}" if "agreement" in row
                           else f"{row['mean_cosine']:.6f} / {row['min_cosine']:.6f}")
                secs = f"{row['seconds']:.1f}"
                if v == "full-int8" and r["int8_graph"]:
                    secs += f" (+ {r['int8_graph']:.1f} int8 graph)"
                lines.append(f"| {model['name']} (seq {model['seq']}) | {route} | {v} | {row['max_abs_diff']:.2e} | "
                             f"{quality} | {row['bytes'] / 1e6:.2f} MB | {secs} |")
            lines.append(f"| {model['name']} (seq {model['seq']}) | {route} | shared steps / all four (wall) | | | | "
                         f"{r['shared']:.1f} / **{r['wall']:.1f}** |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny-classifier,minilm")
    parser.add_argument("--rows", type=int, default=100, help="evaluation rows per model")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="mobilekit-routes-") as tmp:
        work = Path(tmp)
        models = _models(args.models.split(","), work, args.rows)
        results = {m["name"]: run_model(m, work / m["name"]) for m in models}
    load_after = os.getloadavg()
    print()
    print(f"machine: {os.cpu_count()} cores; load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"(1 min); {args.rows} evaluation rows per model")
    print(table(models, results))
    if args.json:
        args.json.write_text(json.dumps({"load": [load_before, load_after], "results": results}, indent=2, default=str))


if __name__ == "__main__":
    main()
