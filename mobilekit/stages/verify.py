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
    SOURCES = ("stages/llm.py", "verify", "runners", "mil", "llm", "variants.py", "data.py", "samples.py", "resources", "buckets.py")
    SUMMARY = "check every variant against the original: parity and task accuracy"

    def skip_reason(self, config: Config) -> str | None:
        from mobilekit.stages.static_distill import is_static

        # distill measured it against the teacher; the SDK goldens check Kotlin and Swift against Python.
        return "the static student has no converted variants to verify (distill measured it against the teacher)" if is_static(config) else None

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
        from mobilekit.stages.llm import is_llm, run_verify

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

        buckets = _length_buckets(ctx)
        results = _verify_variants(ctx, variants, encodings, reference, labels, buckets)

        rejected = {name: r["reasons"] for name, r in results.items() if not r["ships"]}
        for name, result in results.items():
            ctx.log.info("%s: %s", name, "ships" if result["ships"] else f"rejected: {'; '.join(result['reasons'])}")
        summary = {
            "task": task,
            "samples": len(samples.texts),
            "sample_source": samples.source,
            "labelled": labels is not None,
            "accuracy_budget": config.verify.accuracy_budget,
            "length_buckets": list(buckets),
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


def _verify_variants(ctx: StageContext, variants: dict, encodings, reference, labels, buckets) -> dict:
    """{artifact name: verdict} for every variant; bucketed variants (TFLite or Core ML) are checked per bucket."""
    config, task = ctx.config, ctx.config.model.task
    bucket_refs = None
    if len(buckets) > 1:
        from mobilekit.verify.buckets import bucket_references

        with ctx.progress.task(f"torch reference per length bucket {list(buckets)}"):
            bucket_refs = bucket_references(ctx.inputs["model"], encodings, buckets, task=task,
                                            pooling=config.model.pooling, normalize=config.model.normalize)
    bucketed = {name for name, metadata in ctx.input_metadata.items() if len(metadata.get("length_buckets") or []) > 1}
    output_name = ctx.input_metadata["onnx"]["output_name"]
    results = {}
    with ctx.progress.task("verifying variants", total=len(variants)) as task_progress:
        for name, (family, path) in variants.items():
            task_progress.describe(f"verifying {name}")
            tolerance = _tolerance(family, config.verify.accuracy_budget)
            if bucket_refs is not None and name in bucketed:
                results[name] = _verify_bucketed(name, path, encodings, bucket_refs, output_name, task, labels, tolerance)
            else:
                results[name] = _verify_one(name, path, encodings, reference, output_name, task, labels, tolerance)
            task_progress.advance()
    return results


def _length_buckets(ctx: StageContext) -> tuple[int, ...]:
    """The variants' length buckets, as convert recorded them (one: sequence_length). Every
    bucketed variant of a build has the same ones (one configured or "auto" choice); a Core ML
    model that opted out (convert.coreml_length_buckets = false) records one and is skipped."""
    for name, metadata in ctx.input_metadata.items():
        if name != "onnx" and len(metadata.get("length_buckets") or []) > 1:
            return tuple(metadata["length_buckets"])
    return (ctx.config.model.sequence_length,)


def _verify_one(name: str, path, encodings, reference, output_name: str, task: str, labels, tolerance) -> dict:
    """One fixed-length variant against torch; a Core ML op the interpreter lacks rejects it."""
    from mobilekit.mil.ops import UnsupportedMilOp
    from mobilekit.verify.parity import compare

    try:
        outputs = _run_variant(name, path, encodings, output_name)
    except UnsupportedMilOp as e:
        # Never a silent pass: the variant cannot be verified here, so it does not ship.
        return {"ships": False, "verified": False, "checks": [], "reasons": [f"cannot verify: {e.message}"]}
    return _decide(compare(reference, outputs, task=task, labels=labels, tolerance=tolerance))


def _verify_bucketed(name: str, path, encodings, references, output_name: str, task: str, labels, tolerance) -> dict:
    """A length-bucketed variant: ships when the routed mix and every bucket pass."""
    from mobilekit.mil.ops import UnsupportedMilOp
    from mobilekit.runners.bucket_runner import BucketedCoreml, BucketedTflite
    from mobilekit.verify.buckets import verify_bucketed

    try:
        if _v.by_key(name).format == _v.COREML:
            model = BucketedCoreml(path, references.buckets, output_name)
        else:
            model = BucketedTflite(path, references.buckets)
        routed, per_bucket = verify_bucketed(model, encodings, references, task=task, labels=labels, tolerance=tolerance)
    except UnsupportedMilOp as e:  # as for one bucket: never a silent pass
        return {"ships": False, "verified": False, "checks": [], "reasons": [f"cannot verify: {e.message}"]}
    result = _decide(routed)
    result["buckets"] = per_bucket
    for length, bucket in per_bucket.items():
        if not bucket["passed"]:
            result["ships"] = False
            result["reasons"] += [f"bucket {length}: {reason}" for reason in bucket["reasons"]]
    return result


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
