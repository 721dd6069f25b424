"""The pinned toolchain versions, read from the one file the setup scripts source.

``mobilekit/setup/versions.env`` holds the toolchain pins (torch, Kotlin, Java, the Android API
level, the example packages); ``mobilekit/setup/requirements.txt`` the main Python stack's exact
pins. Both ship inside the package, so an installed wheel checks what its own setup installs.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

SETUP_DIR = Path(__file__).resolve().parents[1] / "setup"


@lru_cache(maxsize=None)
def pins() -> dict[str, str]:
    """versions.env as a dict (``KEY=value`` lines; ``#`` comments)."""
    values = {}
    for line in (SETUP_DIR / "versions.env").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def pin(key: str) -> str:
    return pins()[key]


@lru_cache(maxsize=None)
def python_pins() -> dict[str, str]:
    """Distribution name (lower case) -> exact version, for the ``name==version`` lines of requirements.txt."""
    found = {}
    for line in (SETUP_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def checkout_root() -> Path | None:
    """The git checkout mobilekit runs from, or None for an installed wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "setup" / "install.sh").is_file() else None
