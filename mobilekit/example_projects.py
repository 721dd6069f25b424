"""The built-in examples, copied out of the package into a folder of the user's (`mobilekit init --example`).

The examples' files ship with mobilekit (``examples/`` in a checkout, ``mobilekit/bundled_examples``
in a wheel); their weights and text do not: a setup component fetches them once into
``$MOBILEKIT_HOME`` and the copied project links to them, exactly as the checkout's examples do.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mobilekit.errors import ToolMissingError, UsageError


@dataclass(frozen=True)
class Example:
    name: str
    component: str  # the setup component that fetches its weights
    links: dict[str, str]  # file in the project -> path under $MOBILEKIT_HOME (as the component writes it)


EXAMPLES = {
    "minilm-embeddings": Example("minilm-embeddings", "example-weights", {"model": "models/all-MiniLM-L6-v2"}),
    "smollm2-chat": Example("smollm2-chat", "smollm2", {"model": "models/SmolLM2-135M-Instruct",
                                                        "unlabelled.txt": "data/nlp-corpus-4000.txt"}),
}
# Files a copied example never takes: its link targets, and what a build in the checkout left there.
_SKIPPED = {"build", "__pycache__"}


def examples_root() -> Path:
    package = Path(__file__).resolve().parent
    bundled = package / "bundled_examples"
    return bundled if bundled.is_dir() else package.parent / "examples"


def copy_example(name: str, destination: Path) -> Path:
    """Copies example ``name`` into ``destination`` (new or empty) and links its weights; returns its mobilekit.toml."""
    from mobilekit.toolchains.tools import mobilekit_home, setup_command

    example = EXAMPLES.get(name)
    if example is None:
        raise UsageError(f"unknown example {name!r}", hint=f"the built-in examples are: {', '.join(sorted(EXAMPLES))}")
    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise UsageError(f"{destination} exists and is not an empty folder", hint="pass --dir with a new folder")
    targets = {link: mobilekit_home() / target for link, target in example.links.items()}
    missing = [str(t) for t in targets.values() if not t.exists()]
    if missing:
        raise ToolMissingError(f"the {name} example's weights are not installed ({', '.join(missing)} not found)",
                               hint=f"install them with: {setup_command(example.component)}")
    source = examples_root() / name
    staging = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=lambda folder, names: [n for n in names if n in _SKIPPED or n in example.links])
    for link, target in targets.items():
        os.symlink(target, staging / link)
    if destination.exists():
        destination.rmdir()
    staging.rename(destination)  # all or nothing: no half-copied example is left behind
    return destination / "mobilekit.toml"
