"""One description of a platform's SDK template (``templates/<platform>/template.json``), one loader.

Both platforms use the same schema::

    {"platform": "android" | "ios",
     "description": "...",
     "paths": {name: pattern},            # where things go in the generated SDK ({placeholders})
     "assets": {name: file name},
     "files": [{"source": "...", "output": pattern, "tasks": [...], "models": [...]}],
     "reserved_names": {"*" | task: [type names the SDK defines or uses]},
     "settings": {...}}                   # platform facts the templates read (dependencies, tool versions)

A ``source`` ending in ``.j2`` is rendered by Jinja; any other is a real Kotlin or Swift file,
compiled and tested as it is, and copied (see ``copy_source``). ``tasks`` limits an entry to those
tasks, ``models`` to ``runtime`` SDKs (a TFLite / Core ML model) or ``static`` ones (a static
student, computed in plain Kotlin/Swift); without them the entry is for every task and model. The template's version is the hash of its folder's
content, so an edit can never leave a generated SDK or a cached stage stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mobilekit.errors import SdkBuildError
from mobilekit.templating import TEMPLATES_ROOT

TASKS = frozenset({"text-classification", "sentence-embedding", "text-generation"})
MODELS = frozenset({"runtime", "static"})
KEYS = ("platform", "description", "paths", "assets", "files", "reserved_names", "settings")
REQUIRED_PATHS = {"android": ("kotlin_main", "kotlin_test", "assets_root", "asset_dir", "manifest", "consumer_rules", "res",
                              "provenance", "test_resources"),
                  "ios": ("model", "vocab", "manifest", "goldens", "provenance")}


@dataclass(frozen=True)
class TemplateFile:
    source: str  # relative to the platform's template folder
    output: str  # pattern, formatted with the generator's context
    tasks: frozenset[str]  # empty: every task
    models: frozenset[str] = frozenset()  # empty: runtime and static SDKs

    @property
    def rendered(self) -> bool:
        return self.source.endswith(".j2")

    def applies_to(self, task: str, model: str = "runtime") -> bool:
        return (not self.tasks or task in self.tasks) and (not self.models or model in self.models)


@dataclass(frozen=True)
class TemplateManifest:
    platform: str
    root: Path
    version: str
    description: str
    paths: dict[str, str]
    assets: dict[str, str]
    files: tuple[TemplateFile, ...]
    reserved_names: dict[str, frozenset[str]]
    settings: dict[str, Any]

    def files_for(self, task: str, model: str = "runtime") -> list[TemplateFile]:
        return [f for f in self.files if f.applies_to(task, model)]

    def path(self, key: str, **fields: str) -> str:
        """``paths[key]`` with its placeholders filled in."""
        return self.paths[key].format(**fields)

    def reserved_for(self, task: str) -> frozenset[str]:
        """Type names a user's class or module may not take in a ``task`` SDK."""
        return self.reserved_names.get("*", frozenset()) | self.reserved_names.get(task, frozenset())


@lru_cache(maxsize=None)
def load_manifest(platform: str) -> TemplateManifest:
    """Reads and checks ``templates/<platform>/template.json``; every problem is reported at once."""
    from mobilekit.fsutil import sha256_code

    root = TEMPLATES_ROOT / platform
    path = root / "template.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SdkBuildError(f"mobilekit's {platform} template description {path} cannot be read: {e}",
                            hint="reinstall mobilekit (its templates ship inside the package)") from e
    problems = _problems(platform, root, data)
    if problems:
        raise SdkBuildError(f"{path} is not a valid template description: " + "; ".join(problems),
                            hint="the template and this mobilekit version do not match; reinstall mobilekit")
    files = tuple(TemplateFile(e["source"], e["output"], frozenset(e.get("tasks", ())), frozenset(e.get("models", ())))
                  for e in data["files"])
    return TemplateManifest(platform, root, sha256_code(root)[:16], data["description"], dict(data["paths"]), dict(data["assets"]),
                            files, {k: frozenset(v) for k, v in data["reserved_names"].items()}, dict(data["settings"]))


def _problems(platform: str, root: Path, data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["the top level is not an object"]
    problems = [f"missing key {k!r}" for k in KEYS if k not in data]
    if data.get("platform") not in (None, platform):
        problems.append(f"platform is {data.get('platform')!r}, expected {platform!r}")
    problems += [f"missing paths.{k}" for k in REQUIRED_PATHS.get(platform, ()) if k not in data.get("paths", {})]
    for entry in data.get("files", []):
        if not isinstance(entry, dict) or not {"source", "output"} <= set(entry):
            problems.append(f"file entry {entry!r} needs source and output")
            continue
        if not (root / entry["source"]).is_file():
            problems.append(f"{entry['source']} is listed but does not exist")
        unknown = set(entry.get("tasks", ())) - TASKS
        if unknown:
            problems.append(f"{entry['source']}: unknown tasks {sorted(unknown)}")
        unknown = set(entry.get("models", ())) - MODELS
        if unknown:
            problems.append(f"{entry['source']}: unknown models {sorted(unknown)}")
    unknown = set(data.get("reserved_names", {})) - TASKS - {"*"}
    if unknown:
        problems.append(f"reserved_names has unknown keys {sorted(unknown)}")
    return problems


def write_files(manifest: TemplateManifest, context: dict[str, Any], root: Path, copy_source, environment) -> None:
    """Every file of ``manifest`` for ``context["task"]`` into ``root``: rendered by ``environment``,
    or copied through ``copy_source(path, output)`` (the platform's one-line rewrite)."""
    for entry in manifest.files_for(context["task"], "static" if context.get("static") else "runtime"):
        target = root / entry.output.format(**context)
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.rendered:
            text = environment.get_template(entry.source).render(**context)
        else:
            text = copy_source(manifest.root / entry.source, entry.output)
        target.write_text(text, encoding="utf-8", newline="\n")


def provenance_header(inputs, manifest: TemplateManifest) -> dict[str, Any]:
    """The part of mobilekit-sdk.json every SDK of every platform has."""
    return {
        "generator": {"name": "mobilekit", "version": inputs.mobilekit_version},
        "template": {"name": manifest.platform, "version": manifest.version},
        "project": {"name": inputs.project_name, "version": inputs.version},
        "task": inputs.task,
    }
