"""templates/android/template.json, read through the one template manifest loader.

Python never guesses a path inside the generated module: where the Kotlin sources, the assets and
the provenance file go, which files are rendered or copied for which task, and which runtime
dependencies the library declares all come from this file.
"""

from __future__ import annotations

from typing import Any

from mobilekit.sdk.template_manifest import TemplateManifest, load_manifest


def load_template() -> TemplateManifest:
    return load_manifest("android")


def template_facts(template: TemplateManifest) -> dict[str, Any]:
    """What the Android templates read from the manifest itself."""
    return {"template_version": template.version, "paths": template.paths, "assets": template.assets, **template.settings}
