"""The encoder package's real Swift sources build and lint as themselves, before any generated
code joins them: the WordPiece tokenizer and its Unicode tables (Swift 6 toolchain, warnings as
errors, strict concurrency, swift-format lint as the packager runs it)."""

from __future__ import annotations

import shutil

import pytest

from mobilekit.sdk.template_manifest import load_manifest
from tests.conftest import toolchain_missing

pytestmark = pytest.mark.slow

PACKAGE_SWIFT = """// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "EncoderRuntime",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [.library(name: "EncoderRuntime", targets: ["EncoderRuntime"])],
    targets: [.target(name: "EncoderRuntime")]
)
"""
SWIFT_FORMAT = '{"version": 1, "indentation": {"spaces": 4}, "lineLength": 120, "maximumBlankLines": 1, ' \
               '"respectsExistingLineBreaks": true, "lineBreakBeforeEachArgument": false}\n'


def test_the_real_swift_sources_build_and_lint_on_their_own(tmp_path):
    from mobilekit.sdk.ios.packager import SWIFT_FLAGS, swift_run_script, sync_tree
    from mobilekit.toolchains.process import ProcessFailed, run
    from mobilekit.toolchains.tools import mobilekit_home, tool

    if not tool("swift (trixie chroot)").status().found:
        toolchain_missing("the Swift chroot is not installed (bash setup/install.sh swift)")
    manifest = load_manifest("ios")
    sources = [f for f in manifest.files_for("sentence-embedding") if not f.rendered and f.output.startswith("Sources/")]
    assert {f.source.rsplit("/", 1)[-1] for f in sources} >= {"WordPieceTokenizer.swift", "BertUnicode.swift"}
    package = tmp_path / "EncoderRuntime"
    target = package / "Sources" / "EncoderRuntime"
    target.mkdir(parents=True)
    (package / "Package.swift").write_text(PACKAGE_SWIFT)
    (package / ".swift-format").write_text(SWIFT_FORMAT)
    for entry in sources:
        shutil.copyfile(manifest.root / entry.source, target / entry.source.rsplit("/", 1)[-1])
    work = mobilekit_home() / "swift" / "work" / "mobilekit-encoder-runtime"
    work.mkdir(parents=True, exist_ok=True)
    sync_tree(package, work)
    script = "swift build " + " ".join(SWIFT_FLAGS) + " && swift-format lint --strict -r Sources && echo MOBILEKIT-CLEAN"
    try:
        output = run([str(swift_run_script()), str(work), "sh", "-c", script], timeout=1800)
    except ProcessFailed as e:
        pytest.fail(f"the Swift runtime sources do not build or lint on their own:\n{e.output[-4000:]}")
    assert "MOBILEKIT-CLEAN" in output
