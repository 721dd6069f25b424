"""generate: render the Kotlin library and the Swift package (not implemented in this version)."""

from __future__ import annotations

from mobilekit.config import Config
from mobilekit.stages.base import Stage, register_stage


@register_stage
class GenerateStage(Stage):
    NAME = "generate"
    SUMMARY = "render the Android library and the Swift package from templates"
    AVAILABLE = False

    def skip_reason(self, config: Config) -> str | None:
        if not (config.android.enabled or config.ios.enabled):
            return "android.enabled and ios.enabled are both false"
        return None
