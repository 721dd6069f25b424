"""The pipeline's stages, in order, and the artifacts that connect them."""

from __future__ import annotations

from pathlib import Path

from mobilekit.config import Config
from mobilekit.stages.base import SOURCE, ArtifactRef, Stage, registered_stages

STAGE_ORDER = ("finetune", "distill", "export", "convert", "verify", "bench", "generate", "package", "report")


def source_inputs(config: Config) -> dict[str, Path]:
    """The user's own files, recorded as artifacts of the pseudo-stage 'source'."""
    sources = {"model": config.model.path}
    if config.data.path is not None:
        sources["data"] = config.data.path
    if config.data.unlabelled_path is not None:
        sources["unlabelled"] = config.data.unlabelled_path
    if config.verify.texts_path is not None:
        sources["verify_texts"] = config.verify.texts_path
    return sources


def model_ref(config: Config) -> ArtifactRef:
    """The model everything after compression works on: distilled, else fine-tuned, else the user's."""
    if config.distill.enabled:
        return ArtifactRef("distill", "model")
    if config.finetune.enabled:
        return ArtifactRef("finetune", "model")
    return ArtifactRef(SOURCE, "model")


def text_refs(config: Config) -> dict[str, ArtifactRef]:
    """The text files a stage may sample from (labelled data and/or plain texts)."""
    refs = {}
    if config.data.path is not None:
        refs["data"] = ArtifactRef(SOURCE, "data")
    if config.verify.texts_path is not None:
        refs["verify_texts"] = ArtifactRef(SOURCE, "verify_texts")
    if config.model.task == "text-generation" and config.data.unlabelled_path is not None:
        refs["unlabelled"] = ArtifactRef(SOURCE, "unlabelled")  # its held-out tail checks causal LMs
    return refs


def stage_instances() -> dict[str, Stage]:
    # Importing the modules registers their stage classes.
    from mobilekit.stages import bench, compress, convert, export, generate, package, report, verify  # noqa: F401

    stages = registered_stages()
    missing = [name for name in STAGE_ORDER if name not in stages]
    if missing:
        raise RuntimeError(f"stages without an implementation class: {missing}")
    return {name: stages[name]() for name in STAGE_ORDER}
