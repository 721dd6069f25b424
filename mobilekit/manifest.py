"""The build manifest: what every stage made, from what, with which parameters.

One JSON file per build directory. Every artifact has its path (relative to the build
directory), sha256, size, producing stage and that stage's parameters; every stage has its
status, duration, error and metrics. It is rewritten atomically after each stage.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mobilekit import __version__
from mobilekit.fsutil import atomic_write_text, sha256_tree

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


@dataclass
class ArtifactRecord:
    key: str  # "<stage>/<name>", unique in the build
    stage: str
    name: str
    path: str  # relative to the build directory (or absolute for source inputs outside it)
    sha256: str
    bytes: int
    kind: str  # "file" or "dir"
    parameters: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageRecord:
    name: str
    status: str  # ok | failed | skipped | unavailable | interrupted
    fingerprint: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # local name -> sha256 of the input artifact
    artifacts: list[str] = field(default_factory=list)  # artifact keys
    metrics: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    duration_s: float | None = None
    reason: str | None = None  # why it was skipped / unavailable
    error: dict[str, Any] | None = None


@dataclass
class Manifest:
    build_dir: Path
    stages: dict[str, StageRecord] = field(default_factory=dict)
    artifacts: dict[str, ArtifactRecord] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.build_dir / MANIFEST_NAME

    @classmethod
    def load(cls, build_dir: Path) -> "Manifest":
        """Reads the manifest; a missing, unreadable or foreign one counts as empty (everything reruns)."""
        manifest = cls(Path(build_dir))
        try:
            data = json.loads(manifest.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return manifest
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
            return manifest
        try:
            manifest.stages = {k: StageRecord(**v) for k, v in data.get("stages", {}).items()}
            manifest.artifacts = {k: ArtifactRecord(**v) for k, v in data.get("artifacts", {}).items()}
        except TypeError:
            return cls(Path(build_dir))
        return manifest

    def save(self) -> None:
        data = {
            "schema": SCHEMA_VERSION,
            "mobilekit_version": __version__,
            "written_at": time.time(),
            "stages": {k: asdict(v) for k, v in self.stages.items()},
            "artifacts": {k: asdict(v) for k, v in self.artifacts.items()},
        }
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")

    def artifact_path(self, record: ArtifactRecord) -> Path:
        path = Path(record.path)
        return path if path.is_absolute() else self.build_dir / path

    def artifact_is_intact(self, record: ArtifactRecord) -> bool:
        """True when the artifact is on disk with the recorded content (sha256 recomputed)."""
        path = self.artifact_path(record)
        if not path.exists():
            return False
        return sha256_tree(path) == record.sha256

    def replace_stage(self, record: StageRecord, artifacts: list[ArtifactRecord]) -> None:
        old = self.stages.get(record.name)
        if old is not None:
            for key in old.artifacts:
                self.artifacts.pop(key, None)
        for artifact in artifacts:
            self.artifacts[artifact.key] = artifact
        record.artifacts = [a.key for a in artifacts]
        self.stages[record.name] = record
