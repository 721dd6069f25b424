"""The SDK's real Kotlin sources (copied into every module as they are) pass ktlint.

Settings: mobilekit/templates/android/.editorconfig (intellij_idea style, 140 columns). Rendered
.j2 templates are not linted here; their output is compiled with warnings as errors instead.
"""

from __future__ import annotations

import pytest

from mobilekit.sdk.template_manifest import load_manifest
from mobilekit.toolchains.process import ProcessFailed, run
from mobilekit.toolchains.tools import tool
from tests.conftest import toolchain_missing

pytestmark = pytest.mark.slow


def test_the_real_kotlin_sources_pass_ktlint():
    status = tool("ktlint").status()
    if not status.found:
        toolchain_missing(f"ktlint is not installed ({status.install})")
    manifest = load_manifest("android")
    sources = sorted({f.source for f in manifest.files if f.source.endswith(".kt")})
    assert len(sources) >= 15, sources
    try:
        run([status.location, "--relative", *sources], cwd=manifest.root, timeout=600)
    except ProcessFailed as e:
        pytest.fail(f"ktlint found problems (fix them, or run `ktlint --format` in {manifest.root}):\n{e.output[-4000:]}")
