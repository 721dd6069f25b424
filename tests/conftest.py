"""Shared fixtures: small projects written into tmp_path, and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# One intra-op thread for torch and the runtimes, in this process and the ones it starts: the
# tiny models' ops are too small to split, and on 2 shared cores a second thread made training
# several times slower (docs/scale.md). Set before anything imports torch; a caller's value wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def write_toml(path: Path, sections: dict[str, dict]) -> Path:
    lines = []
    for section, table in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path):
    """A minimal valid project: a folder standing in for the model, and a writer for mobilekit.toml."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "bert"}')

    def write(**sections) -> Path:
        base = {"project": {"name": "Movie sentiment"}, "model": {"path": "model", "task": "text-classification"}}
        for section, table in sections.items():
            base.setdefault(section, {}).update(table)
        return write_toml(tmp_path / "mobilekit.toml", base)

    return write


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real `mobilekit` entry point in a child process (exit codes and output as a user sees them)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mobilekit", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


# CI installs every toolchain (.ci/run sets MOBILEKIT_REQUIRE_TOOLCHAINS=1): there a missing one is
# a broken set-up, and a test that would skip fails instead. On a developer's machine it skips.
REQUIRE_TOOLCHAINS = os.environ.get("MOBILEKIT_REQUIRE_TOOLCHAINS") == "1"


def toolchain_missing(reason: str):
    """Skips the test for a missing toolchain, or fails it where toolchains are required (CI)."""
    if REQUIRE_TOOLCHAINS:
        pytest.fail(f"toolchain required (MOBILEKIT_REQUIRE_TOOLCHAINS=1) but missing: {reason}", pytrace=False)
    pytest.skip(reason)

