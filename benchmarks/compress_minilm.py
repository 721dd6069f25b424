"""Benchmark: fine-tune all-MiniLM-L6-v2 on Pang & Lee movie-review sentences, distill and trim.

Not a test: it runs the real pipeline stages (`finetune`, `distill`) on real weights and data and
prints, and writes to <work>/results.json, the figures docs/compress.md quotes. The teacher is
cached by the pipeline's manifest in <work>/build: rerunning with other distill settings only
redoes the distillation.

Inputs (fetched by `bash setup/install.sh example-weights`):
  ~/.cache/mobilekit/models/all-MiniLM-L6-v2          the encoder (sentence-transformers folder)
  ~/.cache/mobilekit/data/pang-lee-polarity.csv       4,000 sentences, no header: label (1/-1), text

    .venv/bin/python benchmarks/compress_minilm.py [--work DIR] [--layers 1,3,5] [--min-count 1] ...
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "mobilekit"
LABELS = {"1": "positive", "-1": "negative"}


def prepare_data(source: Path, target: Path) -> int:
    """The corpus ships without a header and with texts that end in a newline: write text,label."""
    rows = []
    with source.open(encoding="utf-8-sig", newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if len(row) != 2 or row[0] not in LABELS:
                raise SystemExit(f"{source}: line {number} is not label,text: {row[:2]!r}")
            rows.append((" ".join(row[1].split()), LABELS[row[0]]))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return len(rows)


def write_config(work: Path, args) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.conftest import write_toml

    distill = {
        "enabled": True,
        "epochs": args.distill_epochs,
        "batch_size": 32,
        "learning_rate": args.distill_lr,
        "temperature": args.temperature,
        "alpha": args.alpha,
        "hidden_weight": args.hidden_weight,
        "trim_vocabulary": args.min_count > 0,
        "trim_min_count": max(1, args.min_count),
        "trim_epochs": args.trim_epochs,
    }
    if args.layers:
        distill["layers"] = [int(x) for x in args.layers.split(",")]
    return write_toml(work / "mobilekit.toml", {
        "project": {"name": "Movie sentiment", "build_dir": "build"},
        "model": {"path": str(args.model), "task": "text-classification", "sequence_length": 64},
        # 4,000 sentences: 500 test (as in data.md's measurement), 200 validation, 3,300 train.
        "data": {"path": "data.csv", "validation_fraction": 0.05, "test_fraction": 0.125, "seed": 0},
        "finetune": {"enabled": True, "epochs": 2, "batch_size": 32, "learning_rate": 5e-5, "patience": 1},
        "distill": distill,
    })


def machine() -> dict:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=CACHE / "bench" / "compress-minilm")
    parser.add_argument("--model", type=Path, default=CACHE / "models" / "all-MiniLM-L6-v2")
    parser.add_argument("--data", type=Path, default=CACHE / "data" / "pang-lee-polarity.csv")
    parser.add_argument("--layers", default="", help="teacher layers the student keeps (default: every other one)")
    parser.add_argument("--min-count", type=int, default=1, help="vocabulary trimming min count (0: no trimming)")
    parser.add_argument("--trim-epochs", type=int, default=1, help="distillation epochs after trimming")
    parser.add_argument("--distill-epochs", type=int, default=4)
    parser.add_argument("--distill-lr", type=float, default=1e-4)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--hidden-weight", type=float, default=0.0)
    args = parser.parse_args()
    for path in (args.model, args.data):
        if not path.exists():
            raise SystemExit(f"missing {path}: run `bash setup/install.sh example-weights` first")

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = args.work.resolve()
    rows = prepare_data(args.data, work / "data.csv")
    from mobilekit.config import load_config
    from mobilekit.pipeline import Pipeline
    from mobilekit.progress import Progress

    config = load_config(write_config(work, args))
    started = time.monotonic()
    result = Pipeline(config, progress=Progress(live=False), on_event=lambda stage, msg: print(f"[{stage}] {msg}", flush=True)).run(
        ["finetune", "distill"]
    )
    summary = {s["stage"]: s for s in result.summary()["stages"]}
    finetune, distill = summary["finetune"], summary["distill"]
    m = distill["metrics"]
    shipped = m[m["shipped"]]
    results = {
        "machine": machine(),
        "rows": rows,
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "finetune": {"outcome": finetune["outcome"], "duration_s": finetune["duration_s"], **finetune["metrics"]},
        "distill": {"outcome": distill["outcome"], "duration_s": distill["duration_s"], **m},
        "headline": {
            "teacher_accuracy": m["teacher"].get("accuracy"),
            "student_accuracy": m["student"].get("accuracy"),
            "shipped_accuracy": shipped.get("accuracy"),
            "accuracy_retained": m.get("quality_retained"),
            "teacher_bytes": m["teacher"]["safetensors_bytes"],
            "shipped_bytes": shipped["safetensors_bytes"],
            "size_ratio": m["size_ratio"],
            "goal_met": bool(m.get("quality_retained", 0) >= 0.98 and m["size_ratio"] >= 3.0),
        },
        "wall_s": round(time.monotonic() - started, 1),
    }
    (work / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results["headline"], indent=2))
    print(f"full results: {work / 'results.json'}")


if __name__ == "__main__":
    main()
