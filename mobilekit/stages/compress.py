"""finetune and distill: the "make it small" stages (not implemented in this version)."""

from __future__ import annotations

from mobilekit.config import Config
from mobilekit.stages.base import SOURCE, ArtifactRef, Stage, register_stage


@register_stage
class FinetuneStage(Stage):
    NAME = "finetune"
    SUMMARY = "fine-tune a teacher classifier on the labelled data"
    AVAILABLE = False
    REQUIRED_WHEN_ENABLED = True

    def skip_reason(self, config: Config) -> str | None:
        return None if config.finetune.enabled else "finetune.enabled = false"

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        return {"model": ArtifactRef(SOURCE, "model"), "data": ArtifactRef(SOURCE, "data")}


@register_stage
class DistillStage(Stage):
    NAME = "distill"
    SUMMARY = "distill a smaller student from the teacher"
    AVAILABLE = False
    REQUIRED_WHEN_ENABLED = True

    def skip_reason(self, config: Config) -> str | None:
        return None if config.distill.enabled else "distill.enabled = false"
