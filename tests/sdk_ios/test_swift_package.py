"""The generated Swift package, built and tested for real in the Swift 6 toolchain (chroot).

Two packages cover the ground with the fewest builds (each ~1 min cold, seconds when the work
folders in $MOBILEKIT_HOME/swift/work are warm):

* HostileKit: uncased vocabulary with added tokens of every kind (single word, strip left/right,
  normalized, outside the vocabulary), text classification with hostile labels, no Core ML model;
* CasedKit: cased vocabulary, sentence embedding, a (fake) .mlpackage bundled as a resource.

Each runs `swift build`, `swift test` (tokenizer goldens for its vocabulary, typed special and added
tokens included, post-processing goldens, labels byte for byte, clear errors), `swift-format lint
--strict` and the Core ML type-check build, through `package_ios(run_tests=True)`.
"""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from mobilekit.errors import SdkBuildError
from mobilekit.sdk.ios.generator import generate_ios
from mobilekit.sdk.ios.packager import package_ios
from tests.sdk_ios.inputs import HOSTILE_LABELS, add_flagged_tokens, fake_mlpackage, make_inputs
from tests.tiny_models import make_tiny_bert

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    root = tmp_path_factory.mktemp("ios-packages")
    uncased = add_flagged_tokens(make_tiny_bert(root / "uncased", labels=HOSTILE_LABELS, num_labels=len(HOSTILE_LABELS)))
    cased = make_tiny_bert(root / "cased", task="sentence-embedding", cased=True, seed=3)
    generate_ios(make_inputs(uncased, task="text-classification", module="HostileKit", class_name="HostileClassifier"),
                 root / "HostileKit")
    generate_ios(make_inputs(cased, task="sentence-embedding", module="CasedKit", class_name="CasedEmbedder",
                             coreml_model=fake_mlpackage(root / "Model.mlpackage")),
                 root / "CasedKit")
    return root


@pytest.fixture(scope="module")
def tested(packages):
    return {name: package_ios(packages / name, packages / "out" / name, run_tests=True) for name in ("HostileKit", "CasedKit")}


@pytest.mark.parametrize("name", ["HostileKit", "CasedKit"])
def test_the_package_builds_its_tests_pass_lint_is_clean_and_core_ml_type_checks(tested, name):
    metrics = tested[name].metrics
    assert metrics["tests"] >= 9 and metrics["test_failures"] == 0
    assert metrics["lint_findings"] == 0
    for key in ("build_seconds", "test_seconds", "coreml_check_seconds"):
        assert metrics[key] >= 0
    print(name, json.dumps(metrics))


def test_the_zip_is_deterministic_and_holds_exactly_the_package(packages, tested, tmp_path):
    first = package_ios(packages / "CasedKit", tmp_path / "one", run_tests=False)
    second = package_ios(packages / "CasedKit", tmp_path / "two", run_tests=False)
    assert first.files["zip"].read_bytes() == second.files["zip"].read_bytes()
    assert first.metrics["zip_sha256"] == second.metrics["zip_sha256"] == tested["CasedKit"].metrics["zip_sha256"]
    with zipfile.ZipFile(first.files["zip"]) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert all(n.startswith("CasedKit/") for n in names)
        assert not any("/.build/" in n for n in names)
        assert "CasedKit/Sources/CasedKit/Resources/Model.mlpackage/Manifest.json" in names
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert first.files["zip"].name == "CasedKit-1.2.3.zip"


def test_a_wrong_golden_fails_the_swift_tests(packages, tested, tmp_path):
    broken = tmp_path / "HostileKit"
    shutil.copytree(packages / "HostileKit", broken, ignore=shutil.ignore_patterns(".build"))
    goldens_file = broken / "Tests/HostileKitTests/Goldens/goldens.json"
    goldens = json.loads(goldens_file.read_text())
    goldens["tokenization"][2]["inputIds"][1] += 1  # "Hello, World! ...": one id off
    goldens_file.write_text(json.dumps(goldens))
    with pytest.raises(SdkBuildError, match="swift test"):
        package_ios(broken, tmp_path / "out", run_tests=True)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_core_ml_check_catches_a_wrong_core_ml_call(packages, tested, tmp_path):
    broken = tmp_path / "HostileKit"
    shutil.copytree(packages / "HostileKit", broken, ignore=shutil.ignore_patterns(".build"))
    backend = broken / "Sources/HostileKit/ModelBackend.swift"
    text = backend.read_text()
    assert "model.prediction(from:" in text
    backend.write_text(text.replace("model.prediction(from:", "model.predictions(from:"))
    with pytest.raises(SdkBuildError, match="Core ML type-check") as caught:
        package_ios(broken, tmp_path / "out", run_tests=True)  # swift build/test pass: Linux skips that code
    assert "predictions" in str(caught.value)
