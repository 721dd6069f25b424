"""The byte-level BPE tokenizers of the generation SDKs (Kotlin and Swift) give exactly the ids and
texts of the Hugging Face tokenizer, on a seeded corpus of >10,000 strings from all Unicode planes.

Tokenizers checked: the tiny one of tests/tiny_lm.py, its variants covering every supported shape
(bpe_variants.py), and the real SmolLM2-135M-Instruct when `bash setup/install.sh smollm2` has run.
One kotlinc run (tokenizer + the golden checker, against android.jar API 23) and one `swift build`
(release, in a work folder kept between runs) serve them all; the two run in parallel.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import shutil
import time
from pathlib import Path

import pytest

from mobilekit.errors import ModelInputError
from mobilekit.sdk import bpe_data, bpe_goldens
from mobilekit.toolchains.process import ProcessFailed, run, which
from mobilekit.toolchains.tools import android_jar_path, kotlinc_path, mobilekit_home, swift_chroot_path
from tests.sdk_llm.bpe_variants import FLAGGED_TEXTS, make_all
from tests.conftest import toolchain_missing

REPO = Path(__file__).resolve().parents[2]
SMOLLM2 = mobilekit_home() / "models" / "SmolLM2-135M-Instruct"
KOTLIN_SOURCES = [REPO / "mobilekit/templates/android/llm/ByteLevelBpeTokenizer.kt", REPO / "mobilekit/templates/android/llm_test/BpeGoldenCheck.kt"]
SWIFT_TOKENIZER = REPO / "mobilekit/templates/ios/llm/ByteLevelBPETokenizer.swift"
SWIFT_CHECKER = [REPO / "mobilekit/templates/ios/llm_test/BPEGoldenCheck.swift", REPO / "mobilekit/templates/ios/llm_test/BPEGoldens/main.swift"]
SWIFT_MODULE = "MobilekitLLM"  # the module name the llm_test sources import (rewritten when generating)
NAMES = ["tiny", "llama3", "qwen2", "digits", "gpt2split", "smollm2"]
COUNTS = ("encode", "encodeSpecial", "decode", "stream")

# Swift 6 language mode; the checker uses `@testable import`, hence -enable-testing in release.
SWIFT_MANIFEST = f"""// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "BPEGoldens",
    platforms: [.macOS(.v12)],
    targets: [
        .target(name: "{SWIFT_MODULE}"),
        .executableTarget(name: "BPEGoldens", dependencies: ["{SWIFT_MODULE}"]),
    ]
)
"""
# The generated packages' swift-format settings (mobilekit/sdk/ios/generator.py).
SWIFT_FORMAT = {"version": 1, "indentation": {"spaces": 4}, "lineLength": 120, "maximumBlankLines": 1,
                "respectsExistingLineBreaks": True, "lineBreakBeforeEachArgument": False,
                "indentConditionalCompilationBlocks": False}


# -- fixtures: goldens, then both languages in parallel ------------------------------------------------


@pytest.fixture(scope="module")
def goldens(tmp_path_factory):
    """corpus.txt, and per tokenizer its asset and goldens file, in one folder."""
    root = tmp_path_factory.mktemp("bpe-goldens")
    folders = make_all(root / "models")
    if (SMOLLM2 / "tokenizer.json").is_file():
        folders["smollm2"] = SMOLLM2
    data = root / "data"
    data.mkdir()
    corpus = bpe_goldens.build_corpus(0, extra_texts=FLAGGED_TEXTS)
    bpe_goldens.write_corpus(corpus, data / "corpus.txt")
    started = time.monotonic()
    for name, folder in folders.items():
        bpe_data.write_bpe_asset(folder, data / f"{name}.mkbpe")
        bpe_goldens.write_goldens(folder, corpus, data / f"{name}.goldens", name=name)
    print(f"goldens for {len(folders)} tokenizers, {len(corpus)} texts: {time.monotonic() - started:.1f} s")
    return {"dir": data, "names": list(folders), "corpus": corpus, "folders": folders}


def _golden_args(goldens: dict, prefix: str) -> list[str]:
    args = [f"{prefix}corpus.txt"]
    for name in goldens["names"]:
        args += [name, f"{prefix}{name}.mkbpe", f"{prefix}{name}.goldens"]
    return args


def _results(output: str) -> dict[str, dict]:
    """RESULT lines -> {name: {key: value}}."""
    results = {}
    for line in output.splitlines():
        if line.startswith("RESULT "):
            fields = dict(re.findall(r"(\w+)=(\S+)", line))
            results[fields["name"]] = {k: (v if k == "name" else int(v)) for k, v in fields.items()}
    return results


def _run_kotlin(goldens: dict, work: Path) -> dict:
    kotlinc, android_jar = kotlinc_path(), android_jar_path()
    stdlib = kotlinc.parents[1] / "lib" / "kotlin-stdlib.jar"
    classes = work / "classes"
    started = time.monotonic()
    run([kotlinc, "-J-XX:TieredStopAtLevel=1", "-no-jdk", "-no-reflect", "-jvm-target", "1.8", "-language-version", "2.0",
         "-api-version", "2.0", "-Xsuppress-version-warnings", "-classpath", android_jar, "-d", classes, *KOTLIN_SOURCES],
        timeout=900)
    compiled = time.monotonic()
    output = _run_allowing_mismatches(["java", "-XX:TieredStopAtLevel=1", "-cp", f"{classes}:{stdlib}",
                                       "mobilekit.generated.BpeGoldenCheck", *_golden_args(goldens, f"{goldens['dir']}/")])
    return {"results": _results(output), "output": output, "compile_s": compiled - started,
            "run_s": time.monotonic() - compiled}


def _run_allowing_mismatches(argv: list) -> str:
    """The checker exits 1 when something mismatches: its output says what, the tests assert on it."""
    try:
        return run(argv, timeout=900)
    except ProcessFailed as e:
        if e.returncode != 1 or "RESULT" not in e.output:
            raise
        return e.output


def _swift_package(goldens: dict) -> Path:
    """The package in a work folder kept between runs (SwiftPM rebuilds only what changed)."""
    from mobilekit.sdk.ios.packager import sync_tree

    source = goldens["dir"].parent / "swift-package"
    (source / "Sources" / SWIFT_MODULE).mkdir(parents=True)
    (source / "Sources" / "BPEGoldens").mkdir(parents=True)
    shutil.copy(SWIFT_TOKENIZER, source / "Sources" / SWIFT_MODULE)
    for path in SWIFT_CHECKER:
        shutil.copy(path, source / "Sources" / "BPEGoldens")
    (source / "Package.swift").write_text(SWIFT_MANIFEST, encoding="utf-8")
    (source / ".swift-format").write_text(json.dumps(SWIFT_FORMAT, indent=2), encoding="utf-8")
    shutil.copytree(goldens["dir"], source / "data")
    work = mobilekit_home() / "swift" / "work" / "bpe-llm-goldens"
    work.mkdir(parents=True, exist_ok=True)
    sync_tree(source, work)
    return work


def _run_swift(goldens: dict) -> dict:
    work = _swift_package(goldens)
    script = REPO / "mobilekit" / "setup" / "swift-run.sh"
    started = time.monotonic()
    build = run([script, work, "swift", "build", "-c", "release", "-Xswiftc", "-enable-testing",
                 "-Xswiftc", "-warnings-as-errors"], timeout=1800)
    built = time.monotonic()
    output = _run_allowing_mismatches([script, work, ".build/release/BPEGoldens", *_golden_args(goldens, "data/")])
    ran = time.monotonic()
    try:
        lint = run([script, work, "swift-format", "lint", "--strict", "-r", "Sources"], timeout=600)
    except ProcessFailed as e:
        lint = e.output
    return {"results": _results(output), "output": output, "build": build, "lint": lint.strip(),
            "build_s": built - started, "run_s": ran - built}


def _kotlin_missing() -> str | None:
    missing = [str(p) for p in (kotlinc_path(), android_jar_path()) if not p.exists()]
    if which("java") is None:
        missing.append("java")
    return f"Android toolchain missing: {missing} (bash setup/install.sh kotlin android)" if missing else None


def _swift_missing() -> str | None:
    import os

    if not (swift_chroot_path() / "usr" / "bin" / "swift").is_symlink():
        return "no Swift chroot (bash setup/install.sh swift)"
    return None if os.geteuid() == 0 else "the Swift chroot needs root"


@pytest.fixture(scope="module")
def runs(goldens, tmp_path_factory):
    """Kotlin and Swift checks started together; each test waits for the one it needs."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="bpe-goldens")
    work = tmp_path_factory.mktemp("bpe-kotlin")
    futures = {
        "kotlin": None if _kotlin_missing() else pool.submit(_run_kotlin, goldens, work),
        "swift": None if _swift_missing() else pool.submit(_run_swift, goldens),
    }
    yield futures
    pool.shutdown(wait=True)


def _outcome(runs: dict, language: str) -> dict:
    if runs[language] is None:
        toolchain_missing((_kotlin_missing() if language == "kotlin" else _swift_missing()) or "unavailable")
    return runs[language].result()


def _assert_no_mismatch(outcome: dict, name: str, goldens: dict) -> None:
    if name not in goldens["names"]:
        toolchain_missing(f"{name}: no tokenizer (SmolLM2 needs `bash setup/install.sh smollm2`)")
    result = outcome["results"].get(name)
    assert result, f"no RESULT line for {name}:\n{outcome['output'][-3000:]}"
    mismatches = [line for line in outcome["output"].splitlines() if line.startswith("MISMATCH")]
    assert {k: result[k] for k in COUNTS} == dict.fromkeys(COUNTS, 0), "\n".join(mismatches[:12])
    assert result["cases"] == len(goldens["corpus"]) > bpe_goldens.RANDOM_STRINGS
    assert result["decodeCases"] == bpe_goldens.DECODE_CASES
    print(f"{name}: {result}")


# -- the device tokenizers against the goldens ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_kotlin_tokenizer_matches_hugging_face(runs, goldens, name):
    outcome = _outcome(runs, "kotlin")
    _assert_no_mismatch(outcome, name, goldens)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_swift_tokenizer_matches_hugging_face(runs, goldens, name):
    outcome = _outcome(runs, "swift")
    _assert_no_mismatch(outcome, name, goldens)


@pytest.mark.slow
def test_build_times_and_swift_lint(runs):
    kotlin, swift = _outcome(runs, "kotlin"), _outcome(runs, "swift")
    assert swift["lint"] == "", swift["lint"]  # as strict as the generated packages' lint
    print(f"kotlinc {kotlin['compile_s']:.1f} s, Kotlin run {kotlin['run_s']:.1f} s; "
          f"swift build {swift['build_s']:.1f} s, Swift run {swift['run_s']:.1f} s")


# -- the Python side -------------------------------------------------------------------------------------


def test_the_corpus_is_seeded_large_and_valid():
    first = bpe_goldens.build_corpus(3, random_count=200)
    assert first == bpe_goldens.build_corpus(3, random_count=200)
    assert first != bpe_goldens.build_corpus(4, random_count=200)
    assert all(not 0xD800 <= ord(c) <= 0xDFFF for text in first for c in text)
    planes = {ord(c) >> 16 for text in bpe_goldens.build_corpus(0) for c in text}
    assert planes == set(range(17))  # characters from every plane
    for needle in ("👨‍👩‍👧‍👦", "🇫🇷", "👍🏽", "東京", "e\u0301", "\r\n", "\u00a0", "\u3000", "<|im_start|>", "'ll"):
        assert any(needle in text for text in first), needle


def test_the_asset_is_deterministic_and_describes_the_shape(tmp_path):
    folders = make_all(tmp_path)
    tiny, llama3 = bpe_data.read_bpe_tokenizer(folders["tiny"]), bpe_data.read_bpe_tokenizer(folders["llama3"])
    assert bpe_data.asset_bytes(tiny) == bpe_data.asset_bytes(tiny)
    assert tiny.steps == (bpe_data.STEP_REGEX_GPT2,) and not tiny.nfc and tiny.special_ids == [0, 1, 2]
    assert llama3.steps == (bpe_data.STEP_REGEX_LLAMA3,) and llama3.ignore_merges and llama3.prefix_ids == [0]
    qwen2 = bpe_data.read_bpe_tokenizer(folders["qwen2"])
    assert qwen2.nfc and {t.pattern for t in qwen2.added_tokens if t.normalized} >= {"café"}  # normalized form
    digits = bpe_data.read_bpe_tokenizer(folders["digits"])
    assert digits.steps == (bpe_data.STEP_DIGITS_ISOLATED, bpe_data.STEP_PREFIX_SPACE, bpe_data.STEP_REGEX_GPT2)


@pytest.mark.parametrize("change, part", [
    (lambda s: s["model"].update(type="WordPiece"), "model type 'WordPiece'"),
    (lambda s: s["model"].update(dropout=0.1), "dropout"),
    (lambda s: s.update(normalizer={"type": "Lowercase"}), "normalizer"),
    (lambda s: s.update(pre_tokenizer={"type": "Metaspace", "replacement": "▁"}), "pre_tokenizer"),
    (lambda s: s.update(pre_tokenizer={"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": r"\w+"}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "use_regex": False}]}), "Split pattern"),
    (lambda s: s.update(pre_tokenizer={"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": bpe_data.GPT2_PATTERN}, "behavior": "Removed", "invert": False},
        {"type": "ByteLevel", "use_regex": False}]}), "Split behavior"),
    (lambda s: s.update(decoder={"type": "Metaspace"}), "decoder"),
    (lambda s: s.update(post_processor={"type": "Unknown"}), "post_processor"),
])
def test_unsupported_shapes_are_clear_errors(tmp_path, change, part):
    folder = make_all(tmp_path)["tiny"]
    spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    change(spec)
    (folder / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(ModelInputError) as caught:
        bpe_data.read_bpe_tokenizer(folder)
    assert part in caught.value.message and "unsupported tokenizer" in caught.value.message
    assert "byte-level BPE" in caught.value.hint


@pytest.mark.slow
def test_measured_classes_and_why_not_unicodedata():
    """tokenizers' regex classes (Oniguruma, Unicode 16) are a superset of Python 3.11's (Unicode 14):
    tables from unicodedata would miss thousands of letters; white space is the same 25 characters."""
    import unicodedata

    runs = bpe_data.measure_classes(bpe_data.CLASS_LETTER | bpe_data.CLASS_NUMBER | bpe_data.CLASS_SPACE)
    bounds = [start for start, _ in runs] + [0x110000]
    measured = {bit: set() for bit in (bpe_data.CLASS_LETTER, bpe_data.CLASS_NUMBER, bpe_data.CLASS_SPACE)}
    for (start, bits), end in zip(runs, bounds[1:]):
        for bit in measured:
            if bits & bit:
                measured[bit].update(range(start, end))
    python_letters = {cp for cp in range(0x110000) if unicodedata.category(chr(cp)).startswith("L")}
    assert python_letters < measured[bpe_data.CLASS_LETTER]
    assert len(measured[bpe_data.CLASS_LETTER] - python_letters) > 1000  # e.g. U+1C89 (Unicode 16)
    assert 0x1C89 in measured[bpe_data.CLASS_LETTER]
    white_space = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
                   0x202F, 0x205F, 0x3000}
    assert measured[bpe_data.CLASS_SPACE] == white_space


@pytest.mark.slow
def test_nfc_tables_are_tokenizers_unicode_9_not_the_platforms():
    """nfc_tables() itself checks the tables against tokenizers' NFC on every code point; here: the
    marks and decompositions newer than Unicode 9, which every platform NFC knows, are left out."""
    classes, decompositions, compositions = bpe_data.nfc_tables()
    marks = dict(classes)
    assert marks[0x0301] == 230 and 0x1DFA not in marks and 0x0C3C not in marks and 0x16FF0 not in marks
    decomposed = dict(decompositions)
    assert decomposed[0x00E9] == (0x65, 0x301) and 0x11938 not in decomposed
    assert (0x65, 0x301, 0xE9) in compositions
