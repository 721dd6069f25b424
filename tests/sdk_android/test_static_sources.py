"""The encoder SDK's real Kotlin sources compile as themselves, before any generated code joins
them: the tokenizer, its Unicode tables, the TFLite runner and the exceptions (against API 23 and
the LiteRT declaration, exactly as the packager compiles a module)."""

from __future__ import annotations

import pytest

from mobilekit.sdk.template_manifest import load_manifest
from tests.conftest import toolchain_missing

pytestmark = pytest.mark.slow


def test_the_real_kotlin_sources_compile_on_their_own(tmp_path):
    from mobilekit.errors import ToolMissingError
    from mobilekit.llm.sdk_sources import KOTLIN_PACKAGE, kotlin_source
    from mobilekit.sdk.android.packager import Toolchain, compile_main

    try:
        toolchain = Toolchain.find(tests=False)
    except ToolMissingError as e:
        toolchain_missing(f"Android toolchain missing: {e.message}")
    manifest = load_manifest("android")
    sources = [f for f in manifest.files_for("sentence-embedding") if not f.rendered and f.output.startswith("{kotlin_main}")]
    assert {f.source for f in sources} >= {"kotlin/WordPieceTokenizer.kt", "kotlin/BertUnicode.kt", "kotlin/TfliteModel.kt"}
    folder = tmp_path / "src"
    folder.mkdir()
    for entry in sources:
        path = manifest.root / entry.source
        (folder / path.name).write_text(kotlin_source(path, KOTLIN_PACKAGE), encoding="utf-8")
    compile_main(toolchain, [folder], tmp_path / "classes", module_name="static", kotlinc=manifest.settings["kotlinc"])
    assert list((tmp_path / "classes").rglob("WordPieceTokenizer*.class"))
