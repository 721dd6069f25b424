"""export: torch -> ONNX with int32 inputs and the task's output, checked in onnxruntime."""

from __future__ import annotations

from typing import Any

from mobilekit.config import Config
from mobilekit.stages import model_ref
from mobilekit.stages.base import ArtifactRef, Stage, StageContext, StageOutput, register_stage

CHECK_TEXTS = 8  # texts the export is checked on here; `verify` does the full job


@register_stage
class ExportStage(Stage):
    NAME = "export"
    # compress/heads.py: the loader a head-pruned student goes through.
    SOURCES = ("stages/llm.py", "convert/onnx_export.py", "llm", "encoder_folder.py", "modelinfo.py", "weights.py",
               "compress/heads.py", "compress/embedding_table.py")  # _load_wrapper builds the model with these
    SUMMARY = "export the model to ONNX (a causal LM: to its KV-cache decoder) and check it"

    def skip_reason(self, config: Config) -> str | None:
        from mobilekit.stages.static_distill import SKIP_REASON, is_static

        return SKIP_REASON.format(what="export") if is_static(config) else None

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        return {"model": model_ref(config)}

    def parameters(self, config: Config) -> dict[str, Any]:
        from mobilekit.stages.llm import generation_parameters, is_llm

        if is_llm(config):
            return generation_parameters(config)
        model = config.model
        return {
            "task": model.task,
            "sequence_length": model.sequence_length,
            "pooling": model.pooling,
            "normalize": model.normalize,
            "labels": list(model.labels) if model.labels else None,
            "opset": config.export.opset,
            "dynamic_length": config.export.dynamic_length,
        }

    def run(self, ctx: StageContext) -> StageOutput:
        from mobilekit.convert.onnx_export import export_onnx, reference_outputs, tokenize
        from mobilekit.modelinfo import describe_model
        from mobilekit.runners.onnx_runner import run_onnx
        from mobilekit.samples import builtin_texts

        from mobilekit.stages.llm import is_llm, run_export

        if is_llm(ctx.config):
            return run_export(ctx)
        config = ctx.config
        model_dir = ctx.inputs["model"]
        description = describe_model(config, model_dir)
        with ctx.progress.task("exporting to ONNX"):
            info = export_onnx(
                model_dir,
                ctx.out_dir / "model.onnx",
                task=config.model.task,
                sequence_length=config.model.sequence_length,
                pooling=config.model.pooling,
                normalize=config.model.normalize,
                opset=config.export.opset,
                dynamic_length=config.export.dynamic_length,
            )
        with ctx.progress.task("checking ONNX against torch"):
            texts = builtin_texts()[:CHECK_TEXTS]
            encodings = tokenize(model_dir, texts, config.model.sequence_length, info.input_names)
            expected = reference_outputs(model_dir, encodings, task=config.model.task, pooling=config.model.pooling,
                                         normalize=config.model.normalize)
            actual = run_onnx(info.path, encodings)
        max_abs_diff = float(abs(expected - actual).max())
        ctx.log.info("ONNX vs torch on %d texts: max abs diff %.3g", CHECK_TEXTS, max_abs_diff)
        metadata = {**description, "input_names": info.input_names, "output_name": info.output_name, "opset": info.opset}
        return StageOutput(
            artifacts={"onnx": info.path},
            metadata={"onnx": metadata},
            metrics={"onnx_vs_torch_max_abs_diff": max_abs_diff, "onnx_bytes": info.file_size, "export_seconds": round(info.seconds, 2)},
        )
