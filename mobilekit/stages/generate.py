"""generate: render the Kotlin library and the Swift package from templates/.

Both platforms get the same ``SdkInputs``: names from the config, the model description, the
variant verify accepted, and golden vectors computed here by the Python tokenizer and model.
"""

from __future__ import annotations

import json
from typing import Any

from mobilekit.config import Config
from mobilekit.stages import model_ref
from mobilekit.stages.base import ArtifactRef, Stage, StageContext, StageOutput, register_stage
from mobilekit.stages.convert import coreml_artifact, tflite_artifact



@register_stage
class GenerateStage(Stage):
    NAME = "generate"
    SOURCES = ("sdk", "llm", "templates", "variants.py", "buckets.py")
    SUMMARY = "render the Android library and the Swift package from templates"

    def skip_reason(self, config: Config) -> str | None:
        if not (config.android.enabled or config.ios.enabled):
            return "android.enabled and ios.enabled are both false"
        return None

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        from mobilekit.stages.llm import decoder_ref, is_llm
        from mobilekit.stages.static_distill import is_static

        if is_static(config):
            return {"model": model_ref(config)}
        source = {"decoder": decoder_ref()} if is_llm(config) else {"onnx": ArtifactRef("export", "onnx")}
        refs = {"model": model_ref(config), "verify": ArtifactRef("verify", "results"), **source}
        if config.android.enabled:
            for variant in config.convert.tflite:
                refs[tflite_artifact(variant)] = ArtifactRef("convert", tflite_artifact(variant))
        if config.ios.enabled:
            for variant in config.convert.coreml:
                refs[coreml_artifact(variant)] = ArtifactRef("convert", coreml_artifact(variant))
        return refs

    def parameters(self, config: Config) -> dict[str, Any]:
        return {
            "project": [config.project.name, config.project.version],
            "android": {k: v for k, v in vars(config.android).items() if k != "run_tests"},
            "ios": {k: v for k, v in vars(config.ios).items() if k != "run_tests"},
        }

    def run(self, ctx: StageContext) -> StageOutput:
        from mobilekit.stages.llm import is_llm

        from mobilekit.stages.static_distill import is_static

        config = ctx.config
        metrics: dict[str, Any] = {}
        if is_static(config):
            return self._static(ctx)
        verify = json.loads(ctx.inputs["verify"].read_text(encoding="utf-8"))
        if is_llm(config):
            from mobilekit.sdk.android.llm_generator import generate_android_llm as generate_android
            from mobilekit.sdk.ios.llm_generator import generate_ios_llm as generate_ios
            from mobilekit.sdk.llm_inputs import build_llm_sdk_inputs

            inputs = build_llm_sdk_inputs(config, ctx.inputs, ctx.input_metadata, verify, ctx.progress)
            metrics["goldens"] = inputs.golden_counts
        else:
            from mobilekit.sdk.android.generator import generate_android
            from mobilekit.sdk.build_inputs import build_sdk_inputs
            from mobilekit.sdk.ios.generator import generate_ios

            with ctx.progress.task("computing golden vectors"):
                inputs = build_sdk_inputs(config, ctx.inputs, ctx.input_metadata, verify)
        artifacts = {}
        if config.android.enabled:
            with ctx.progress.task("rendering the Android library"):
                generate_android(inputs, ctx.out_dir / "android")
            artifacts["android"] = ctx.out_dir / "android"
            metrics["android_variant"] = inputs.tflite_variant
        if config.ios.enabled:
            with ctx.progress.task("rendering the Swift package"):
                generate_ios(inputs, ctx.out_dir / "ios")
            artifacts["ios"] = ctx.out_dir / "ios"
            metrics["ios_variant"] = inputs.coreml_variant
        return StageOutput(artifacts=artifacts, metrics=metrics)

    def _static(self, ctx: StageContext) -> StageOutput:
        """The runtime-free SDKs of a static student."""
        from mobilekit.sdk.static_inputs import build_static_sdk_inputs

        config, artifacts = ctx.config, {}
        with ctx.progress.task("computing golden vectors"):
            inputs = build_static_sdk_inputs(config, ctx.inputs["model"])
        if config.android.enabled:
            from mobilekit.sdk.android.generator import generate_android

            with ctx.progress.task("rendering the Android library"):
                generate_android(inputs, ctx.out_dir / "android")
            artifacts["android"] = ctx.out_dir / "android"
        if config.ios.enabled:
            from mobilekit.sdk.ios.generator import generate_ios

            with ctx.progress.task("rendering the Swift package"):
                generate_ios(inputs, ctx.out_dir / "ios")
            artifacts["ios"] = ctx.out_dir / "ios"
        return StageOutput(artifacts=artifacts, metrics={"model": "static", "goldens": len(inputs.output_goldens)})
