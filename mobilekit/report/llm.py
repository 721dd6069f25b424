"""The report's data for causal LMs (``model.task = "text-generation"``).

One row per variant joins three stages' figures: verify (perplexity and its change against
PyTorch, greedy agreement, identical continuations, top-1 agreement, max abs logit diff, ships or
rejected with the reasons), bench (time to first token, decode tokens/s and its ratio to PyTorch,
peak memory, ARM64 instructions per decoded token and per prefill call) and the file size. The
original PyTorch model is the reference row. Fine-tuning (LoRA) and distillation figures come from
the manifest (the stages' metrics) and, when recorded, the distill stage's evaluation file; every
key is optional, so whatever those stages record shows up and nothing breaks when they record less.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Known compression figures, in display order: (key, label). Other keys follow as recorded.
KNOWN_FIGURES = [
    ("perplexity_before", "Validation perplexity before"),
    ("perplexity_after", "Validation perplexity after"),
    ("test_perplexity_before", "Test perplexity before"),
    ("test_perplexity_after", "Test perplexity after"),
    ("retention", "Perplexity retention (teacher / student)"),
    ("perplexity_retention", "Perplexity retention"),
    ("size_ratio", "Size ratio (teacher / student)"),
    ("layers", "Teacher layers kept"),
    ("intermediate_size", "Student MLP width"),
    ("epochs_run", "Epochs run"),
    ("best_epoch", "Best epoch"),
    ("stopped_early", "Stopped early"),
    ("trainable_parameters", "Trainable (LoRA) parameters"),
    ("total_parameters", "Parameters"),
    ("target_modules", "LoRA target modules"),
    ("train_examples", "Training examples"),
    ("validation_examples", "Validation examples"),
    ("test_examples", "Test examples"),
    ("train_windows", "Training windows"),
    ("validation_windows", "Validation windows"),
    ("seconds", "Seconds"),
]
MODELS = ("teacher", "student", "student_trimmed")  # per-model figures: nested dicts or <model>_<figure> keys
MODEL_FIGURES = {"perplexity": ("perplexity", "test_perplexity", "validation_perplexity"), "parameters": ("parameters",),
                 "bytes": ("safetensors_bytes", "bytes"), "tokens_per_second": ("tokens_per_second",)}
SKIPPED_KEYS = ("task", "shipped")


def tree_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def llm_report_data(inputs: dict[str, Path], metadata: dict[str, dict], verify: dict, bench: dict | None,
                    original_bytes: int | None, stages: dict[str, dict]) -> dict:
    """``stages``: {stage name: {"metrics": ..., "evaluation": ... or None}} for finetune/distill."""
    description = metadata.get("decoder") or {}
    host = ((bench or {}).get("host") or {}).get("models") or {}
    emulator = ((bench or {}).get("emulator") or {}).get("variants") or {}
    rows = [variant_row(name, result, inputs.get(name), original_bytes, host.get(name) or {}, emulator.get(name) or {})
            for name, result in verify["variants"].items()]
    return {
        "model": model_summary(description, original_bytes),
        "reference": reference_row(verify, original_bytes, host.get("torch") or {}),
        "variants": rows,
        "verification": {k: v for k, v in verify.items() if k != "variants"},
        "bench": bench_summary(bench),
        "compression": compression(stages),
    }


def model_summary(description: dict, original_bytes: int | None) -> dict:
    spec = description.get("spec") or {}
    return {"task": description.get("task", "text-generation"), "model_type": description.get("model_type"),
            "parameters": description.get("parameters"), "num_layers": spec.get("num_layers"), "kv_heads": spec.get("kv_heads"),
            "head_dim": spec.get("head_dim"), "vocab_size": spec.get("vocab_size"), "context_length": spec.get("context_length"),
            "signatures": spec.get("signatures") or [], "stop_token_ids": description.get("stop_token_ids") or [],
            "has_chat_template": description.get("has_chat_template"), "original_bytes": original_bytes}


def variant_row(name: str, result: dict, path: Path | None, original_bytes: int | None, host: dict, emu: dict) -> dict:
    metrics = result.get("metrics") or {}
    size = tree_bytes(path) if path is not None and path.exists() else None
    return {
        "name": name,
        "bytes": size,
        "size_ratio": size / original_bytes if size and original_bytes else None,
        "perplexity": metrics.get("perplexity"),
        "perplexity_change_percent": metrics.get("perplexity_increase_percent"),
        "greedy_agreement": metrics.get("greedy_agreement"),
        "greedy_identical": metrics.get("greedy_identical"),
        "greedy_prompts": metrics.get("greedy_prompts"),
        "top1_agreement": metrics.get("top1_agreement"),
        "max_abs_diff": metrics.get("max_abs_diff"),
        "ships": result.get("ships", False),
        "reasons": result.get("reasons") or [],
        "checks": result.get("checks") or [],
        **host_figures(host),
        "arm64_instructions_per_token": emu.get("instructions_per_token"),
        "arm64_instructions_per_prefill": emu.get("instructions_per_prefill"),
        "arm64_prefill_length": emu.get("prefill_length"),
        "arm64_deterministic": emu.get("deterministic"),
        "arm64_outputs_match": emu.get("outputs_match"),
    }


def host_figures(host: dict) -> dict:
    return {
        "ttft_ms_p50": host.get("ttft_ms_p50"), "ttft_ms_p90": host.get("ttft_ms_p90"),
        "decode_tokens_per_s_p50": host.get("decode_tokens_per_s_p50"), "decode_tokens_per_s_p90": host.get("decode_tokens_per_s_p90"),
        "decode_vs_pytorch": (host.get("ratio_to_pytorch") or {}).get("decode_tokens_per_s_p50"),
        "peak_memory_growth_bytes": host.get("peak_memory_growth_bytes"), "load_ms": host.get("load_ms"),
    }


def reference_row(verify: dict, original_bytes: int | None, host: dict) -> dict:
    return {"name": "PyTorch fp32", "bytes": original_bytes, "perplexity": verify.get("reference_perplexity"),
            **host_figures(host)}


def bench_summary(bench: dict | None) -> dict | None:
    if bench is None:
        return None
    host, emulator = bench.get("host") or {}, bench.get("emulator") or {}
    variants = {k: {kk: vv for kk, vv in v.items() if kk not in ("repeat_counts",)} for k, v in (emulator.get("variants") or {}).items()}
    return {
        "machine": bench.get("machine") or {}, "runtimes": bench.get("runtimes") or {}, "prompts": bench.get("prompts") or {},
        "host": {"skipped": host.get("skipped"), "protocol": host.get("protocol") or {}, "runtimes": host.get("runtimes") or {},
                 "models": host.get("models") or {}, "cross_check": host.get("runtime_cross_check") or {}},
        "emulator": {"skipped": emulator.get("skipped"), "cpu": emulator.get("cpu"), "qemu": emulator.get("qemu"),
                     "litert_aarch64": emulator.get("litert_aarch64"), "prefill_length": emulator.get("prefill_length"),
                     "decode_steps": emulator.get("decode_steps"), "variants": variants},
        "device": bench.get("device") or {},
        "baseline": bench.get("baseline"),
    }


# -- compression (finetune / distill) ------------------------------------------------------------


def stage_records(build_dir: Path, names=("finetune", "distill")) -> dict[str, dict]:
    """Each named stage's metrics from the manifest, plus its evaluation file when it recorded one."""
    from mobilekit.manifest import Manifest

    manifest = Manifest.load(build_dir)
    records = {}
    for name in names:
        record = manifest.stages.get(name)
        if record is None or record.status != "ok":
            continue
        evaluation = None
        artifact = manifest.artifacts.get(f"{name}/evaluation")
        if artifact is not None:
            try:
                evaluation = json.loads(manifest.artifact_path(artifact).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                evaluation = None
        records[name] = {"metrics": record.metrics or {}, "evaluation": evaluation}
    return records


def compression(stages: dict[str, dict]) -> dict | None:
    """{stage: {"figures": [...], "models": [...]}} for the stages that ran; None when none did."""
    blocks = {}
    for name, record in stages.items():
        merged = {**(record.get("metrics") or {}), **(record.get("evaluation") or {})}
        figures, models = figure_list(merged), model_table(merged)
        if figures or models:
            blocks[name] = {"figures": figures, "models": models}
    return blocks or None


def figure_list(values: dict) -> list[dict]:
    """Scalar figures (and short lists of them), the known ones first with their labels; other
    dicts one level deep (``lora.rank``); per-model figures are left to model_table."""
    flat = {}
    for key, value in values.items():
        if key in SKIPPED_KEYS or key in MODELS or key.startswith(tuple(f"{m}_" for m in MODELS)):
            continue
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": _shown(v) for k, v in value.items() if _shown(v) is not None})
        elif _shown(value) is not None:
            flat[key] = _shown(value)
    known = [{"key": k, "label": label, "kind": _kind(flat[k]), "value": flat.pop(k)} for k, label in KNOWN_FIGURES if k in flat]
    rest = [{"key": k, "label": _label(k), "kind": _kind(v), "value": v} for k, v in flat.items()]
    return known + rest


def model_table(values: dict) -> list[dict]:
    """Teacher / student rows (perplexity, parameters, size, torch tokens/s) from nested dicts
    (``teacher: {perplexity: ...}``) or flat keys (``teacher_perplexity``)."""
    rows = []
    for name in MODELS:
        nested = values.get(name) if isinstance(values.get(name), dict) else {}
        figures = {**_prefixed(values, name), **nested}
        if not any(_first(figures, *keys) is not None for keys in MODEL_FIGURES.values()):
            continue
        rows.append({"key": name, "label": _label(name), "shipped": values.get("shipped") == name,
                     **{field: _first(figures, *keys) for field, keys in MODEL_FIGURES.items()}})
    return rows


def _prefixed(values: dict, name: str) -> dict:
    """``<name>_<figure>`` keys as {figure: value}; ``student_trimmed_*`` is not the student's."""
    prefix = f"{name}_"
    longer = tuple(f"{m}_" for m in MODELS if m != name and m.startswith(prefix))
    return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix) and not (longer and k.startswith(longer))}


def _shown(value):
    """A value as the page shows it: scalars as they are, short lists of scalars joined; else None."""
    if isinstance(value, (list, tuple)) and len(value) <= 64 and all(isinstance(v, (int, float, str)) for v in value):
        return ", ".join(str(v) for v in value) if value else None
    if isinstance(value, (int, float, str, bool)) and not (isinstance(value, str) and len(value) > 200):
        return value
    return None


def _first(values: dict, *keys: str) -> Any:
    return next((values[k] for k in keys if values.get(k) is not None), None)


def _kind(value) -> str:
    return "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "float" if isinstance(value, float) else "str"


def _label(key: str) -> str:
    text = key.replace(".", ": ").replace("_", " ")
    return text[:1].upper() + text[1:]


# -- charts --------------------------------------------------------------------------------------


def llm_charts(data: dict) -> dict[str, str]:
    """Perplexity vs size and decode tokens/s vs size, PyTorch included as the reference point."""
    from mobilekit.report import svg

    rows = [data["reference"], *data["variants"]]
    size = lambda r: r["bytes"] / 1e6 if r.get("bytes") else None  # noqa: E731
    return {
        "perplexity-vs-size": svg.scatter([{"label": r["name"], "x": size(r), "y": r.get("perplexity")} for r in rows],
                                          title="Perplexity vs model size (lower is better)", x_label="file size (MB)",
                                          y_label="perplexity", chart_id="chart-perplexity-vs-size"),
        "tokens-vs-size": svg.scatter([{"label": r["name"], "x": size(r), "y": r.get("decode_tokens_per_s_p50")} for r in rows],
                                      title="Decode speed vs model size (host CPU, 1 thread)", x_label="file size (MB)",
                                      y_label="decode tokens/s (p50)", chart_id="chart-tokens-vs-size"),
    }
