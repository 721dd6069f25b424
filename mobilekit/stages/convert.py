"""convert: ONNX -> TensorFlow Lite variants (Core ML variants: not in this version)."""

from __future__ import annotations

from typing import Any

from mobilekit import variants as _v
from mobilekit.buckets import AUTO
from mobilekit.config import Config
from mobilekit.stages import model_ref, text_refs
from mobilekit.stages.base import ArtifactRef, Stage, StageContext, StageOutput, register_stage

# The artifact names (``tflite-<variant>``, ``coreml-<variant>``) come from the variant registry.
tflite_artifact = _v.tflite_key
coreml_artifact = _v.coreml_key


AUTO_BUCKET_TEXTS = 10000  # most task texts "auto" length buckets count tokens on


def needs_calibration(config: Config) -> bool:
    """Whether a TFLite variant of the config needs calibration text (full-int8)."""
    return _v.needs_calibration(_v.TFLITE, config.convert.tflite)


def configured_buckets(config: Config) -> tuple[int, ...] | str:
    """model.length_buckets as configured: a tuple, "auto", or (sequence_length,) when unset."""
    return config.model.length_buckets or (config.model.sequence_length,)


def needs_texts(config: Config) -> bool:
    """Whether convert reads the task text (calibration, or token counts for "auto" buckets)."""
    converts = bool(config.convert.tflite) or bool(config.convert.coreml)
    return needs_calibration(config) or (converts and configured_buckets(config) == AUTO)


@register_stage
class ConvertStage(Stage):
    NAME = "convert"
    SOURCES = ("stages/llm.py", "convert", "llm", "mil", "variants.py", "samples.py", "buckets.py", "compress/heads.py",
               "compress/embedding_table.py")  # the last two: _load_wrapper builds the model with them
    SUMMARY = "build the TensorFlow Lite and Core ML variants"

    def skip_reason(self, config: Config) -> str | None:
        from mobilekit.stages.static_distill import SKIP_REASON, is_static

        if is_static(config):
            return SKIP_REASON.format(what="convert")
        if not config.convert.tflite and not config.convert.coreml:
            return "convert.tflite and convert.coreml are both empty"
        return None

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        from mobilekit.stages.llm import decoder_ref, is_llm

        if is_llm(config):
            return {"decoder": decoder_ref(), "model": model_ref(config)}
        refs = {"onnx": ArtifactRef("export", "onnx"), "model": model_ref(config)}
        if needs_texts(config):
            refs.update(text_refs(config))
        return refs

    def parameters(self, config: Config) -> dict[str, Any]:
        convert = config.convert
        params = {"tflite": list(convert.tflite), "tflite_route": convert.tflite_route, "coreml": list(convert.coreml)}
        if config.model.length_buckets is not None:  # unset: the parameters (and fingerprint) of before
            buckets = configured_buckets(config)
            params["length_buckets"] = buckets if buckets == AUTO else list(buckets)
            params["coreml_length_buckets"] = convert.coreml_length_buckets
        if config.model.task == "text-generation":
            params["int4_block_size"] = config.generation.int4_block_size
        if needs_texts(config):
            data = config.data
            params["calibration"] = {
                "samples": convert.calibration_samples,
                "columns": [data.text_column, data.label_column],
                "split": [data.validation_fraction, data.test_fraction, data.seed],
            }
        return params

    def run(self, ctx: StageContext) -> StageOutput:
        from mobilekit.stages.llm import is_llm, run_convert

        if is_llm(ctx.config):
            return run_convert(ctx, tflite_artifact, coreml_artifact)
        config = ctx.config
        artifacts, metadata, metrics = {}, {}, {}
        onnx_metadata = ctx.input_metadata["onnx"]
        buckets, choice = self._buckets(ctx)  # one choice for both formats
        metrics["length_buckets"] = list(buckets)
        if choice is not None:
            metrics["length_buckets_auto"] = choice
        if config.convert.tflite:
            paths = self._tflite(ctx, buckets)
            for variant, path in paths.items():
                name = tflite_artifact(variant)
                artifacts[name] = path
                metadata[name] = {**onnx_metadata, "format": _v.TFLITE, "variant": variant,
                                  "length_buckets": list(buckets), "signatures": _signature_table(buckets)}
                metrics[f"{name}_bytes"] = path.stat().st_size
        if config.convert.coreml:
            from mobilekit.convert.coreml import convert_coreml

            timings: dict[str, float] = {}
            coreml_buckets = list(buckets) if config.convert.coreml_length_buckets else [config.model.sequence_length]
            with ctx.progress.task(f"coremltools: {', '.join(config.convert.coreml)}"):
                paths = convert_coreml(
                    ctx.inputs["model"],
                    ctx.out_dir / "coreml",
                    task=config.model.task,
                    sequence_length=config.model.sequence_length,
                    pooling=config.model.pooling,
                    normalize=config.model.normalize,
                    variants=list(config.convert.coreml),
                    metadata=self._coreml_metadata(ctx),
                    timings=timings,
                    length_buckets=coreml_buckets,
                )
            for variant, path in paths.items():
                name = coreml_artifact(variant)
                artifacts[name] = path
                metadata[name] = {**onnx_metadata, "format": _v.COREML, "variant": variant, "length_buckets": coreml_buckets,
                                  "functions": _function_table(coreml_buckets)}
                metrics[f"{name}_seconds"] = round(timings.get(variant, 0.0), 2)
        return StageOutput(artifacts=artifacts, metadata=metadata, metrics=metrics)

    def _tflite(self, ctx: StageContext, buckets: tuple[int, ...]) -> dict:
        """{variant: path} of the TFLite variants, by the configured route."""
        config = ctx.config
        calibration = self._calibration(ctx) if needs_calibration(config) else None
        if config.convert.tflite_route == "litert-torch":
            from mobilekit.convert.litert_torch import convert_tflite_litert_torch

            with ctx.progress.task(f"litert-torch: {', '.join(config.convert.tflite)}"):
                return convert_tflite_litert_torch(
                    ctx.inputs["model"], ctx.out_dir / "tflite", task=config.model.task,
                    sequence_length=config.model.sequence_length, pooling=config.model.pooling,
                    normalize=config.model.normalize, variants=list(config.convert.tflite), calibration=calibration,
                    length_buckets=list(buckets))
        from mobilekit.convert.tflite import convert_tflite

        with ctx.progress.task(f"onnx2tf: {', '.join(config.convert.tflite)}"):
            return convert_tflite(ctx.inputs["onnx"], ctx.out_dir / "tflite", variants=list(config.convert.tflite),
                                  calibration=calibration)

    def _buckets(self, ctx: StageContext) -> tuple[tuple[int, ...], dict | None]:
        """The length buckets (``auto`` measured on the task text) and, for auto, what it saw."""
        from mobilekit import buckets as _buckets

        config = ctx.config
        configured = configured_buckets(config)
        if configured != AUTO:
            return configured, None
        from mobilekit.convert.onnx_export import token_counts
        from mobilekit.samples import load_samples

        samples = load_samples(config, ctx.inputs, limit=AUTO_BUCKET_TEXTS, label_names=None, split_name="train")
        counts = token_counts(ctx.inputs["model"], samples.texts)
        chosen = _buckets.auto_buckets(counts, config.model.sequence_length)
        choice = {**_buckets.describe_choice(counts, chosen), "source": samples.source}
        ctx.log.info("length buckets (auto) %s from %d texts of %s: token count percentiles %s", list(chosen),
                     len(counts), samples.source, choice["percentiles"])
        return chosen, choice

    def _coreml_metadata(self, ctx: StageContext) -> dict:
        """Provenance written into every .mlpackage (read back with read_coreml_metadata)."""
        from mobilekit import __version__

        config, description = ctx.config, ctx.input_metadata["onnx"]
        return {
            "short_description": f"{config.project.name}: {config.model.task} (mobilekit)",
            "version": config.project.version,
            "labels": description.get("labels"),
            "tokenizer": description.get("tokenizer"),
            "pooling": description.get("pooling"),
            "normalize": description.get("normalize"),
            "source_sha256": ctx.input_sha256.get("model"),
            "mobilekit_version": __version__,
        }

    def _calibration(self, ctx: StageContext):
        from mobilekit.convert.onnx_export import tokenize
        from mobilekit.samples import load_samples

        config = ctx.config
        samples = load_samples(config, ctx.inputs, limit=config.convert.calibration_samples, label_names=None, split_name="train")
        input_names = ctx.input_metadata["onnx"]["input_names"]
        return tokenize(ctx.inputs["model"], samples.texts, config.model.sequence_length, input_names)


def _function_table(buckets) -> dict[str, str]:
    """{str(length): Core ML function name}; empty for one bucket (a single-function package)."""
    from mobilekit.buckets import coreml_functions

    return {str(length): name for length, name in coreml_functions(buckets).items()} if len(buckets) > 1 else {}


def _signature_table(buckets) -> dict[str, str]:
    """{str(length): signature name}, as recorded in the artifacts' metadata (JSON keys are strings)."""
    from mobilekit.buckets import signatures

    return {str(length): name for length, name in signatures(buckets).items()}
