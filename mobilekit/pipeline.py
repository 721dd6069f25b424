"""Runs stages in order, reusing what is still valid and moving finished work into place.

A stage's fingerprint is the hash of its name, code version, parameters and the sha256 of every
input artifact. It is skipped when the manifest holds the same fingerprint and every artifact it
recorded is still on disk with the recorded sha256. Otherwise it runs in a staging folder that is
moved into the build directory only after it succeeded, and the manifest is written after that:
a crash at any point leaves either the old consistent state or one the next run detects.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from mobilekit.config import Config
from mobilekit.errors import BuildLockedError, InternalError, MobilekitError, ModelInputError, StageNotAvailableError, UsageError
from mobilekit.fsutil import replace_dir, sha256_tree, tree_size
from mobilekit.manifest import ArtifactRecord, Manifest, StageRecord
from mobilekit.progress import Progress
from mobilekit.stages import STAGE_ORDER, source_inputs, stage_instances
from mobilekit.stages.base import SOURCE, ArtifactRef, Stage, StageContext, code_version

log = logging.getLogger("mobilekit.pipeline")

STAGING = ".staging"
TRASH = ".trash"
CHECKPOINTS = "checkpoints"  # inside STAGING: the one thing there a later run trusts (fingerprint-checked)


@dataclass
class StageOutcome:
    name: str
    status: str  # ran | cached | skipped | unavailable | failed | interrupted | not-selected
    duration_s: float = 0.0
    reason: str | None = None


@dataclass
class BuildResult:
    outcomes: list[StageOutcome] = field(default_factory=list)
    manifest: Manifest | None = None

    def summary(self) -> dict[str, Any]:
        manifest = self.manifest
        stages = []
        for outcome in self.outcomes:
            record = manifest.stages.get(outcome.name) if manifest else None
            stages.append(
                {
                    "stage": outcome.name,
                    "outcome": outcome.status,
                    "duration_s": round(outcome.duration_s, 3),
                    "reason": outcome.reason,
                    "metrics": record.metrics if record else {},
                    "artifacts": {
                        manifest.artifacts[key].name: {
                            "path": str(manifest.artifact_path(manifest.artifacts[key])),
                            "sha256": manifest.artifacts[key].sha256,
                            "bytes": manifest.artifacts[key].bytes,
                        }
                        for key in (record.artifacts if record else [])
                        if key in manifest.artifacts
                    },
                }
            )
        return {"build_dir": str(manifest.build_dir) if manifest else None, "stages": stages}


def select_stages(start: str | None, stop: str | None) -> list[str]:
    """The stage names from ``start`` to ``stop`` inclusive, in pipeline order."""
    for name in (start, stop):
        if name is not None and name not in STAGE_ORDER:
            raise UsageError(f"unknown stage {name!r}", hint=f"stages, in order: {', '.join(STAGE_ORDER)}")
    first = STAGE_ORDER.index(start) if start else 0
    last = STAGE_ORDER.index(stop) if stop else len(STAGE_ORDER) - 1
    if first > last:
        raise UsageError(f"--from {start} comes after --to {stop}", hint=f"stages, in order: {', '.join(STAGE_ORDER)}")
    return list(STAGE_ORDER[first : last + 1])


class Pipeline:
    def __init__(
        self,
        config: Config,
        *,
        progress: Progress | None = None,
        stages: dict[str, Stage] | None = None,
        order: tuple[str, ...] | None = None,
        on_event: Callable[[str, str], None] | None = None,
    ):
        self.config = config
        self.build_dir = Path(config.build_dir)
        self.progress = progress or Progress()
        self.stages = stages or stage_instances()
        self.order = order or STAGE_ORDER
        self.on_event = on_event or (lambda stage, message: None)

    # -- public ------------------------------------------------------------------------------

    def run(self, selected: list[str], *, force: set[str] = frozenset(), strict: bool = False) -> BuildResult:
        """Runs ``selected`` stages in order. Earlier, unselected stages must already be up to date."""
        self.build_dir.mkdir(parents=True, exist_ok=True)
        result = BuildResult()
        with self._lock():
            self._clean_leftovers()
            manifest = Manifest.load(self.build_dir)
            result.manifest = manifest
            self._record_sources(manifest)
            for name in self.order:
                if name not in selected:
                    continue
                outcome = self._run_stage(manifest, self.stages[name], force=name in force, strict=strict)
                result.outcomes.append(outcome)
        return result

    # -- one stage ---------------------------------------------------------------------------

    def _run_stage(self, manifest: Manifest, stage: Stage, *, force: bool, strict: bool) -> StageOutcome:
        config = self.config
        name = stage.NAME
        reason = stage.skip_reason(config)
        if reason is not None:
            self._drop_stage(manifest, name, StageRecord(name=name, status="skipped", reason=reason))
            self.on_event(name, f"skipped ({reason})")
            return StageOutcome(name, "skipped", reason=reason)
        if not stage.AVAILABLE:
            reason = "not available in this version of mobilekit"
            if stage.REQUIRED_WHEN_ENABLED:
                # Going on without it would ship a different model than the config asks for.
                raise StageNotAvailableError(
                    f"stage {name!r} is enabled in the config but {reason}",
                    hint=f"set {name}.enabled = false, or prepare the model yourself and point model.path at it",
                )
            self._drop_stage(manifest, name, StageRecord(name=name, status="unavailable", reason=reason))
            self.on_event(name, f"unavailable ({reason})")
            return StageOutcome(name, "unavailable", reason=reason)

        inputs = self._resolve_inputs(manifest, stage)
        parameters = stage.parameters(config)
        fingerprint = _fingerprint(name, code_version(stage), parameters, {k: a.sha256 for k, a in inputs.items()})
        previous = manifest.stages.get(name)
        if not force and self._is_current(manifest, previous, fingerprint):
            self.on_event(name, "up to date")
            return StageOutcome(name, "cached")

        self.on_event(name, "running")
        checkpoint_dir = self._checkpoint_dir(name, fingerprint, fresh=force) if stage.TRAINS else None
        staging = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self._staging_root()))
        out_dir = staging / name
        out_dir.mkdir()
        ctx = StageContext(
            config=config,
            inputs={k: manifest.artifact_path(a) for k, a in inputs.items()},
            input_metadata={k: a.metadata for k, a in inputs.items()},
            out_dir=out_dir,
            progress=self.progress,
            log=logging.getLogger(f"mobilekit.stages.{name}"),
            strict=strict,
            input_sha256={k: a.sha256 for k, a in inputs.items()},
            checkpoint_dir=checkpoint_dir,
            fingerprint=fingerprint,
        )
        record = StageRecord(
            name=name,
            status="running",
            fingerprint=fingerprint,
            parameters=parameters,
            inputs={k: a.sha256 for k, a in inputs.items()},
            started_at=time.time(),
        )
        started = time.monotonic()
        try:
            output = stage.run(ctx)
            artifacts = self._collect_artifacts(name, out_dir, output, parameters)
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
            interrupted = isinstance(error, KeyboardInterrupt)
            self._record_failure(manifest, previous, record, error, time.monotonic() - started, interrupted)
            self.on_event(name, "interrupted" if interrupted else "failed")
            raise
        # Move the finished folder into place, then record it: a crash between the two leaves
        # files whose sha256 differ from the manifest, so the next run redoes this stage.
        replace_dir(out_dir, self.build_dir / name, self.build_dir / TRASH)
        shutil.rmtree(staging, ignore_errors=True)
        if checkpoint_dir is not None:  # the stage's outputs now stand for its training
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
        record.status = "ok"
        record.metrics = output.metrics
        record.duration_s = time.monotonic() - started
        manifest.replace_stage(record, artifacts)
        manifest.save()
        self.on_event(name, f"done in {record.duration_s:.1f}s")
        return StageOutcome(name, "ran", duration_s=record.duration_s)

    def _resolve_inputs(self, manifest: Manifest, stage: Stage) -> dict[str, ArtifactRecord]:
        resolved = {}
        for local, ref in stage.inputs(self.config).items():
            record = manifest.artifacts.get(ref.key)
            producer = manifest.stages.get(ref.stage)
            usable = record is not None and (ref.stage == SOURCE or (producer is not None and producer.status == "ok"))
            if not usable or not manifest.artifact_is_intact(record):
                raise UsageError(
                    f"stage {stage.NAME!r} needs {ref.name!r} from stage {ref.stage!r}, which is missing or out of date",
                    hint=f"run `mobilekit build --to {stage.NAME}` (or `mobilekit {ref.stage}`) first",
                )
            resolved[local] = record
        return resolved

    def _is_current(self, manifest: Manifest, previous: StageRecord | None, fingerprint: str) -> bool:
        if previous is None or previous.status != "ok" or previous.fingerprint != fingerprint:
            return False
        for key in previous.artifacts:
            record = manifest.artifacts.get(key)
            if record is None or not manifest.artifact_is_intact(record):
                return False
        return True

    def _collect_artifacts(self, name: str, out_dir: Path, output, parameters: dict) -> list[ArtifactRecord]:
        records = []
        for artifact, path in output.artifacts.items():
            path = Path(path)
            try:
                relative = path.resolve().relative_to(out_dir.resolve())
            except ValueError:
                raise InternalError(f"internal: stage {name!r} wrote artifact {artifact!r} outside its folder: {path}") from None
            if not path.exists():
                raise InternalError(f"internal: stage {name!r} declared artifact {artifact!r} but did not write {path}")
            records.append(
                ArtifactRecord(
                    key=f"{name}/{artifact}",
                    stage=name,
                    name=artifact,
                    path=(Path(name) / relative).as_posix(),
                    sha256=sha256_tree(path),
                    bytes=tree_size(path),
                    kind="dir" if path.is_dir() else "file",
                    parameters=parameters,
                    metadata=output.metadata.get(artifact, {}),
                )
            )
        return records

    def _record_failure(self, manifest, previous, record, error, duration, interrupted) -> None:
        # The previous outputs stay on disk and listed (nothing built is lost), but the stage is
        # no longer "ok", so nothing downstream consumes them and the next run redoes it.
        record.status = "interrupted" if interrupted else "failed"
        record.duration_s = duration
        if isinstance(error, MobilekitError):
            record.error = error.to_dict()
        elif not interrupted:
            record.error = {"kind": "internal", "message": f"{type(error).__name__}: {error}"}
        record.artifacts = list(previous.artifacts) if previous else []
        manifest.stages[record.name] = record
        manifest.save()

    def _drop_stage(self, manifest: Manifest, name: str, record: StageRecord) -> None:
        manifest.replace_stage(record, [])
        manifest.save()
        shutil.rmtree(self._staging_root() / CHECKPOINTS / name, ignore_errors=True)
        target = self.build_dir / name
        if target.exists():
            # Renamed away first, so a half-deleted folder never sits where outputs are expected.
            trash = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self._trash_root()))
            os.replace(target, trash / name)
            shutil.rmtree(trash, ignore_errors=True)

    # -- the user's own files ------------------------------------------------------------------

    def _record_sources(self, manifest: Manifest) -> None:
        """Hashes the model folder and data files so a change to them invalidates what used them."""
        artifacts = []
        for name, path in source_inputs(self.config).items():
            if not path.exists():
                raise ModelInputError(f"{name} not found at {path}", hint="check the path in mobilekit.toml")
            artifacts.append(
                ArtifactRecord(
                    key=f"{SOURCE}/{name}",
                    stage=SOURCE,
                    name=name,
                    path=str(path),
                    sha256=sha256_tree(path),
                    bytes=tree_size(path),
                    kind="dir" if path.is_dir() else "file",
                )
            )
        manifest.replace_stage(StageRecord(name=SOURCE, status="ok"), artifacts)
        manifest.save()

    # -- housekeeping --------------------------------------------------------------------------

    def _trash_root(self) -> Path:
        root = self.build_dir / TRASH
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _staging_root(self) -> Path:
        root = self.build_dir / STAGING
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _checkpoint_dir(self, name: str, fingerprint: str, *, fresh: bool) -> Path:
        """The stage's checkpoint folder, emptied unless it was made under this very fingerprint
        (and not when --force asks for a fresh start): a checkpoint never outlives a change."""
        folder = self._staging_root() / CHECKPOINTS / name
        tag = folder / "FINGERPRINT"
        kept = tag.is_file() and tag.read_text(encoding="utf-8").strip() == fingerprint and not fresh
        if not kept:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            tag.write_text(fingerprint + "\n", encoding="utf-8")
        return folder

    def _clean_leftovers(self) -> None:
        """Removes folders a killed run left in staging or trash; nothing there is ever trusted,
        except training checkpoints, which carry the fingerprint they were made under."""
        shutil.rmtree(self.build_dir / TRASH, ignore_errors=True)
        staging = self.build_dir / STAGING
        if staging.is_dir():
            for leftover in staging.iterdir():
                if leftover.name != CHECKPOINTS:
                    shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)

    def _lock(self):
        return _BuildLock(self.build_dir / ".lock")


class _BuildLock:
    def __init__(self, path: Path):
        self.path = path
        self.handle = None

    def __enter__(self):
        self.handle = open(self.path, "w")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise BuildLockedError(
                f"another mobilekit process is using {self.path.parent}",
                hint="wait for it to finish, or use a different --build-dir",
            ) from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def _fingerprint(name: str, version: str, parameters: dict, inputs: dict) -> str:
    payload = json.dumps({"stage": name, "version": version, "parameters": parameters, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
