"""The bench stage's work for causal LMs (``model.task = "text-generation"``).

Inputs: the model folder (PyTorch reference), the export stage's ``decoder`` (spec, stop ids) and
every TFLite variant; prompts are real text (``mobilekit.llm.texts.eval_texts``: the test split
of chat data, verify.texts_path, the unlabelled tail or the built-in sentences) cut to exactly
bench.prompt_tokens tokens. The library is ``mobilekit.llm.bench_llm``; bench.json has the
encoder's layout (host / emulator / device / baseline) with generation figures inside, and
``emulator.variants.*.instructions_per_inference`` is per decoded token so ``--baseline`` works.
Core ML variants are not timed here (no Core ML runtime on Linux).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from mobilekit.config import Config
from mobilekit.stages.base import ArtifactRef, StageContext, StageOutput

SCHEMA_VERSION = 1
CROSS_CHECK_RUNS = 3  # generations per model with the other LiteRT (a diagnostic, not the figure)
DEVICE_SKIP = "text-generation device benchmarks are not in this version (benchmark_model cannot drive the KV-cache loop)"


def bench_inputs(config: Config) -> dict[str, ArtifactRef]:
    from mobilekit.stages import model_ref, text_refs
    from mobilekit.stages.convert import tflite_artifact
    from mobilekit.stages.llm import decoder_ref

    refs = {"model": model_ref(config), "decoder": decoder_ref(), **text_refs(config)}
    for variant in config.convert.tflite:
        refs[tflite_artifact(variant)] = ArtifactRef("convert", tflite_artifact(variant))
    return refs


def run_bench(ctx: StageContext) -> StageOutput:
    from mobilekit.bench.host import machine_description
    from mobilekit.llm.bench_llm import check_fits, runtime_versions
    from mobilekit.stages.bench import finish

    bench = ctx.config.bench
    spec = ctx.input_metadata["decoder"]["spec"]
    check_fits(spec, bench.prompt_tokens, bench.decode_tokens)
    texts, source, tokenizer = _texts(ctx, spec)
    result: dict[str, Any] = {
        "schema": SCHEMA_VERSION, "task": "text-generation", "machine": machine_description(), "runtimes": runtime_versions(),
        "prompts": _prompt_summary(texts, source, tokenizer, bench), "host": {"skipped": "bench.host is false"},
        "emulator": {"skipped": "bench.emulator is false"},
        "device": {"skipped": DEVICE_SKIP if bench.device else "bench.device is false"}, "baseline": None,
    }
    with tempfile.TemporaryDirectory(prefix="mobilekit-bench-llm-") as tmp:
        if bench.host:
            result["host"] = _host(ctx, spec, texts, Path(tmp))
    if bench.emulator:
        result["emulator"] = _emulator(ctx, spec, texts)
    result["machine"]["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    return finish(ctx, result, llm_metrics(result))


def _texts(ctx: StageContext, spec: dict):
    from transformers import AutoTokenizer

    from mobilekit.llm.texts import eval_texts

    tokenizer = AutoTokenizer.from_pretrained(str(ctx.inputs["model"]))
    texts = eval_texts(ctx.config, ctx.inputs, tokenizer, window=spec["context_length"], limit=ctx.config.bench.samples,
                       prompts=0)
    return texts.texts, texts.source, tokenizer


def _prompt_summary(texts, source: str, tokenizer, bench) -> dict:
    from mobilekit.llm.bench_llm import fixed_length_prompts

    first = fixed_length_prompts(texts, bench.prompt_tokens, 1)[0]
    return {"source": source, "texts": len(texts), "prompt_tokens": bench.prompt_tokens, "decode_tokens": bench.decode_tokens,
            "example": tokenizer.decode(first)[:400]}


def _variants(ctx: StageContext) -> dict[str, tuple[str, Path]]:
    from mobilekit.stages.convert import tflite_artifact

    return {tflite_artifact(v): (v, ctx.inputs[tflite_artifact(v)]) for v in ctx.config.convert.tflite}


def _bench_models(ctx: StageContext) -> list:
    from mobilekit.llm.bench_llm import BenchModel

    models = [BenchModel("torch", "PyTorch fp32", "torch", str(ctx.inputs["model"]))]
    models += [BenchModel(name, f"TFLite {variant}", "tflite", str(path), variant) for name, (variant, path) in _variants(ctx).items()]
    return models


def _host(ctx: StageContext, spec: dict, texts, work: Path) -> dict:
    from mobilekit.llm.bench_llm import Workload, fixed_length_prompts, run_llm_host

    bench = ctx.config.bench
    workload = Workload(fixed_length_prompts(texts, bench.prompt_tokens, bench.samples), bench.decode_tokens, spec)
    models = _bench_models(ctx)
    with ctx.progress.task("host CPU generation benchmark", total=len(models) + 1) as task:
        host = run_llm_host(models, workload, work / "host", runs=bench.runs, warmup=bench.warmup, progress=task)
    for key, entry in host["models"].items():
        ctx.log.info("host CPU %s: TTFT p50 %.2f ms (%d-token prompt), decode %.1f tokens/s p50 (x%.2f PyTorch), peak memory +%.1f MB",
                     key, entry["ttft_ms_p50"], bench.prompt_tokens, entry["decode_tokens_per_s_p50"],
                     entry["ratio_to_pytorch"]["decode_tokens_per_s_p50"] or float("nan"),
                     (entry.get("peak_memory_growth_bytes") or 0) / 1e6)
    host["runtime_cross_check"] = _cross_check(ctx, models, workload, work)
    return host


def _cross_check(ctx: StageContext, models: list, workload, work: Path) -> dict:
    """A few generations with the litert-torch environment's LiteRT (2.3 here): how far the host
    figures depend on the runtime version (see mobilekit.llm.bench_llm). Never the headline."""
    from mobilekit.convert.litert_torch import litert_torch_venv
    from mobilekit.llm.bench_llm import run_llm_host

    python = litert_torch_venv() / "bin" / "python"
    if not python.exists():
        return {"skipped": f"no litert-torch environment at {python.parent.parent}"}
    with ctx.progress.task("host CPU: LiteRT cross-check"):
        try:
            other = run_llm_host(models, workload, work / "cross-check", runs=CROSS_CHECK_RUNS, warmup=1, python=str(python),
                                 probes=False)
        except Exception as e:  # noqa: BLE001 - a diagnostic never fails the stage
            return {"skipped": f"the cross-check failed: {e}"}
    figures = {k: {"decode_tokens_per_s_p50": m["decode_tokens_per_s_p50"], "ttft_ms_p50": m["ttft_ms_p50"],
                   "ratio_to_pytorch": m["ratio_to_pytorch"]["decode_tokens_per_s_p50"]} for k, m in other["models"].items()}
    return {"runtimes": other["runtimes"], "runs": CROSS_CHECK_RUNS, "models": figures}


def _emulator(ctx: StageContext, spec: dict, texts) -> dict:
    import platform

    from mobilekit.bench.emulator import prepare_emulator
    from mobilekit.llm.bench_llm import emulate_llm_variant, emulator_workload

    bench = ctx.config.bench
    emulator = prepare_emulator(bench.cpu, log=ctx.log)
    workload = emulator_workload(spec, texts, bench.emulator_runs)
    out = {**emulator.describe(), "runs": bench.emulator_runs, "threads": 1, "prefill_length": len(workload["prompt"]),
           "decode_steps": workload["steps"], "variants": {}, "host_machine": platform.machine()}
    variants = _variants(ctx)
    with ctx.progress.task(f"ARM64 emulator ({bench.cpu})", total=len(variants)) as task:
        for name, (variant, path) in variants.items():
            task.describe(f"ARM64 emulator ({bench.cpu}): {name}, two counted runs")
            figures = emulate_llm_variant(emulator, variant, path, spec, workload)
            out["variants"][name] = figures
            ctx.log.info("ARM64 %s %s: %.0f instructions per decoded token, %.0f per %d-token prefill, deterministic=%s, "
                         "ARM vs host max abs diff %.3g (tolerance %.3g)", bench.cpu, name, figures["instructions_per_token"],
                         figures["instructions_per_prefill"], figures["prefill_length"], figures["deterministic"],
                         figures["arm_vs_host_max_abs_diff"], figures["arm_vs_host_tolerance"])
            task.advance()
    return out


def llm_metrics(result: dict) -> dict:
    metrics: dict[str, Any] = {}
    for key, entry in ((result.get("host") or {}).get("models") or {}).items():
        metrics[f"host_ttft_ms_p50/{key}"] = round(entry["ttft_ms_p50"], 4)
        metrics[f"host_decode_tokens_per_s_p50/{key}"] = round(entry["decode_tokens_per_s_p50"], 2)
    for key, entry in ((result.get("emulator") or {}).get("variants") or {}).items():
        metrics[f"arm64_instructions_per_token/{key}"] = entry["instructions_per_token"]
        metrics[f"arm64_instructions_per_prefill/{key}"] = entry["instructions_per_prefill"]
        metrics[f"arm64_outputs_match/{key}"] = entry["outputs_match"]
    for tier in ("host", "emulator", "device"):
        if "skipped" in (result.get(tier) or {}):
            metrics[f"{tier}_skipped"] = result[tier]["skipped"]
    return metrics
