"""report: one self-contained HTML page and the same data as JSON.

Compression (when distill runs): teacher, student and trimmed student side by side (task metrics,
parameters, file size), the layers kept, the training text, the vocabulary cut. Per variant: size
(TFLite files and Core ML .mlpackage folders), parity with the original (max abs diff, agreement),
task accuracy and its change, host CPU latency, ARM64 instructions per inference; charts (accuracy
or agreement vs size and vs ARM64 cost, host latency, where the ARM64 instructions go); what the
SDKs contain and their tokenizer golden vectors. Causal LMs (text-generation) get their own
section instead, built by ``mobilekit.report.llm`` from the export stage's decoder description.
Sections whose stage does not run for this config are left out: the pipeline has no optional
inputs, so ``inputs()`` asks for the distill evaluation only when distill runs, for bench results
only when the bench stage runs, and for the generated SDKs only when Android/iOS are enabled.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mobilekit import __version__
from mobilekit.config import Config
from mobilekit.stages.base import ArtifactRef, Stage, StageContext, StageOutput, register_stage
from mobilekit.stages.convert import coreml_artifact, tflite_artifact

REPORT_VERSION = 4  # 3: the compression section; Core ML variant sizes. 4: the text-generation section


def _distill_runs(config: Config) -> bool:
    from mobilekit.stages.compress import DistillStage

    return DistillStage().skip_reason(config) is None


def _bench_runs(config: Config) -> bool:
    from mobilekit.stages.bench import BenchStage

    return BenchStage().skip_reason(config) is None


def _runs(stage: str, config: Config) -> bool:
    from mobilekit.stages import stage_instances

    return stage_instances()[stage].skip_reason(config) is None


def _is_llm(config: Config) -> bool:
    return config.model.task == "text-generation"


@register_stage
class ReportStage(Stage):
    NAME = "report"
    SOURCES = ("report", "templates/report", "variants.py")
    SUMMARY = "write the HTML and JSON build report"

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        from mobilekit.stages import model_ref

        from mobilekit.stages.static_distill import is_static

        if is_static(config):  # no variants: the distill evaluation and the SDKs
            refs = {"model": model_ref(config), "distill": ArtifactRef("distill", "evaluation")}
            refs.update({f"sdk-{p}": ArtifactRef("generate", p) for p in ("android", "ios") if getattr(config, p).enabled})
            return refs
        refs = {"verify": ArtifactRef("verify", "results"), "model": model_ref(config)}
        refs.update(self._llm_inputs(config) if _is_llm(config) else {"onnx": ArtifactRef("export", "onnx")})
        for variant in config.convert.tflite:
            refs[tflite_artifact(variant)] = ArtifactRef("convert", tflite_artifact(variant))
        for variant in config.convert.coreml:
            refs[coreml_artifact(variant)] = ArtifactRef("convert", coreml_artifact(variant))
        if _distill_runs(config) and not _is_llm(config):
            refs["distill"] = ArtifactRef("distill", "evaluation")
        if _bench_runs(config):
            refs["bench"] = ArtifactRef("bench", "results")
        sdks = not _is_llm(config) or _runs("generate", config)  # no text-generation SDKs in this version
        if config.android.enabled and sdks:
            refs["sdk-android"] = ArtifactRef("generate", "android")
        if config.ios.enabled and sdks:
            refs["sdk-ios"] = ArtifactRef("generate", "ios")
        return refs

    @staticmethod
    def _llm_inputs(config: Config) -> dict[str, ArtifactRef]:
        """The decoder description; the fine-tuned / distilled models, so new ones rerun the report
        (their figures are read from the manifest, whatever those stages record)."""
        from mobilekit.stages.llm import decoder_ref

        refs = {"decoder": decoder_ref()}
        for stage in ("finetune", "distill"):
            if _runs(stage, config):
                refs[f"{stage}-model"] = ArtifactRef(stage, "model")
        return refs

    def parameters(self, config: Config) -> dict[str, Any]:
        # The template and the code that fills it are the stage's SOURCES: their hash is its version.
        return {"project": config.project.name, "version": config.project.version}

    def run(self, ctx: StageContext) -> StageOutput:
        if _is_llm(ctx.config):
            data = build_llm_report_data(ctx.config, ctx.inputs, ctx.input_metadata)
        else:
            data = build_report_data(ctx.config, ctx.inputs, ctx.input_metadata)
        (ctx.out_dir / "report.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        html, charts = render_report(data)
        (ctx.out_dir / "report.html").write_text(html, encoding="utf-8")
        return StageOutput(
            artifacts={"html": ctx.out_dir / "report.html", "json": ctx.out_dir / "report.json"},
            metrics={"variants": len(data["variants"]), "charts": sorted(charts)},
        )


# -- data ------------------------------------------------------------------------------------


def _tree_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _weights_bytes(model_dir: Path) -> int | None:
    files = [p for p in Path(model_dir).rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin")]
    return sum(p.stat().st_size for p in files) or None


def _bucket_rows(name: str, result: dict, host_models: dict, emu_variants: dict) -> list[dict]:
    """A length-bucketed variant (TFLite: per bucket verify, host p50, ARM64 count; Core ML: verify) and the texts' mix."""
    checked = result.get("buckets") or {}
    if len(checked) < 2:
        return []
    largest = max(checked, key=int)
    rows = []
    for bucket in sorted(checked, key=int) + ["mix"]:
        key = name if bucket == largest else f"{name}/{'mix' if bucket == 'mix' else 'seq-' + bucket}"
        host, emu, ver = host_models.get(key) or {}, emu_variants.get(key) or {}, checked.get(bucket) or {}
        rows.append({"bucket": bucket, "texts": ver.get("rows"), "truncated": ver.get("truncated"),
                     "passed": ver.get("passed"), "max_abs_diff": ver.get("max_abs_diff"),
                     "host_p50_ms": host.get("p50_ms"), "arm64_instructions": emu.get("instructions_per_inference"),
                     "arm64_outputs_match": emu.get("outputs_match")})
    return rows


def build_report_data(config: Config, inputs: dict[str, Path], metadata: dict[str, dict]) -> dict:
    verify = json.loads(inputs["verify"].read_text(encoding="utf-8")) if "verify" in inputs else {"variants": {}}
    bench = json.loads(inputs["bench"].read_text(encoding="utf-8")) if "bench" in inputs else None
    host_models = ((bench or {}).get("host") or {}).get("models") or {}
    emulator = ((bench or {}).get("emulator") or {})
    emu_variants = emulator.get("variants") or {}
    original_bytes = _weights_bytes(inputs["model"]) if "model" in inputs else None
    evaluation = json.loads(inputs["distill"].read_text(encoding="utf-8")) if "distill" in inputs else None

    rows = []
    for name, result in verify["variants"].items():
        path = inputs.get(name)
        size = _tree_bytes(path) if path is not None and path.exists() else None
        metrics = result.get("metrics") or {}
        accuracy, reference = metrics.get("candidate_accuracy"), metrics.get("reference_accuracy")
        host = host_models.get(name) or {}
        emu = emu_variants.get(name) or {}
        rows.append({
            "name": name,
            "bytes": size,
            "size_ratio": (size / original_bytes) if size and original_bytes else None,
            "max_abs_diff": metrics.get("max_abs_diff"),
            "agreement": metrics.get("argmax_agreement", metrics.get("mean_cosine")),
            "agreement_kind": "argmax agreement" if "argmax_agreement" in metrics else ("mean cosine" if "mean_cosine" in metrics else None),
            "accuracy": accuracy,
            "reference_accuracy": reference,
            "accuracy_change_points": (accuracy - reference) * 100 if accuracy is not None and reference is not None else None,
            "checks": result.get("checks") or [],
            "ships": result.get("ships", False),
            "reasons": result.get("reasons") or [],
            "host_p50_ms": host.get("p50_ms"),
            "host_p90_ms": host.get("p90_ms"),
            "host_ratio": (host.get("ratio_to_original") or {}).get("p50_ms"),
            "arm64_instructions": emu.get("instructions_per_inference"),
            "arm64_outputs_match": emu.get("outputs_match"),
            "arm64_deterministic": emu.get("deterministic"),
            "buckets": _bucket_rows(name, result, host_models, emu_variants),
        })
    return {
        **_header(config),
        "llm": None,
        "model": metadata.get("onnx") or _static_description(config, inputs.get("model")),
        "original_bytes": original_bytes,
        "verification": {k: v for k, v in verify.items() if k != "variants"},
        "compression": compression_section(evaluation),
        "variants": rows,
        "bench": _bench_section(bench),
        "sdks": {platform: sdk_summary(inputs[f"sdk-{platform}"]) for platform in ("android", "ios") if f"sdk-{platform}" in inputs},
    }


def _static_description(config: Config, model_dir: Path | None) -> dict:
    """The model table's facts for a static student (there is no ONNX description)."""
    from mobilekit.modelinfo import tokenizer_settings
    from mobilekit.compress.static_format import DESCRIPTION_FILE

    if model_dir is None or not (model_dir / DESCRIPTION_FILE).is_file():
        return {}
    described = json.loads((model_dir / DESCRIPTION_FILE).read_text(encoding="utf-8"))
    return {"task": described["task"], "model_type": "static token table", "hidden_size": described["output_dims"],
            "sequence_length": described["sequence_length"], "labels": described.get("labels"),
            "tokenizer": tokenizer_settings(model_dir)}


def _header(config: Config) -> dict:
    return {"report_version": REPORT_VERSION, "project": config.project.name, "version": config.project.version,
            "mobilekit_version": __version__, "generated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def build_llm_report_data(config: Config, inputs: dict[str, Path], metadata: dict[str, dict]) -> dict:
    """text-generation: the LLM section (``mobilekit.report.llm``), variants and SDKs."""
    from mobilekit.report.llm import llm_report_data, stage_records

    verify = json.loads(inputs["verify"].read_text(encoding="utf-8"))
    bench = json.loads(inputs["bench"].read_text(encoding="utf-8")) if "bench" in inputs else None
    llm = llm_report_data(inputs, metadata, verify, bench, _weights_bytes(inputs["model"]), stage_records(Path(config.build_dir)))
    return {**_header(config), "task": "text-generation", "llm": llm, "variants": llm["variants"],
            "sdks": {platform: sdk_summary(inputs[f"sdk-{platform}"]) for platform in ("android", "ios") if f"sdk-{platform}" in inputs}}


# What each compressed model is measured on, per task: (key, column heading, "percent" or "fraction").
CLASSIFIER_METRICS = [("accuracy", "Accuracy", "percent"), ("macro_f1", "Macro F1", "fraction"),
                      ("agreement_with_teacher", "Agreement with teacher", "percent")]
EMBEDDING_METRICS = [("cosine_to_teacher_mean", "Cosine to teacher (mean)", "fraction"),
                     ("cosine_to_teacher_min", "Cosine to teacher (min)", "fraction"), ("recall_at_1", "Recall@1", "percent")]
COMPRESSED_MODELS = [("teacher", "Teacher"), ("student", "Student"), ("student_trimmed", "Student, trimmed vocabulary"),
                     ("student_compressed", "Student, compressed embedding table")]


def compression_section(evaluation: dict | None) -> dict | None:
    """The distill stage's evaluation.json for the page: the file as written, plus one row per model
    and one dict per summary line with every key the template reads (None where the file lacks it)."""
    if evaluation is None:
        return None
    task = evaluation.get("task")
    candidates = (CLASSIFIER_METRICS if task == "text-classification" else EMBEDDING_METRICS if task == "sentence-embedding"
                  else CLASSIFIER_METRICS + EMBEDDING_METRICS)
    present = [(key, label) for key, label in COMPRESSED_MODELS if isinstance(evaluation.get(key), dict)]
    # Columns no model has (say, accuracy without labelled test text) are left out.
    columns = [{"key": key, "label": label, "kind": kind} for key, label, kind in candidates
               if any(evaluation[m].get(key) is not None for m, _ in present)]
    teacher_bytes = (evaluation.get("teacher") or {}).get("safetensors_bytes")
    rows = []
    for key, label in present:
        model = evaluation[key]
        size = model.get("shipped_bytes", model.get("safetensors_bytes"))  # a compressed table ships compressed
        rows.append({
            "key": key,
            "label": label,
            "shipped": evaluation.get("shipped") == key,
            "metrics": {c["key"]: model.get(c["key"]) for c in columns},
            "parameters": model.get("parameters"),
            "bytes": size,
            "size_vs_teacher": size / teacher_bytes if size and teacher_bytes else None,
        })
    splits = evaluation.get("splits") or {}
    trimmed = evaluation.get("student_trimmed") or {}
    vocabulary = trimmed.get("vocabulary")
    tokenization = trimmed.get("tokenization_on_test")
    epochs = evaluation.get("epochs") or []
    return {
        **evaluation,
        "columns": columns,
        "rows": rows,
        "layers": evaluation.get("layers"),
        "hidden_size": evaluation.get("hidden_size"),
        "attention_heads": evaluation.get("attention_heads"),
        "heads_kept": evaluation.get("heads_kept"),  # only when distill.heads cut some
        "training": {key: splits.get(key) for key in ("train", "train_labelled", "validation", "test", "augmented")},
        "epoch_count": len(epochs) or None,
        "best_epoch": evaluation.get("best_epoch"),
        "test_source": evaluation.get("test_source"),
        "vocabulary": None if vocabulary is None else {
            key: vocabulary.get(key)
            for key in ("before", "after", "from_corpus", "single_characters", "special", "min_count", "dropped_words_distilled")},
        "epochs_after_trimming": len(trimmed.get("epochs_after_trimming") or []),
        "tokenization": None if tokenization is None else {
            key: tokenization.get(key) for key in ("texts", "texts_tokenized_differently", "fraction_tokenized_differently",
                                                   "tokens_per_text_before", "tokens_per_text_after")},
        "size_ratio": evaluation.get("size_ratio"),
        "quality_retained": evaluation.get("quality_retained"),
        "quality_metric": "accuracy" if task == "text-classification" else "mean cosine to the teacher" if task == "sentence-embedding" else None,
        "seconds": evaluation.get("seconds"),
    }


def _bench_section(bench: dict | None) -> dict | None:
    if bench is None:
        return None
    host = bench.get("host") or {}
    emulator = bench.get("emulator") or {}
    return {
        "machine": bench.get("machine"),
        "runtimes": bench.get("runtimes"),
        "samples": bench.get("samples"),
        "host": {"skipped": host.get("skipped"), "protocol": host.get("protocol"), "models": host.get("models") or {}},
        "emulator": {
            "skipped": emulator.get("skipped"),
            "cpu": emulator.get("cpu"), "qemu": emulator.get("qemu"), "litert_aarch64": emulator.get("litert_aarch64"),
            "runs": emulator.get("runs"),
            "variants": {k: {kk: vv for kk, vv in v.items() if kk not in ("repeat_counts", "instructions_per_run")}
                         for k, v in (emulator.get("variants") or {}).items()},
        },
        "device": bench.get("device") or {},
        "baseline": bench.get("baseline"),
    }


def sdk_summary(folder: Path) -> dict:
    """What a generated SDK holds: its files and sizes, and what its mobilekit-sdk.json records."""
    folder = Path(folder)
    files = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.as_posix())
    record_path = folder / "mobilekit-sdk.json"
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    return {
        "files": [{"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size} for p in files],
        "total_bytes": sum(p.stat().st_size for p in files),
        "goldens": record.get("goldens"),
        "model": record.get("model"),
        "record": record,
    }


# -- charts ----------------------------------------------------------------------------------


def render_report(data: dict) -> tuple[str, dict]:
    """(the HTML page, its charts by name) for report data of either kind."""
    from markupsafe import Markup

    from mobilekit.report.llm import llm_charts
    from mobilekit.templating import environment

    drawn = llm_charts(data["llm"]) if data.get("llm") else render_charts(data)
    charts = {name: Markup(svg) for name, svg in drawn.items() if svg}
    return environment("report", autoescape=True).get_template("report.html.j2").render(**data, charts=charts), charts


def render_charts(data: dict) -> dict[str, str]:
    from mobilekit.report import svg

    rows = data["variants"]
    labelled = any(r["accuracy"] is not None for r in rows)
    metric, metric_label = ("accuracy", "task accuracy") if labelled else ("agreement", next(
        (r["agreement_kind"] for r in rows if r["agreement_kind"]), "agreement with the original"))
    charts = {}
    points = [{"label": r["name"], "x": r["bytes"] / 1e6 if r["bytes"] else None, "y": r[metric]} for r in rows]
    charts["quality-vs-size"] = svg.scatter(points, title=f"{metric_label.capitalize()} vs model size", x_label="file size (MB)",
                                            y_label=metric_label, chart_id="chart-quality-vs-size")
    points = [{"label": r["name"], "x": r["arm64_instructions"], "y": r[metric]} for r in rows]
    charts["quality-vs-arm64"] = svg.scatter(points, title=f"{metric_label.capitalize()} vs ARM64 cost",
                                             x_label="ARM64 instructions per inference", y_label=metric_label,
                                             chart_id="chart-quality-vs-arm64")
    bench = data.get("bench") or {}
    models = (bench.get("host") or {}).get("models") or {}
    charts["host-latency"] = svg.bars([{"label": m["label"], "value": m["p50_ms"], "whisker": m["p90_ms"]} for m in models.values()],
                                      title="Host CPU latency per text (p50, whisker to p90)", value_label="milliseconds (host CPU, not a phone)",
                                      chart_id="chart-host-latency")
    emu = (bench.get("emulator") or {}).get("variants") or {}
    charts["arm64-breakdown"] = svg.stacked(
        [{"label": name, "parts": [{"name": g["group"], "share": g["share"]} for g in v.get("breakdown", [])]} for name, v in emu.items()],
        title="Where the ARM64 instructions go", chart_id="chart-arm64-breakdown")
    return charts
