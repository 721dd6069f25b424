"""What a stage is: declared inputs, parameters and a ``run`` that writes into a fresh folder.

Stages never look at each other's folders: ``inputs()`` names the artifacts a stage reads (by
producing stage and artifact name) and the pipeline hands it their paths. A stage writes only
into ``ctx.out_dir``; the pipeline moves that folder into place once the stage succeeded.
"""

from __future__ import annotations

import hashlib

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mobilekit.config import Config
from mobilekit.progress import Progress

SOURCE = "source"  # pseudo-stage owning the user's own files (model folder, data)


@dataclass(frozen=True)
class ArtifactRef:
    stage: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.stage}/{self.name}"


@dataclass
class StageContext:
    config: Config
    inputs: dict[str, Path]  # local name -> path of the artifact (read only)
    input_metadata: dict[str, dict[str, Any]]  # local name -> metadata its producer recorded
    out_dir: Path  # empty folder; the stage writes here and nowhere else
    progress: Progress
    log: logging.Logger
    strict: bool = False
    input_sha256: dict[str, str] = field(default_factory=dict)  # local name -> sha256 of the input
    # Training checkpoints: kept across runs (unlike out_dir) while the fingerprint stays the same.
    checkpoint_dir: Path | None = None
    fingerprint: str = ""


@dataclass
class StageOutput:
    artifacts: dict[str, Path]  # artifact name -> path inside out_dir (file or folder)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # per artifact, for consumers
    metrics: dict[str, Any] = field(default_factory=dict)  # shown in the manifest, --json and the report


class Stage:
    NAME: ClassVar[str]
    # The code the stage's output depends on, besides its own module: paths inside the mobilekit
    # package (files or folders). Their content hash is the stage's version (``code_version``), so
    # an edit can never leave a stale cached output, and nobody has to remember to bump a number.
    SOURCES: ClassVar[tuple[str, ...]] = ()
    SUMMARY: ClassVar[str]
    AVAILABLE: ClassVar[bool] = True  # False: declared in the pipeline, not implemented in this version
    REQUIRED_WHEN_ENABLED: ClassVar[bool] = False  # unavailable + enabled is an error, not a skip
    TRAINS: ClassVar[bool] = False  # True: gets a checkpoint folder that survives a killed run

    def skip_reason(self, config: Config) -> str | None:
        """None when the stage runs for this config, else why it does not (e.g. not enabled)."""
        return None

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        return {}

    def parameters(self, config: Config) -> dict[str, Any]:
        """Everything from the config that changes this stage's outputs (JSON-able)."""
        return {}

    def run(self, ctx: StageContext) -> StageOutput:
        raise NotImplementedError


_REGISTRY: dict[str, type[Stage]] = {}


def register_stage(cls: type[Stage]) -> type[Stage]:
    if cls.NAME in _REGISTRY:
        raise RuntimeError(f"stage {cls.NAME!r} registered twice")
    _REGISTRY[cls.NAME] = cls
    return cls


def registered_stages() -> dict[str, type[Stage]]:
    return dict(_REGISTRY)


_CODE_VERSIONS: dict[type, str] = {}


def code_version(stage: "Stage") -> str:
    """The hash of the stage's own module and its SOURCES (computed once per process)."""
    import inspect

    from mobilekit.fsutil import sha256_code

    cls = type(stage)
    if cls not in _CODE_VERSIONS:
        package = Path(__file__).resolve().parents[1]
        paths = [Path(inspect.getfile(cls)).resolve(), *(package / source for source in cls.SOURCES)]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise FileNotFoundError(f"stage {cls.NAME} names sources that do not exist: {missing}")
        digests = [sha256_code(p) for p in paths]
        _CODE_VERSIONS[cls] = hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
    return _CODE_VERSIONS[cls]
