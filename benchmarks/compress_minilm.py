"""Benchmark: compress all-MiniLM-L6-v2 on Pang & Lee movie-review sentences.

Not a test: it runs the real pipeline stages on real weights and data and prints, and writes to
<work>/results.json, the figures docs/compress.md quotes.

  --task text-classification (default): `finetune` a teacher classifier, `distill` a student,
      trim its vocabulary; with --int8 also `export`, `convert` (TFLite float32, dynamic-int8 and
      dynamic-int8-int4emb)
      and `verify` it, which measures the int8 file's size and accuracy on the same test split.
  --task sentence-embedding: `distill` the encoder itself on the sentences as unlabelled text
      (no labels) and measure the cosine to the teacher's embeddings on held-out sentences.
  --student static: distill a static student instead (a token table averaged over the text;
      --static-dimensions, --static-sif, --static-train-table); benchmarks/static_speed.py times
      its generated Kotlin.

The teacher is cached by the pipeline's manifest in <work>/build: rerunning with other distill
settings only redoes the distillation.

Inputs (fetched by `bash setup/install.sh example-weights`):
  ~/.cache/mobilekit/models/all-MiniLM-L6-v2          the encoder (sentence-transformers folder)
  ~/.cache/mobilekit/data/pang-lee-polarity.csv       4,000 sentences, no header: label (1/-1), text

    .venv/bin/python benchmarks/compress_minilm.py [--task ...] [--work DIR] [--layers 1,3,5] [--min-count 1] ...
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
# --int8: the TFLite files built and verified (the last: int8 layers with an int4 word table).
TFLITE_VARIANTS = ("float32", "dynamic-int8", "dynamic-int8-int4emb")


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


# The recipes docs/compress.md reports (unset options take these).
RECIPES = {
    # 3 of 6 layers, half the feed-forward neurons, vocabulary cut at min count 2: 3.3x smaller.
    "text-classification": {"intermediate_size": 768, "min_count": 2, "distill_epochs": 3, "trim_epochs": 3,
                            "augment": 0, "cls_weight": 1.0, "hidden_weight": 0.0},
    # Half the layers, nothing else cut (the goal is about depth).
    "sentence-embedding": {"intermediate_size": 0, "min_count": 0, "distill_epochs": 6, "trim_epochs": 0,
                           "augment": 2, "cls_weight": 0.0, "hidden_weight": 1.0},
}


def write_config(work: Path, args) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.conftest import write_toml

    classify = args.task == "text-classification"
    distill = {
        "enabled": True,
        "epochs": args.distill_epochs,
        "batch_size": 32,
        "learning_rate": args.distill_lr,
        "temperature": args.temperature,
        "alpha": args.alpha,
        "hidden_weight": args.hidden_weight,
        "cls_weight": args.cls_weight,
        "augment": args.augment,
        "trim_vocabulary": args.min_count > 0 and args.embedding_table == "full",
        "trim_min_count": max(1, args.min_count),
        "trim_epochs": args.trim_epochs,
    }
    if args.intermediate_size:
        distill["intermediate_size"] = args.intermediate_size
    if args.heads:
        distill["heads"] = args.heads
    if args.embedding_table != "full":  # the vocabulary is kept; the table is compressed instead
        distill.update(embedding_table=args.embedding_table, embedding_exact_rows=args.exact_rows,
                       embedding_clusters=args.clusters, embedding_epochs=args.embedding_epochs)
        if args.frequency and args.frequency.is_file():
            distill["embedding_frequency_path"] = str(args.frequency)
    if args.layers:
        distill["layers"] = [int(x) for x in args.layers.split(",")]
    if args.student == "static":
        distill = static_distill(args, distill)
    # 4,000 sentences: 500 test (as in data.md's measurement), 200 validation, 3,300 train.
    data = {"validation_fraction": 0.05, "test_fraction": args.test_fraction, "seed": args.seed}
    if classify:
        data["path"] = "data.csv"
    elif args.extra_text:
        # The 4,000 sentences split as before (the same test sentences); the extra text joins the
        # training split alone, without any line that is also one of the 4,000.
        data.update(path="data.csv", unlabelled_path=str(write_extra_text(work, args.extra_text)))
    else:
        data["unlabelled_path"] = "texts.txt"
    return write_toml(work / "mobilekit.toml", {
        "project": {"name": "Movie sentiment", "build_dir": "build"},
        "model": {"path": str(args.model), "task": args.task, "sequence_length": 64},
        "data": data,
        "finetune": {"enabled": classify, "epochs": 2, "batch_size": 32, "learning_rate": 5e-5, "patience": 1},
        "distill": distill,
        # --int8: the shipped student as TFLite files, checked on the whole test split.
        "convert": {"tflite": list(TFLITE_VARIANTS), "coreml": []},
        "verify": {"samples": 4000, "accuracy_budget": 100.0},  # the whole test split (verify reads at most that)
    })


def write_texts(data_csv: Path, target: Path) -> None:
    """The sentences alone, one per line, for the embedding benchmark (unlabelled text)."""
    with data_csv.open(encoding="utf-8", newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    target.write_text("".join(t + "\n" for t in texts), encoding="utf-8")


def static_distill(args, transformer: dict) -> dict:
    """distill for --student static: the table, its weighting and the head's training."""
    distill = {key: transformer[key] for key in ("enabled", "epochs", "batch_size", "learning_rate", "temperature", "alpha", "augment")}
    distill.update(student="static", static_sif=args.static_sif, static_train_table=args.static_train_table,
                   embedding_table="int8-rows" if args.embedding_table == "int8-rows" else "full")
    if args.static_dimensions:
        distill["static_dimensions"] = args.static_dimensions
    if args.frequency and args.frequency.is_file():
        distill["embedding_frequency_path"] = str(args.frequency)
    return distill


def write_extra_text(work: Path, source: Path) -> Path:
    """``source``'s lines minus the benchmark's own sentences (so no test sentence is trained on)."""
    own = {line.strip() for line in (work / "texts.txt").read_text(encoding="utf-8").splitlines()}
    lines = [line.strip() for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if line not in own]
    target = work / "extra_text.txt"
    target.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    print(f"extra text: {len(kept)} of {len(lines)} lines of {source} (the others are benchmark sentences)", flush=True)
    return target


def int8_figures(build: Path, teacher_bytes: int, teacher_quality: float | None) -> dict:
    """Sizes of the TFLite files and what verify measured for them on the test split."""
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    verify = json.loads((build / "verify" / "results.json").read_text(encoding="utf-8"))
    out = {}
    for variant in TFLITE_VARIANTS:
        if f"convert/tflite-{variant}" not in manifest["artifacts"]:
            continue  # a build from before the variant existed
        artifact = manifest["artifacts"][f"convert/tflite-{variant}"]
        size = (build / artifact["path"]).stat().st_size
        result = verify["variants"][f"tflite-{variant}"]
        figures = {"bytes": size, "size_ratio_vs_teacher": round(teacher_bytes / size, 2), "ships": result["ships"]}
        if result.get("accuracy") is not None:
            figures["accuracy"] = result["accuracy"]
            if teacher_quality:
                figures["accuracy_retained_vs_teacher"] = round(result["accuracy"] / teacher_quality, 4)
        figures["checks"] = [c.get("line") or c for c in result.get("checks", [])]
        out[variant] = figures
    return out


def machine() -> dict:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=("text-classification", "sentence-embedding"), default="text-classification")
    parser.add_argument("--work", type=Path, help="work folder (default ~/.cache/mobilekit/bench/compress-minilm[-embeddings])")
    parser.add_argument("--model", type=Path, default=CACHE / "models" / "all-MiniLM-L6-v2")
    parser.add_argument("--data", type=Path, default=CACHE / "data" / "pang-lee-polarity.csv")
    parser.add_argument("--layers", default="", help="teacher layers the student keeps (default: every other one)")
    parser.add_argument("--intermediate-size", type=int, help="student feed-forward width (0: the teacher's)")
    parser.add_argument("--heads", type=int, help="attention heads each kept layer keeps (default: all)")
    parser.add_argument("--min-count", type=int, help="vocabulary trimming min count (0: no trimming)")
    parser.add_argument("--trim-epochs", type=int, help="distillation epochs after trimming")
    parser.add_argument("--distill-epochs", type=int)
    parser.add_argument("--distill-lr", type=float, default=1e-4)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--hidden-weight", type=float, help="hidden-state matching (TinyBERT; word by word after trimming)")
    parser.add_argument("--cls-weight", type=float, help="[CLS] state matching (Patient KD)")
    parser.add_argument("--augment", type=int, help="perturbed copies of each training text")
    parser.add_argument("--int8", action="store_true", help="also export, convert to TFLite float32 + dynamic-int8 and verify")
    parser.add_argument("--test-fraction", type=float, default=0.125, help="share of the 4,000 sentences held out (0.5: 2,000)")
    parser.add_argument("--seed", type=int, default=0, help="data.seed: the split, the head's initialisation, the batch order")
    parser.add_argument("--extra-text", type=Path, help="sentence-embedding: more unlabelled training text, one per line "
                        "(e.g. the nlp-corpus sentences), deduplicated against the benchmark's own")
    parser.add_argument("--embedding-table", choices=("full", "int8-rows", "kmeans"), default="full",
                        help="int8-rows or kmeans: keep the vocabulary and compress the embedding table (no trimming)")
    parser.add_argument("--exact-rows", type=int, default=4096)
    parser.add_argument("--clusters", type=int, default=1024)
    parser.add_argument("--embedding-epochs", type=int, default=1)
    parser.add_argument("--frequency", type=Path, default=CACHE / "data" / "nlp-corpus-4000.txt",
                        help="general text whose token counts join the task text's (exact rows)")
    parser.add_argument("--student", choices=("transformer", "static"), default="transformer",
                        help="static: a token table averaged over the text (model2vec-style), no ML runtime")
    parser.add_argument("--static-dimensions", type=int, help="static: PCA width of the table (default: the teacher's)")
    parser.add_argument("--static-sif", type=float, default=1e-3, help="static: SIF coefficient (0: plain mean)")
    parser.add_argument("--static-train-table", action="store_true", help="static: train the table too, not only the head")
    args = parser.parse_args()
    for path in (args.model, args.data):
        if not path.exists():
            raise SystemExit(f"missing {path}: run `bash setup/install.sh example-weights` first")
    classify = args.task == "text-classification"
    for key, value in (RECIPES[args.task]).items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = (args.work or CACHE / "bench" / ("compress-minilm" if classify else "compress-minilm-embeddings")).resolve()
    rows = prepare_data(args.data, work / "data.csv")
    if not classify:
        write_texts(work / "data.csv", work / "texts.txt")
    from mobilekit.config import load_config
    from mobilekit.pipeline import Pipeline
    from mobilekit.progress import Progress

    config = load_config(write_config(work, args))
    started = time.monotonic()
    stages = (["finetune"] if classify else []) + ["distill"] + (["export", "convert", "verify"] if args.int8 else [])
    result = Pipeline(config, progress=Progress(live=False), on_event=lambda stage, msg: print(f"[{stage}] {msg}", flush=True)).run(stages)
    summary = {s["stage"]: s for s in result.summary()["stages"]}
    distill = summary["distill"]
    m = distill["metrics"]
    shipped = m[m["shipped"]]
    results = {
        "machine": machine(),
        "rows": rows,
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "stages": {name: {"outcome": s["outcome"], "duration_s": s["duration_s"], **(s.get("metrics") or {})} for name, s in summary.items()},
    }
    teacher_bytes = m["teacher"]["safetensors_bytes"]
    if classify:
        headline = {
            "teacher_accuracy": m["teacher"].get("accuracy"),
            "student_accuracy": m["student"].get("accuracy"),
            "shipped_accuracy": shipped.get("accuracy"),
            "accuracy_retained": m.get("quality_retained"),
            "teacher_bytes": teacher_bytes,
            "shipped_bytes": shipped["shipped_bytes"] if "shipped_bytes" in shipped else shipped["safetensors_bytes"],
            "size_ratio": m["size_ratio"],
            "test_sentences": m["splits"].get("test"),
            "teacher_accuracy_ci95": m["teacher"].get("accuracy_ci95"),
            "shipped_accuracy_ci95": shipped.get("accuracy_ci95"),
            "versus_teacher": shipped.get("versus_teacher"),
            "goal_met": bool(m.get("quality_retained", 0) >= 0.98 and m["size_ratio"] >= 3.0),
        }
    else:
        headline = {
            "layers": m.get("layers", "static"),
            "cosine_to_teacher_mean": shipped.get("cosine_to_teacher_mean"),
            "cosine_to_teacher_min": shipped.get("cosine_to_teacher_min"),
            "recall_at_1": shipped.get("recall_at_1"),
            "teacher_bytes": teacher_bytes,
            "shipped_bytes": shipped["shipped_bytes"] if "shipped_bytes" in shipped else shipped["safetensors_bytes"],
            "size_ratio": m["size_ratio"],
            "goal_met": bool(shipped.get("cosine_to_teacher_mean", 0) >= 0.95),
        }
    if args.student == "static":
        headline["speed"] = shipped.get("speed")
    if args.int8 and args.student != "static":
        tflite = int8_figures(work / "build", teacher_bytes, m["teacher"].get("accuracy"))
        headline["tflite"] = tflite
        if classify:
            int8 = tflite["dynamic-int8"]
            headline["int8_goal_met"] = bool(int8["size_ratio_vs_teacher"] >= 12 and int8.get("accuracy_retained_vs_teacher", 0) >= 0.98)
    results["headline"] = headline
    results["wall_s"] = round(time.monotonic() - started, 1)
    (work / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(headline, indent=2))
    print(f"full results: {work / 'results.json'}")


if __name__ == "__main__":
    main()
