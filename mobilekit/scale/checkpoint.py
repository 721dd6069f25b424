"""Training checkpoints: one file per training phase in the stage's checkpoint folder.

A file is written whole to a temporary name, flushed to disk and renamed over the old one, so a
SIGKILL at any moment leaves either the previous checkpoint or the new one, never half of one.
Each file carries the stage fingerprint it was made under and the plan of the run (items, batch,
epochs); a file whose fingerprint or plan differs is ignored, never resumed from. The pipeline
empties the folder when the fingerprint changes and deletes it when the stage succeeds.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("mobilekit.scale.checkpoint")


@dataclass(frozen=True)
class Checkpoints:
    folder: Path
    fingerprint: str
    every_steps: int = 0  # 0: at the end of each epoch only
    writer: bool = True  # False on ranks that share the weights but do not write

    def path(self, phase: str) -> Path:
        return Path(self.folder) / (re.sub(r"[^A-Za-z0-9]+", "-", phase).strip("-") + ".pt")

    def due(self, step: int) -> bool:
        return self.every_steps > 0 and step % self.every_steps == 0

    def load(self, phase: str, plan: dict) -> dict | None:
        """The state saved for ``phase`` under this fingerprint and plan, else None."""
        import torch

        path = self.path(phase)
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # a foreign or damaged file is not a reason to fail the build
            log.warning("ignoring unreadable checkpoint %s: %s", path, error)
            return None
        if state.get("fingerprint") != self.fingerprint or state.get("plan") != plan:
            log.info("ignoring checkpoint %s: made for other settings", path)
            return None
        return state

    def save(self, phase: str, state: dict) -> None:
        if not self.writer:
            return
        import torch

        path = self.path(phase)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as out:
            torch.save({**state, "fingerprint": self.fingerprint}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
        log.debug("checkpoint %s: epoch %s, step %s", path.name, state.get("epoch"), state.get("step"))
