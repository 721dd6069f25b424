"""package: the .aar with its POM, and the Swift package zip; the generated tests run here.

Both archives are deterministic (sorted entries, fixed timestamps): the same inputs give
byte-identical files, so a release pipeline can compare sha256s.
"""

from __future__ import annotations

from typing import Any

from mobilekit.config import Config
from mobilekit.stages.base import ArtifactRef, Stage, StageContext, StageOutput, register_stage


@register_stage
class PackageStage(Stage):
    NAME = "package"
    SOURCES = ("sdk", "templates")
    SUMMARY = "assemble the .aar + POM and the Swift package zip"

    def skip_reason(self, config: Config) -> str | None:
        if not (config.android.enabled or config.ios.enabled):
            return "android.enabled and ios.enabled are both false"
        return None

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        refs = {}
        if config.android.enabled:
            refs["android"] = ArtifactRef("generate", "android")
        if config.ios.enabled:
            refs["ios"] = ArtifactRef("generate", "ios")
        return refs

    def parameters(self, config: Config) -> dict[str, Any]:
        return {"android_tests": config.android.run_tests, "ios_tests": config.ios.run_tests}

    def run(self, ctx: StageContext) -> StageOutput:
        config = ctx.config
        artifacts, metrics = {}, {}
        if config.android.enabled:
            from mobilekit.sdk.android.packager import package_android

            with ctx.progress.task("compiling and packaging the Android library"):
                result = package_android(ctx.inputs["android"], ctx.out_dir / "android", run_tests=config.android.run_tests)
            artifacts.update({f"android-{name}": path for name, path in result.files.items()})
            metrics["android"] = result.metrics
        if config.ios.enabled:
            from mobilekit.sdk.ios.packager import package_ios

            with ctx.progress.task("building, testing and zipping the Swift package"):
                result = package_ios(ctx.inputs["ios"], ctx.out_dir / "ios", run_tests=config.ios.run_tests)
            artifacts.update({f"ios-{name}": path for name, path in result.files.items()})
            metrics["ios"] = result.metrics
        return StageOutput(artifacts=artifacts, metrics=metrics)
