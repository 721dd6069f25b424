"""generate_android: the module's layout, assets and provenance; names it must refuse (no compiler needed)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from mobilekit.errors import ConfigError, ModelInputError, SdkBuildError
from mobilekit.sdk.added_tokens import added_tokens
from mobilekit.sdk.android.generator import REFERENCED_NAMES, generate_android
from mobilekit.sdk.android.template import load_template
from mobilekit.templating import TEMPLATES_ROOT
from tests.sdk_android.conftest import CORPUS, HOSTILE_PROJECT_NAME, sdk_inputs
from tests.sdk_ios.inputs import add_flagged_tokens
from tests.tiny_models import make_tiny_bert


@pytest.fixture(scope="module")
def inputs(tiny_models, placeholder_tflite):
    return sdk_inputs(tiny_models["uncased"], placeholder_tflite)


@pytest.fixture(scope="module")
def module(inputs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "android"
    generate_android(inputs, out)
    return out


def test_template_declares_its_version_and_files():
    template = load_template()
    assert re.fullmatch(r"[0-9a-f]{16}", template.version)  # the content hash of the template folder
    declared = {entry.source for entry in template.files if entry.rendered} | {"package/AndroidManifest.xml.j2", "package/pom.xml.j2",
                                                                              "partials/TokenizerSettings.kt.j2"}  # included by both wrappers
    on_disk = {p.relative_to(TEMPLATES_ROOT / "android").as_posix() for p in (TEMPLATES_ROOT / "android").rglob("*.j2")}
    assert declared == on_disk, "every template file is declared in template.json, and every declared one exists"


def test_module_layout(module, inputs):
    template = load_template()
    provenance = json.loads((module / "mobilekit-sdk.json").read_text())
    main = module / provenance["paths"]["kotlin_main"]
    assert provenance["paths"]["kotlin_main"] == "src/main/kotlin/com/example/sentiment"
    assert {p.name for p in main.iterdir()} == {
        "SentimentClassifier.kt", "Label.kt", "ModelException.kt", "WordPieceTokenizer.kt", "BertUnicode.kt",
        "PostProcessing.kt", "TfliteModel.kt", "ModelAssets.kt", "LengthBuckets.kt"}
    assert {p.name for p in (module / provenance["paths"]["kotlin_test"]).iterdir()} == {
        "TokenizerGoldenTest.kt", "AddedTokenTest.kt", "PostProcessingGoldenTest.kt", "ConstantsTest.kt", "TestAssets.kt",
        "LengthBucketTest.kt"}
    for name in ("build.gradle.kts", "settings.gradle.kts", "consumer-rules.pro", "src/main/AndroidManifest.xml", "README.md"):
        assert (module / name).is_file(), name
    assert provenance["template"] == {"name": "android", "version": template.version}
    assert provenance["model"]["source_sha256"] == inputs.model_sha256
    fuzz = (module / provenance["paths"]["test_resources"] / "tokenizer_fuzz.txt").read_text().splitlines()
    assert int(fuzz[0].split()[2]) == len(fuzz) - 1 >= 10_000
    assert provenance["goldens"] == {"tokenization": len(CORPUS), "outputs": len(inputs.output_goldens), "buckets": 0,
                                     "fuzz": len(fuzz) - 1}
    assert provenance["model"]["length_buckets"] == [16]  # one bucket: the sequence length
    tests = module / provenance["paths"]["kotlin_test"] / "TokenizerGoldenTest.kt"
    assert tests.read_text().count("@Test") == len(CORPUS) + 1  # + the fuzz corpus


def test_assets(module, inputs):
    assets = module / "src/main/assets/mobilekit/com.example.sentiment"
    assert (assets / "model.tflite").read_bytes() == Path(inputs.tflite_model).read_bytes()
    assert (assets / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1] == inputs.vocab
    assert json.loads((assets / "labels.json").read_text()) == inputs.labels
    manifest = json.loads((assets / "manifest.json").read_text())
    assert manifest["model_sha256"] == inputs.model_sha256
    assert manifest["sequence_length"] == inputs.sequence_length
    assert manifest["tokenizer"]["do_lower_case"] is True
    assert manifest["template_version"] == load_template().version


def test_gradle_module_declares_what_the_aar_declares(module):
    gradle = (module / "build.gradle.kts").read_text()
    assert 'namespace = "com.example.sentiment"' in gradle
    assert "minSdk = 23" in gradle
    assert 'implementation("com.google.ai.edge.litert:litert:1.4.1")' in gradle
    assert 'noCompress += "tflite"' in gradle
    assert "`maven-publish`" in gradle and 'version = "1.2.0"' in gradle
    assert "-keep class org.tensorflow.lite.** { *; }" in (module / "consumer-rules.pro").read_text()


def test_special_tokens_are_passed_to_the_kotlin_tokenizer(module, inputs):
    assert [(t["content"], t["flags"]) for t in added_tokens(inputs)] == [
        (token, []) for token in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    ]
    wrapper = (module / "src/main/kotlin/com/example/sentiment/SentimentClassifier.kt").read_text()
    for token in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"):
        assert f'AddedToken("{token}", id = {inputs.vocab.index(token)}),' in wrapper


def test_added_tokens_keep_their_options_ids_and_order(placeholder_tflite, tmp_path):
    model = add_flagged_tokens(make_tiny_bert(tmp_path / "model"))
    inputs = sdk_inputs(model, placeholder_tflite, texts=())
    vocab = inputs.vocab
    assert [(t["content"], t["id"], t["flags"]) for t in added_tokens(inputs)] == [
        ("[PAD]", 0, []), ("[UNK]", 1, []), ("[CLS]", 2, []), ("[SEP]", 3, []), ("[MASK]", 4, []),
        ("<x>", len(vocab) + 1, ["stripsLeft"]),  # special: tried before the others
        ("fun", vocab.index("fun"), ["stripsRight"]),
        ("movie", vocab.index("movie"), ["singleWord"]),
        ("plot", vocab.index("plot"), ["stripsLeft", "stripsRight", "normalized"]),
        ("Zap", len(vocab), ["normalized"]),  # not in vocab.txt: the id tokenizer.json gives it
    ]
    generate_android(inputs, tmp_path / "android")
    wrapper = (tmp_path / "android/src/main/kotlin/com/example/sentiment/SentimentClassifier.kt").read_text()
    plot = f'AddedToken("plot", id = {vocab.index("plot")}, stripsLeft = true, stripsRight = true, normalized = true),'
    assert plot in wrapper
    assert f'AddedToken("<x>", id = {len(vocab) + 1}, stripsLeft = true),' in wrapper
    # Without tokenizer.json: tokenizer_config.json's added_tokens_decoder (options default as in
    # tokenizers: a token that is not special is normalized)...
    (model / "tokenizer.json").unlink()
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["added_tokens_decoder"] = {
        "1": {"content": "[UNK]", "special": True, "normalized": False},
        str(len(vocab)): {"content": "zz", "single_word": True},
        "0": {"content": "[PAD]", "special": True, "normalized": False},
    }
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    assert [(t["content"], t["id"], t["flags"]) for t in added_tokens(inputs)] == [
        ("[PAD]", 0, []), ("[UNK]", 1, []), ("zz", len(vocab), ["singleWord", "normalized"])]
    # ... else the settings' special tokens and [MASK], matched as typed.
    del config["added_tokens_decoder"]
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    assert [(t["content"], t["flags"]) for t in added_tokens(inputs)] == [
        (token, []) for token in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    ]


def test_unusable_added_tokens_are_refused(inputs, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModelInputError, match="unreadable added_tokens"):
        added_tokens(replace(inputs, vocab_file=model / "vocab.txt"))
    (model / "tokenizer.json").write_text(json.dumps({"added_tokens": [{"content": "<new>", "special": True}]}))
    with pytest.raises(ModelInputError, match="'<new>' has no usable id"):
        added_tokens(replace(inputs, vocab_file=model / "vocab.txt"))


def test_refuses_a_used_folder(inputs, tmp_path):
    (tmp_path / "android").mkdir()
    (tmp_path / "android" / "keep.txt").write_text("mine")
    with pytest.raises(SdkBuildError, match="not empty"):
        generate_android(inputs, tmp_path / "android")
    assert (tmp_path / "android" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"android_class_name": "Context"}, "clashes with a type the generated code uses"),
        ({"android_class_name": "WordPieceTokenizer"}, "clashes with a type the generated library defines"),
        ({"android_class_name": "Label"}, "would shadow a standard type"),
        ({"android_class_name": "object"}, "UpperCamelCase"),
        ({"android_package": "com.example.fun"}, "Kotlin keyword"),
        ({"android_package": "com.example.int"}, "Java reserved word"),
        ({"android_artifact_id": "my artifact"}, "may contain only"),
        ({"version": "1.0 beta"}, "cannot be a Maven version"),
        ({"version": "../../etc"}, "cannot be a Maven version"),
    ],
)
def test_rejects_names_that_cannot_work(inputs, tmp_path, change, message):
    with pytest.raises(ConfigError, match=message) as caught:
        generate_android(replace(inputs, **change), tmp_path / "android")
    assert next(iter(change)).removeprefix("android_") in caught.value.message or "version" in caught.value.message
    assert not (tmp_path / "android").exists()


def test_config_validation_rejects_keyword_names_up_front(tmp_path):
    """The same names are refused when mobilekit.toml is read, before anything is built."""
    from mobilekit.config.loader import build_config

    (tmp_path / "model").mkdir()
    raw = {"project": {"name": "x"}, "model": {"path": "model", "task": "text-classification"},
           "android": {"package": "com.when.app"}}
    with pytest.raises(ConfigError, match="when"):
        build_config(raw, root=tmp_path)


def test_rejects_inputs_the_template_cannot_serve(inputs, tmp_path):
    with pytest.raises(ModelInputError, match="line break"):
        generate_android(replace(inputs, vocab=inputs.vocab + ["bad\ntoken"]), tmp_path / "a")
    with pytest.raises(ModelInputError, match="labels"):
        generate_android(replace(inputs, labels=None), tmp_path / "b")
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(ModelInputError, match="empty"):
        generate_android(replace(inputs, tflite_model=empty), tmp_path / "c")


def _identifiers(kotlin: str) -> set[str]:
    """Capitalised identifiers in code, leaving out comments and string literals."""
    kotlin = re.sub(r"/\*.*?\*/", "", kotlin, flags=re.S)
    kotlin = re.sub(r"//[^\n]*", "", kotlin)
    kotlin = re.sub(r'"(?:\\.|[^"\\])*"', '""', kotlin)
    kotlin = re.sub(r"'(?:\\.|[^'\\])'", "''", kotlin)
    return set(re.findall(r"(?<![.\w])[A-Z][A-Za-z0-9_]*\b", kotlin))  # not after a dot: Normalizer.Form is qualified


def test_every_unqualified_name_the_sources_use_is_reserved(module, tiny_models, placeholder_tflite, tmp_path):
    """A class_name equal to any type the generated code names would shadow it: all are in the lists."""
    embedder = tmp_path / "embedder"
    generate_android(sdk_inputs(tiny_models["embedder"], placeholder_tflite, task="sentence-embedding",
                                class_name="TextEmbedder"), embedder)
    used = set()
    for root in (module, embedder):
        for source in root.rglob("*.kt"):
            used |= _identifiers(source.read_text(encoding="utf-8"))
    constants = {name for name in used if re.fullmatch(r"[A-Z][A-Z0-9_]*", name)}  # SEQUENCE_LENGTH, FLOAT32, NFD...
    unlisted = used - constants - REFERENCED_NAMES - load_template().reserved_for("text-classification") - {"SentimentClassifier", "TextEmbedder"}
    assert not unlisted, f"add to REFERENCED_NAMES or generated_types: {sorted(unlisted)}"


def test_hostile_project_name_reaches_pom_kdoc_and_gradle_intact(inputs, tmp_path):
    import xml.etree.ElementTree as ET

    from mobilekit.sdk.android.packager import read_module, render_pom

    name = HOSTILE_PROJECT_NAME
    module = tmp_path / "android"
    generate_android(replace(inputs, project_name=name), module)
    pom = ET.fromstring(render_pom(read_module(module)))
    assert pom.findtext("{http://maven.apache.org/POM/4.0.0}name") == name
    wrapper = (module / "src/main/kotlin/com/example/sentiment/SentimentClassifier.kt").read_text()
    kdoc = wrapper[wrapper.index("/**"):wrapper.index("*/", wrapper.index("/**"))]
    assert "@throws" in kdoc, "the name's */ must not close the KDoc early"
    with pytest.raises(ConfigError, match="project.name"):
        generate_android(replace(inputs, project_name="bad\x00name"), tmp_path / "nul")


def test_every_problem_is_reported_at_once(inputs, tmp_path):
    bad = replace(inputs, android_package="com.example.1bad", android_class_name="String", version="1 0", vocab=[])
    with pytest.raises(ConfigError) as caught:
        generate_android(bad, tmp_path / "out")
    message = caught.value.message
    for part in ("android.package", "android.class_name", "project.version", "special tokens"):
        assert part in message, message
    assert not (tmp_path / "out").exists()
