"""package: the .aar with its POM and the Swift package zip (not implemented in this version)."""

from __future__ import annotations

from mobilekit.config import Config
from mobilekit.stages.base import Stage, register_stage


@register_stage
class PackageStage(Stage):
    NAME = "package"
    SUMMARY = "assemble the .aar + POM and the Swift package zip"
    AVAILABLE = False

    def skip_reason(self, config: Config) -> str | None:
        if not (config.android.enabled or config.ios.enabled):
            return "android.enabled and ios.enabled are both false"
        return None
