"""What a platform packager returns to the package stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class PackageResult:
    files: dict[str, Path]  # artifact name -> file inside the packager's out_dir (e.g. "aar", "pom", "zip")
    metrics: dict[str, Any] = field(default_factory=dict)  # e.g. tests run/passed, compile seconds, sizes
