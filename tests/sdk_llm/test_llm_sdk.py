"""`mobilekit build` of a tiny causal LM through generate and package: both SDKs, their own tests.

The generated JUnit suite (host JVM) and XCTest suite (Swift chroot) replay what Python recorded
from the very models they ship: tokenizer goldens on the seeded corpus, the chat template against
apply_chat_template, the sampler, and the generation loop's calls and tokens; plus hostile input.
One full build per session (~1-2 min on 2 cores), shared by the tests here.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_toml, toolchain_missing


def _project(root: Path, model: Path, **sections) -> Path:
    base = {
        "project": {"name": "Tiny chat", "version": "0.3.0"},
        "model": {"path": str(model), "task": "text-generation", "sequence_length": 32},
        "generation": {"context_length": 256, "prefill_lengths": [8, 32]},
        "convert": {"tflite": ["float32"], "coreml": ["float16"]},
        "verify": {"samples": 4, "greedy_prompts": 3, "greedy_tokens": 6},
        "bench": {"host": False, "emulator": False},
        "android": {"package": "com.example.tinychat", "class_name": "TinyChat"},
        "ios": {"module": "TinyChatKit", "class_name": "TinyChat"},
    }
    for section, table in sections.items():
        base.setdefault(section, {}).update(table)
    return write_toml(root / "mobilekit.toml", base)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tests.tiny_lm import make_tiny_lm, train_tiny_lm

    return train_tiny_lm(make_tiny_lm(tmp_path_factory.mktemp("tiny-chat") / "model", "llama"), steps=60)


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    from tests.sdk_llm.test_bpe_tokenizers import _kotlin_missing, _swift_missing

    missing = _kotlin_missing() or _swift_missing()
    if missing:
        toolchain_missing(missing)
    root = tmp_path_factory.mktemp("tiny-chat-project")
    config = _project(root, tiny_model)
    result = run_cli("build", "-c", str(config), "--json", timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    return {"root": root, "config": config, "build": root / "build", "summary": json.loads(result.stdout)}


def test_both_sdks_are_packaged_and_their_generated_tests_pass(built):
    package = built["build"] / "package"
    aar = package / "android" / "tiny-chat-0.3.0.aar"
    assert aar.is_file() and (package / "android" / "tiny-chat-0.3.0.pom").is_file()
    junit = json.loads((package / "android" / "junit-results.json").read_text())
    assert junit["summary"]["tests_failed"] == 0
    passed = {name.rsplit(".", 2)[-2] + "." + name.rsplit(".", 1)[-1] for name, state in junit["tests"].items() if state == "passed"}
    for test in ("TokenizerGoldenTest.encodeAndDecodeMatchHuggingFace", "LoopGoldenTest.loopMakesPythonsCallsAndPicksPythonsTokens",
                 "ChatPromptGoldenTest.promptsEqualApplyChatTemplate", "SamplerGoldenTest.samplerPicksPythonsTokens",
                 "LanguageModelTest.cancellingTheCollectorStopsWithinOneToken",
                 "LanguageModelTest.twoThreadsOnOneInstanceRunOneAfterTheOther"):
        assert test in passed, test
    assert (package / "ios" / "TinyChatKit-0.3.0.zip").is_file()
    stages = {s["stage"]: s for s in built["summary"]["stages"]}
    ios = stages["package"]["metrics"]["ios"]
    assert ios["tests"] >= 10 and ios["test_failures"] == 0 and ios["lint_findings"] == 0


def test_the_goldens_cover_the_corpus_the_template_and_the_loop(built):
    resources = built["build"] / "generate" / "android" / "src" / "test" / "resources"
    corpus = (resources / "bpe_corpus.txt").read_text().splitlines()
    assert int(corpus[0].split()[2]) >= 10_000
    loop = (resources / "loop_goldens.txt").read_text()
    for case in ("greedy_chat", "seeded_raw", "stop_string", "session", "context_full", "hostile_prompts"):
        assert f"case {case} " in loop
    assert "expect !empty_prompt" in loop and "expect !prompt_too_long" in loop
    assert "expect stop_string " in loop and "expect context_full " in loop
    # The session's second turn reused the first turn's cache.
    session = loop.split("case session ")[1].split("\ncase ")[0]
    second_expect = [line for line in session.splitlines() if line.startswith("expect ")][1]
    assert int(second_expect.split()[-1]) > 0
    ios_goldens = built["build"] / "generate" / "ios" / "Tests" / "TinyChatKitTests" / "Goldens"
    assert (ios_goldens / "loop_goldens.txt").read_text() == loop


def test_the_aar_ships_runtime_and_assets_but_no_tests_or_goldens(built):
    aar = built["build"] / "package" / "android" / "tiny-chat-0.3.0.aar"
    with zipfile.ZipFile(aar) as archive:
        names = archive.namelist()
        assert "assets/mobilekit/com.example.tinychat/model.tflite" in names
        assert "assets/mobilekit/com.example.tinychat/tokenizer.mkbpe" in names
        assert archive.getinfo("assets/mobilekit/com.example.tinychat/model.tflite").compress_type == zipfile.ZIP_STORED
        assert not [n for n in names if "golden" in n.lower()]
        import io

        with zipfile.ZipFile(io.BytesIO(archive.read("classes.jar"))) as jar:
            classes = set(jar.namelist())
    for name in ("TinyChat", "LanguageModel", "ChatSession", "GenerationEngine", "TfliteLanguageModelBackend", "ByteLevelBpeTokenizer"):
        assert f"com/example/tinychat/{name}.class" in classes, name
    assert not [c for c in classes if "Test" in c or "Golden" in c]
    manifest = json.loads((built["build"] / "generate" / "android" / "src" / "main" / "assets" / "mobilekit"
                           / "com.example.tinychat" / "manifest.json").read_text())
    assert manifest["decoder"]["signatures"] == ["prefill_8", "prefill_32", "decode"]
    assert manifest["chat_template"]["kind"] == "chatml"


def test_a_rerun_is_cached(built):
    again = run_cli("build", "-c", str(built["config"]), "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    outcomes = {s["stage"]: s["outcome"] for s in json.loads(again.stdout)["stages"]}
    assert outcomes["generate"] == outcomes["package"] == "cached", outcomes


def test_a_class_name_the_runtime_defines_is_a_config_error_and_keeps_the_built_sdk(built, tiny_model):
    # Same folder, same build/: export, convert and verify are cached; only generate runs, and fails.
    config = _project(built["root"], tiny_model, android={"class_name": "LanguageModel"})
    try:
        result = run_cli("build", "-c", str(config), "--to", "generate")
        assert result.returncode == 3, result.stderr[-2000:]
        assert "LanguageModel" in result.stderr and "clashes" in result.stderr
        assert (built["build"] / "generate" / "android" / "mobilekit-sdk.json").is_file()
        assert (built["build"] / "package" / "android" / "tiny-chat-0.3.0.aar").is_file()
    finally:
        _project(built["root"], tiny_model)


def test_an_unknown_chat_template_names_the_supported_shapes(tiny_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    (model / "chat_template.jinja").write_text("{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}")
    config = _project(tmp_path, model, convert={"coreml": []}, ios={"enabled": False})
    result = run_cli("build", "-c", str(config), "--to", "generate", timeout=900)
    assert result.returncode == 4, result.stderr[-2000:]
    assert "chatml" in result.stderr and "gemma" in result.stderr
    assert not (tmp_path / "build" / "generate" / "android").exists()
