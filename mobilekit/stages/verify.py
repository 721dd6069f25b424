"""verify: every variant against the original torch model, on real task text.

Each variant gets parity lines (max/mean abs diff, argmax agreement or cosine) and, when the text
has labels, its task accuracy next to the original's. A variant that misses a tolerance or the
accuracy budget is rejected with the reason; `--strict` turns any rejection into a failed build.
"""

from __future__ import annotations

import json
from typing import Any

from mobilekit import variants as _v
from mobilekit.config import Config
from mobilekit.errors import VerificationError
from mobilekit.stages import model_ref, text_refs
from mobilekit.stages.base import ArtifactRef, Stage, StageContext, StageOutput, register_stage
from mobilekit.stages.convert import coreml_artifact, tflite_artifact


@register_stage
class VerifyStage(Stage):
    NAME = "verify"
    SOURCES = ("stages/llm.py", "verify", "runners", "mil", "llm", "variants.py", "data.py", "samples.py", "resources")
    SUMMARY = "check every variant against the original: parity and task accuracy"

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        from mobilekit.stages.llm import decoder_ref, is_llm

        first = {"decoder": decoder_ref()} if is_llm(config) else {"onnx": ArtifactRef("export", "onnx")}
        refs = {"model": model_ref(config), **first, **text_refs(config)}
        for variant in config.convert.tflite:
            refs[tflite_artifact(variant)] = ArtifactRef("convert", tflite_artifact(variant))
        for variant in config.convert.coreml:
            refs[coreml_artifact(variant)] = ArtifactRef("convert", coreml_artifact(variant))
        return refs

    def parameters(self, config: Config) -> dict[str, Any]:
        from mobilekit.stages.llm import is_llm, verify_parameters

        if is_llm(config):
            return verify_parameters(config)
        data = config.data
        return {
            "samples": config.verify.samples,
            "accuracy_budget": config.verify.accuracy_budget,
            "text": [data.format, data.text_column, data.label_column, data.validation_fraction, data.test_fraction, data.seed],
        }

    def run(self, ctx: StageContext) -> StageOutput:
        import numpy as np

        from mobilekit.convert.onnx_export import reference_outputs, tokenize
        from mobilekit.modelinfo import label_names
        from mobilekit.samples import load_samples
        from mobilekit.mil.ops import UnsupportedMilOp
        from mobilekit.stages.llm import is_llm, run_verify
        from mobilekit.verify.parity import compare

        if is_llm(ctx.config):
            return run_verify(ctx, tflite_artifact, coreml_artifact)
        config = ctx.config
        model_dir = ctx.inputs["model"]
        task = config.model.task
        names = label_names(config, model_dir)
        samples = load_samples(config, ctx.inputs, limit=config.verify.samples, label_names=names)
        input_names = ctx.input_metadata["onnx"]["input_names"]
        encodings = tokenize(model_dir, samples.texts, config.model.sequence_length, input_names)
        labels = np.asarray(samples.labels) if samples.labels is not None else None

        with ctx.progress.task(f"torch reference on {len(samples.texts)} texts"):
            reference = reference_outputs(model_dir, encodings, task=task, pooling=config.model.pooling, normalize=config.model.normalize)

        # Each variant is judged with its registry family's parity tolerance (Core ML int8 and
        # palettize6 as int8 weights, palettize4 as 4-bit weights: full-int8's budget).
        variants = {"onnx": ("onnx", ctx.inputs["onnx"])}
        for variant in config.convert.tflite:
            variants[tflite_artifact(variant)] = (_v.get(_v.TFLITE, variant).parity_tolerance, ctx.inputs[tflite_artifact(variant)])
        for variant in config.convert.coreml:
            variants[coreml_artifact(variant)] = (_v.get(_v.COREML, variant).parity_tolerance, ctx.inputs[coreml_artifact(variant)])

        results = {}
        with ctx.progress.task("verifying variants", total=len(variants)) as task_progress:
            for name, (family, path) in variants.items():
                task_progress.describe(f"verifying {name}")
                try:
                    outputs = _run_variant(name, path, encodings, ctx.input_metadata["onnx"]["output_name"])
                except UnsupportedMilOp as e:
                    # Never a silent pass: the variant cannot be verified here, so it does not ship.
                    results[name] = {"ships": False, "verified": False, "checks": [], "reasons": [f"cannot verify: {e.message}"]}
                    task_progress.advance()
                    continue
                report = compare(reference, outputs, task=task, labels=labels, tolerance=_tolerance(family, config.verify.accuracy_budget))
                results[name] = _decide(report)
                task_progress.advance()

        rejected = {name: r["reasons"] for name, r in results.items() if not r["ships"]}
        for name, result in results.items():
            ctx.log.info("%s: %s", name, "ships" if result["ships"] else f"rejected: {'; '.join(result['reasons'])}")
        summary = {
            "task": task,
            "samples": len(samples.texts),
            "sample_source": samples.source,
            "labelled": labels is not None,
            "accuracy_budget": config.verify.accuracy_budget,
            "variants": results,
            "shipping": [name for name, r in results.items() if r["ships"]],
            "rejected": rejected,
        }
        out = ctx.out_dir / "results.json"
        out.write_text(json.dumps(summary, indent=2, default=float) + "\n", encoding="utf-8")
        if rejected and ctx.strict:
            lines = "; ".join(f"{name}: {', '.join(reasons)}" for name, reasons in rejected.items())
            raise VerificationError(
                f"{len(rejected)} variant(s) rejected: {lines}",
                hint="see the verify lines above; loosen verify.accuracy_budget, drop the variant from convert.tflite, or build without --strict",
            )
        return StageOutput(
            artifacts={"results": out},
            metrics={"shipping": summary["shipping"], "rejected": rejected, "samples": len(samples.texts)},
        )


def _run_variant(name: str, path, encodings, output_name: str):
    if name == "onnx":
        from mobilekit.runners.onnx_runner import run_onnx

        return run_onnx(path, encodings)
    if _v.by_key(name).format == _v.COREML:
        return _run_coreml(path, encodings, output_name)
    from mobilekit.runners.tflite_runner import run_tflite

    return run_tflite(path, encodings)


def _run_coreml(path, encodings, output_name: str):
    """The ML program executed op by op by mobilekit's NumPy MIL interpreter (works on Linux)."""
    import numpy as np

    from mobilekit.mil.interpreter import MilProgram

    outputs = MilProgram.from_package(path).run(encodings)
    return np.asarray(outputs[output_name], dtype=np.float32).reshape(len(next(iter(encodings.values()))), -1)


def _tolerance(family: str, accuracy_budget_points: float):
    """The family's default tolerance, with the config's accuracy budget deciding accuracy loss."""
    from dataclasses import replace

    from mobilekit.verify.parity import default_tolerance

    budget = accuracy_budget_points / 100
    return replace(default_tolerance(family), max_accuracy_drop=budget, max_macro_f1_drop=budget)


def _decide(report) -> dict:
    """A variant ships when every judged check passed (parity and the accuracy budget)."""
    result = report.to_dict()
    metrics = report.metrics
    return {
        **result,
        "accuracy": metrics.get("candidate_accuracy"),
        "reference_accuracy": metrics.get("reference_accuracy"),
        "macro_f1": metrics.get("candidate_macro_f1"),
        "ships": report.passed,
        "reasons": [check.line() for check in report.failures],
    }
