"""bench: host CPU, ARM64 emulator and device benchmarks of every TFLite variant.

The protocol lives in ``mobilekit.bench`` (host.py, emulator.py, device.py); this stage picks the
texts, runs the tiers the config asks for, compares with ``bench.baseline`` and writes one JSON
(``bench.json``) that the report and later ``--baseline`` runs read. Causal LMs
(text-generation) are timed per generated token instead: ``mobilekit.stages.llm_bench``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

from mobilekit.config import Config
from mobilekit.stages import model_ref, text_refs
from mobilekit.stages.base import ArtifactRef, Stage, StageContext, StageOutput, register_stage
from mobilekit.stages.convert import tflite_artifact

SCHEMA_VERSION = 1


@register_stage
class BenchStage(Stage):
    NAME = "bench"
    SOURCES = ("stages/llm_bench.py", "bench", "runners", "llm", "variants.py", "samples.py", "resources", "buckets.py",
               "convert/litert_torch.py")
    SUMMARY = "time every variant on the host, count ARM64 instructions under qemu, run on a device"

    def skip_reason(self, config: Config) -> str | None:
        from mobilekit.stages.static_distill import SKIP_REASON, is_static

        if is_static(config):
            return SKIP_REASON.format(what="run in an ML runtime") + " (distill records its speed)"
        if not (config.bench.host or config.bench.emulator):
            return "bench.host and bench.emulator are both false"
        if not config.convert.tflite:
            return "convert.tflite is empty: nothing to benchmark"
        return None

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        if config.model.task == "text-generation":
            from mobilekit.stages.llm_bench import bench_inputs

            return bench_inputs(config)
        refs = {"model": model_ref(config), "onnx": ArtifactRef("export", "onnx"), **text_refs(config)}
        for variant in config.convert.tflite:
            refs[tflite_artifact(variant)] = ArtifactRef("convert", tflite_artifact(variant))
        return refs

    def parameters(self, config: Config) -> dict[str, Any]:
        bench = config.bench
        params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(bench).items()}
        # The baseline's content, not only its path, decides whether the comparison is current.
        params["baseline_sha256"] = _sha256(bench.baseline) if bench.baseline else None
        params["benchmark_model_sha256"] = _sha256(bench.benchmark_model) if bench.benchmark_model else None
        data = config.data
        params["text"] = [data.format, data.text_column, data.label_column, data.validation_fraction, data.test_fraction, data.seed]
        return params

    def run(self, ctx: StageContext) -> StageOutput:
        if ctx.config.model.task == "text-generation":
            from mobilekit.stages.llm_bench import run_bench

            return run_bench(ctx)
        import numpy as np

        from mobilekit.bench.host import machine_description, runtime_versions
        from mobilekit.convert.onnx_export import tokenize
        from mobilekit.samples import load_samples

        config, bench = ctx.config, ctx.config.bench
        onnx_meta = ctx.input_metadata["onnx"]
        input_names = onnx_meta["input_names"]
        samples = load_samples(config, ctx.inputs, limit=bench.samples, label_names=None)
        arrays = tokenize(ctx.inputs["model"], samples.texts, config.model.sequence_length, input_names)
        variants = {tflite_artifact(v): (v, ctx.inputs[tflite_artifact(v)]) for v in config.convert.tflite}

        result: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "machine": machine_description(),
            "runtimes": runtime_versions(),
            "samples": {"count": len(samples.texts), "source": samples.source, "sequence_length": config.model.sequence_length,
                        "token_counts": [int(n) for n in arrays["attention_mask"].sum(axis=1)]},
            "host": {"skipped": "bench.host is false"},
            "emulator": {"skipped": "bench.emulator is false"},
            "device": {"skipped": "bench.device is false"},
            "baseline": None,
        }
        with tempfile.TemporaryDirectory(prefix="mobilekit-bench-") as tmp:
            work = Path(tmp)
            inputs_npz = work / "inputs.npz"
            np.savez(inputs_npz, **arrays)
            if bench.host:
                result["host"] = self._host(ctx, variants, inputs_npz, work)
            if bench.emulator:
                result["emulator"] = self._emulator(ctx, variants, arrays, inputs_npz)
            if bench.device:
                result["device"] = self._device(ctx, variants)
        result["machine"]["load_average_1m_after"] = round(os.getloadavg()[0], 2)
        return finish(ctx, result, _metrics(result))

    # -- tiers -----------------------------------------------------------------------------------

    def _host(self, ctx: StageContext, variants: dict, inputs_npz: Path, work: Path) -> dict:
        from mobilekit.bench.buckets import host_specs
        from mobilekit.bench.host import ModelSpec, run_host_tier

        config = ctx.config
        specs = [ModelSpec("torch", "PyTorch (original)", "torch", str(ctx.inputs["model"]), task=config.model.task,
                           pooling=config.model.pooling, normalize=config.model.normalize),
                 ModelSpec("onnx", "ONNX (onnxruntime)", "onnx", str(ctx.inputs["onnx"]))]
        for name, (variant, path) in variants.items():
            specs.append(ModelSpec(name, f"TFLite {variant}", "tflite", str(path), variant=variant))
        for name, (variant, path) in variants.items():
            specs += host_specs(name, variant, path, _signatures(ctx, name))
        if config.bench.xnnpack_diagnostic:
            for name, (variant, path) in variants.items():
                specs.append(ModelSpec(f"{name}/xnnpack-off", f"TFLite {variant}, XNNPACK off", "tflite", str(path), variant=variant,
                                       xnnpack=False, diagnostic=True))
        probes = sum(1 for s in specs if not s.diagnostic and s.signature is None)
        with ctx.progress.task("host CPU benchmark", total=probes + 1) as task:
            host, _outputs = run_host_tier(specs, inputs_npz, work / "host", runs=config.bench.runs, warmup=config.bench.warmup,
                                           progress=task)
        for key, entry in host["models"].items():
            ctx.log.info("host CPU %s: p50 %.3f ms, p90 %.3f ms (x%.2f the original's p50)", key, entry["p50_ms"], entry["p90_ms"],
                         (entry.get("ratio_to_original") or {}).get("p50_ms") or float("nan"))
        return host

    def _emulator(self, ctx: StageContext, variants: dict, arrays: dict, inputs_npz: Path) -> dict:
        import numpy as np

        from mobilekit.bench.buckets import emulate_buckets
        from mobilekit.bench.emulator import emulate_variant, prepare_emulator
        from mobilekit.bench.litert_guest import LiteRTModel, rows

        bench = ctx.config.bench
        emulator = prepare_emulator(bench.cpu, log=ctx.log)
        n = len(arrays["input_ids"])
        out = {**emulator.describe(), "runs": bench.emulator_runs, "warmup": 1, "threads": 1, "variants": {},
               "host_machine": platform.machine()}
        with ctx.progress.task(f"ARM64 emulator ({bench.cpu})", total=len(variants)) as task:
            for name, (variant, path) in variants.items():
                task.describe(f"ARM64 emulator ({bench.cpu}): {name}, two counted runs")
                host_model = LiteRTModel(str(path), num_threads=1)
                host_outputs = np.stack([host_model(host_model.prepare(rows(arrays, i % n)))[0] for i in range(bench.emulator_runs)])
                figures = emulate_variant(emulator, variant, path, inputs_npz, host_outputs, warmup=1, runs=bench.emulator_runs)
                out["variants"][name] = figures
                if len(_signatures(ctx, name)) > 1:
                    task.describe(f"ARM64 emulator ({bench.cpu}): {name}, each length bucket")
                    out["variants"].update(emulate_buckets(emulator, name, variant, path, arrays, inputs_npz,
                                                           _signatures(ctx, name), figures, bench.emulator_runs))
                ctx.log.info("ARM64 %s %s: %.0f instructions per inference, deterministic=%s, ARM vs host max abs diff %.3g (tolerance %.3g)",
                             bench.cpu, name, figures["instructions_per_inference"], figures["deterministic"],
                             figures["arm_vs_host_max_abs_diff"], figures["arm_vs_host_tolerance"])
                task.advance()
        return out

    def _device(self, ctx: StageContext, variants: dict) -> dict:
        from mobilekit.bench.device import device_skip_reason, run_on_device

        bench = ctx.config.bench
        reason, devices = device_skip_reason(bench.benchmark_model)
        if reason is not None:
            ctx.log.info("device tier skipped: %s", reason)
            return {"skipped": reason}
        with ctx.progress.task(f"device {devices[0].serial}: benchmark_model", total=len(variants)):
            return run_on_device(devices[0], bench.benchmark_model, {name: path for name, (_v, path) in variants.items()},
                                 runs=bench.runs, warmup=bench.warmup)


def _signatures(ctx: StageContext, name: str) -> dict[str, str]:
    """{str(length): signature} of a TFLite artifact, as convert recorded it (one bucket when absent)."""
    return dict(ctx.input_metadata.get(name, {}).get("signatures") or {})


def _metrics(result: dict) -> dict:
    metrics: dict[str, Any] = {}
    host = result.get("host") or {}
    for key, entry in (host.get("models") or {}).items():
        metrics[f"host_p50_ms/{key}"] = round(entry["p50_ms"], 4)
    emulator = result.get("emulator") or {}
    for key, entry in (emulator.get("variants") or {}).items():
        metrics[f"arm64_instructions/{key}"] = entry["instructions_per_inference"]
        metrics[f"arm64_outputs_match/{key}"] = entry["outputs_match"]
    for tier in ("host", "emulator", "device"):
        if "skipped" in (result.get(tier) or {}):
            metrics[f"{tier}_skipped"] = result[tier]["skipped"]
    return metrics


def compare_with_baseline(ctx: StageContext, result: dict) -> None:
    """result["baseline"]: the ARM64 counts against bench.baseline's (per inference, or per decoded token)."""
    bench = ctx.config.bench
    if bench.baseline is None:
        return
    from mobilekit.bench.regression import compare, load_baseline

    lines = compare(result, load_baseline(bench.baseline), bench.max_regression_percent)
    result["baseline"] = {"path": str(bench.baseline), "max_regression_percent": bench.max_regression_percent, "lines": lines}
    for line in lines:
        ctx.log.info("%s: %.0f vs %.0f instructions per %s in the baseline (%+.2f%%)", line["variant"], line["current"],
                     line["baseline"], line.get("unit", "inference"), line["change_percent"])


def finish(ctx: StageContext, result: dict, metrics: dict) -> StageOutput:
    """Baseline comparison, bench.json, then the checks that fail the stage (after the file is written)."""
    compare_with_baseline(ctx, result)
    mismatched = [k for k, v in (result["emulator"].get("variants") or {}).items() if not (v["outputs_match"] and v["deterministic"])]
    for name in mismatched:
        ctx.log.warning("ARM64 %s: outputs differ from the host's beyond tolerance or counts were not deterministic", name)
    out = ctx.out_dir / "bench.json"
    out.write_text(json.dumps(result, indent=2, default=_json_default) + "\n", encoding="utf-8")
    if result["baseline"]:
        from mobilekit.bench.regression import check

        # Raised after bench.json is written so the log names every figure; the pipeline
        # then discards the stage's folder, and the next run measures again.
        check(result["baseline"]["lines"], ctx.config.bench.baseline)
    if mismatched and ctx.strict:
        from mobilekit.errors import VerificationError

        raise VerificationError(f"ARM64 emulator checks failed for {', '.join(mismatched)}", hint=f"see {out} (emulator section)")
    return StageOutput(artifacts={"results": out}, metrics=metrics)


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _json_default(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
