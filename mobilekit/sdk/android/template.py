"""templates/android/template.json: the versioned description of the Android template.

Python never guesses a path inside the generated module: where the Kotlin sources, the assets and
the provenance file go, which files are rendered for which task, and which runtime dependencies
the library declares all come from this file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mobilekit.errors import SdkBuildError
from mobilekit.templating import TEMPLATES_ROOT

REQUIRED_KEYS = ("name", "version", "paths", "assets", "files", "generated_types", "dependencies", "gradle", "kotlinc")
REQUIRED_PATHS = ("kotlin_main", "kotlin_test", "assets_root", "asset_dir", "manifest", "consumer_rules", "res", "provenance")
REQUIRED_ASSETS = ("model", "vocab", "labels", "manifest")


@dataclass(frozen=True)
class AndroidTemplate:
    version: str
    paths: dict[str, str]
    assets: dict[str, str]
    files: list[dict[str, Any]]
    generated_types: frozenset[str]
    dependencies: dict[str, dict[str, str]]
    test_dependencies: dict[str, dict[str, str]]
    gradle: dict[str, Any]
    kotlinc: dict[str, str]
    llm_sources: tuple[str, ...] = ()  # real .kt files copied into language-model SDKs (package line rewritten)
    llm_test_sources: tuple[str, ...] = ()
    llm_generated_types: frozenset[str] = frozenset()

    def as_context(self) -> dict[str, Any]:
        return {
            "template_version": self.version,
            "paths": self.paths,
            "assets": self.assets,
            "dependencies": self.dependencies,
            "test_dependencies": self.test_dependencies,
            "gradle": self.gradle,
            "kotlinc": self.kotlinc,
        }


@lru_cache(maxsize=1)
def load_template() -> AndroidTemplate:
    path = TEMPLATES_ROOT / "android" / "template.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SdkBuildError(f"mobilekit's Android template description {path} cannot be read: {e}",
                            hint="reinstall mobilekit; templates/ ships with it") from e
    missing = [k for k in REQUIRED_KEYS if k not in data]
    missing += [f"paths.{k}" for k in REQUIRED_PATHS if k not in data.get("paths", {})]
    missing += [f"assets.{k}" for k in REQUIRED_ASSETS if k not in data.get("assets", {})]
    if missing:
        raise SdkBuildError(f"{path} lacks {', '.join(missing)}", hint="the template and this mobilekit version do not match")
    listed = [entry["template"] for entry in data["files"]] + data.get("llm_sources", []) + data.get("llm_test_sources", [])
    for name in listed:
        if not (TEMPLATES_ROOT / "android" / name).is_file():
            raise SdkBuildError(f"{path} lists {name}, which does not exist")
    return AndroidTemplate(
        version=str(data["version"]),
        paths=dict(data["paths"]),
        assets=dict(data["assets"]),
        files=list(data["files"]),
        generated_types=frozenset(data["generated_types"]),
        dependencies=dict(data["dependencies"]),
        test_dependencies=dict(data.get("test_dependencies", {})),
        gradle=dict(data["gradle"]),
        kotlinc=dict(data["kotlinc"]),
        llm_sources=tuple(data.get("llm_sources", ())),
        llm_test_sources=tuple(data.get("llm_test_sources", ())),
        llm_generated_types=frozenset(data.get("llm_generated_types", ())),
    )
