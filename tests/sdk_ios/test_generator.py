"""generate_ios: the rendered package, its checks on names and inputs, determinism, no half-writes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mobilekit.config import load_config
from mobilekit.errors import ConfigError, SdkBuildError
from mobilekit.fsutil import sha256_tree
from mobilekit.sdk.golden import TOKENIZER_CORPUS
from mobilekit.sdk.added_tokens import added_tokens
from mobilekit.sdk.ios.generator import generate_ios, load_template
from tests.sdk_ios.inputs import ADDED_TOKEN_TEXTS, HOSTILE_LABELS, add_flagged_tokens, fake_mlpackage, make_inputs
from tests.tiny_models import make_tiny_bert


@pytest.fixture(scope="module")
def classifier_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ios-gen")
    model = make_tiny_bert(root / "model", labels=HOSTILE_LABELS, num_labels=len(HOSTILE_LABELS))
    return make_inputs(model, task="text-classification", module="HostileKit", class_name="HostileClassifier")


def test_the_package_layout_and_provenance(classifier_inputs, tmp_path):
    generate_ios(classifier_inputs, tmp_path / "ios")
    root = tmp_path / "ios"
    for path in ["Package.swift", ".swift-format", "README.md", "mobilekit-sdk.json",
                 "Sources/HostileKit/HostileClassifier.swift", "Sources/HostileKit/WordPieceTokenizer.swift",
                 "Sources/HostileKit/Resources/vocab.txt", "Sources/HostileKit/Resources/model_manifest.json",
                 "Tests/HostileKitTests/HostileKitTests.swift", "Tests/HostileKitTests/Goldens/goldens.json"]:
        assert (root / path).is_file(), path
    provenance = json.loads((root / "mobilekit-sdk.json").read_text())
    assert provenance["template"] == {"name": "ios", "version": load_template().version}
    assert provenance["module"] == "HostileKit" and provenance["coreml_variant"] is None
    vocab = (root / "Sources/HostileKit/Resources/vocab.txt").read_text(encoding="utf-8")
    assert vocab.split("\n")[:-1] == classifier_inputs.vocab
    goldens = json.loads((root / "Tests/HostileKitTests/Goldens/goldens.json").read_text())
    assert goldens["labels"] == HOSTILE_LABELS
    assert len(goldens["tokenization"]) == len(classifier_inputs.tokenization_goldens)
    assert len(goldens["tokenization"]) == len(TOKENIZER_CORPUS + ADDED_TOKEN_TEXTS)
    # Without a Core ML model: no model resource, and the wrapper says so at runtime.
    assert ".mlpackage" not in (root / "Package.swift").read_text()
    assert "static let modelResource: String? = nil" in (root / "Sources/HostileKit/ModelInfo.swift").read_text()


def test_generation_is_deterministic(classifier_inputs, tmp_path):
    generate_ios(classifier_inputs, tmp_path / "a")
    generate_ios(classifier_inputs, tmp_path / "b")
    assert sha256_tree(tmp_path / "a") == sha256_tree(tmp_path / "b")


def test_a_core_ml_model_is_copied_as_a_resource(classifier_inputs, tmp_path):
    model = fake_mlpackage(tmp_path / "Model.mlpackage")
    inputs = dataclasses.replace(classifier_inputs, coreml_model=model, coreml_variant="int8")
    generate_ios(inputs, tmp_path / "ios")
    root = tmp_path / "ios"
    assert '.copy("Resources/Model.mlpackage")' in (root / "Package.swift").read_text()
    assert sha256_tree(root / "Sources/HostileKit/Resources/Model.mlpackage") == sha256_tree(model)
    provenance = json.loads((root / "mobilekit-sdk.json").read_text())
    assert provenance["coreml_variant"] == "int8" and provenance["coreml_sha256"] == sha256_tree(model)


@pytest.mark.parametrize("variant,needs", [("int8", "iOS 16.0, macOS 13.0"), ("int8-int4emb", "iOS 18.0, macOS 15.0")])
def test_the_model_code_is_available_where_the_variant_loads(classifier_inputs, tmp_path, variant, needs):
    """An int4 weight needs an iOS 18 program: the Swift code that loads it says so, as for buckets."""
    model = fake_mlpackage(tmp_path / "Model.mlpackage")
    generate_ios(dataclasses.replace(classifier_inputs, coreml_model=model, coreml_variant=variant), tmp_path / "ios")
    wrapper = (tmp_path / "ios" / "Sources/HostileKit/HostileClassifier.swift").read_text()
    assert f"@available({needs}, *)" in wrapper
    assert wrapper.count("@available(") == wrapper.count(f"@available({needs}, *)")


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(ios_class_name="WordPieceTokenizer"), "type the Swift package defines"),
        (dict(ios_class_name="Error"), "type the Swift package defines"),
        (dict(ios_class_name="AddedTokenMatcher"), "type the Swift package defines"),
        (dict(ios_class_name="Sendable"), "type the Swift package defines"),
        (dict(ios_class_name="Self"), "reserved word"),
        (dict(ios_module="protocol"), "ios.module"),
        (dict(ios_module="CoreML"), "system module"),
        (dict(labels=["same", "same"] + HOSTILE_LABELS[2:]), "not unique"),
        (dict(task="token-classification"), "task"),
    ],
)
def test_unusable_inputs_are_refused_without_leaving_files(classifier_inputs, tmp_path, change, message):
    with pytest.raises(SdkBuildError, match=message):
        generate_ios(dataclasses.replace(classifier_inputs, **change), tmp_path / "ios")
    assert list(tmp_path.iterdir()) == []


def test_special_tokens_are_passed_to_the_swift_tokenizer(classifier_inputs, tmp_path):
    generate_ios(classifier_inputs, tmp_path / "ios")
    model_info = (tmp_path / "ios/Sources/HostileKit/ModelInfo.swift").read_text()
    for token in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"):
        assert f'.init("{token}", id: {classifier_inputs.vocab.index(token)}),' in model_info


def test_added_tokens_with_options_reach_the_swift_settings(tmp_path):
    """The token list itself (order, ids, options, fallbacks) is shared with Android and tested in
    tests/sdk_android/test_generator.py; here: it is rendered into ModelInfo.swift."""
    model = add_flagged_tokens(make_tiny_bert(tmp_path / "model"))
    inputs = make_inputs(model, task="sentence-embedding", module="AddedKit", class_name="AddedEmbedder")
    vocab = inputs.vocab
    assert [t["content"] for t in added_tokens(inputs)][5:] == ["<x>", "fun", "movie", "plot", "Zap"]
    generate_ios(inputs, tmp_path / "ios")
    model_info = (tmp_path / "ios/Sources/AddedKit/ModelInfo.swift").read_text()
    assert f'.init("plot", id: {vocab.index("plot")}, stripsLeft: true, stripsRight: true, normalized: true),' in model_info
    assert f'.init("Zap", id: {len(vocab)}, normalized: true),' in model_info


def test_missing_special_token_is_refused(classifier_inputs, tmp_path):
    vocab = [t for t in classifier_inputs.vocab if t != "[UNK]"]
    with pytest.raises(SdkBuildError, match=r"special token '\[UNK\]'"):
        generate_ios(dataclasses.replace(classifier_inputs, vocab=vocab), tmp_path / "ios")


def test_an_existing_folder_is_not_overwritten(classifier_inputs, tmp_path):
    (tmp_path / "ios").mkdir()
    with pytest.raises(SdkBuildError, match="already exists"):
        generate_ios(classifier_inputs, tmp_path / "ios")


def test_a_failure_while_writing_leaves_nothing(classifier_inputs, tmp_path):
    broken = dataclasses.replace(classifier_inputs, coreml_model=tmp_path / "missing.mlpackage")
    with pytest.raises(SdkBuildError, match="not a Core ML package"):
        generate_ios(broken, tmp_path / "out" / "ios")
    assert not (tmp_path / "out" / "ios").exists()


@pytest.mark.parametrize(
    "ios, problem",
    [
        ({"module": "struct"}, "ios.module"),
        ({"module": "Self"}, "ios.module"),
        ({"module": "Foundation"}, "ios.module"),
        ({"class_name": "Any"}, "ios.class_name"),
        ({"class_name": "protocol"}, "ios.class_name"),
        ({"module": "My-Kit"}, "ios.module"),
    ],
)
def test_config_rejects_swift_keywords_and_bad_names(project, ios, problem):
    with pytest.raises(ConfigError, match=problem):
        load_config(project(ios=ios))
