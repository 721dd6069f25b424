"""mobilekit.toml validation: every bad value is rejected with the key, the value and the fix."""

from __future__ import annotations

import pytest

from mobilekit.config import load_config
from mobilekit.config.names import kotlin_package_problem, swift_module_problem, type_name_problem
from mobilekit.errors import ConfigError


def test_minimal_config_gets_defaults_and_derived_names(project, tmp_path):
    config = load_config(project())
    assert config.model.path == (tmp_path / "model").resolve()
    assert config.model.sequence_length == 128
    # No data to calibrate on: full-int8 is left out of the default instead of failing.
    assert config.convert.tflite == ("float32", "float16", "dynamic-int8")
    assert config.android.package == "com.example.moviesentiment"
    assert config.android.class_name == "MovieSentimentClassifier"
    assert config.android.artifact_id == "movie-sentiment"
    assert config.ios.module == "MovieSentimentKit"
    assert config.build_dir == (tmp_path / "build").resolve()


@pytest.mark.parametrize(
    "sections, fragments",
    [
        ({"model": {"sequence_lenght": 64}}, ["unknown key model.sequence_lenght", "did you mean 'sequence_length'"]),
        ({"modle": {"x": 1}}, ["unknown section [modle]", "did you mean 'model'"]),
        ({"model": {"sequence_length": "64"}}, ["model.sequence_length", '"64"', "expected an integer"]),
        ({"model": {"sequence_length": 1}}, ["model.sequence_length = 1", "at least 2"]),
        ({"model": {"sequence_length": 100000}}, ["at most 4096"]),
        ({"model": {"task": "classify"}}, ["model.task", "'text-classification'"]),
        ({"model": {"path": "nowhere"}}, ["model.path", "no folder at"]),
        ({"model": {"normalize": "yes"}}, ["model.normalize", "true or false"]),
        ({"model": {"labels": ["a"]}}, ["at least two classes"]),
        ({"model": {"labels": ["a", "a"]}}, ["must not repeat"]),
        ({"model": {"labels": ["a", 3]}}, ["every item must be a string"]),
        ({"convert": {"tflite": ["float32", "int3"]}}, ["'int3' is not one of"]),
        ({"convert": {"tflite": ["float32", "int4"]}}, ["'int4'", "not available for text-classification", "valid here"]),
        ({"convert": {"coreml": ["int4"]}}, ["convert.coreml", "'int4'"]),
        ({"convert": {"tflite": ["full-int8"]}}, ["full-int8", "calibration text"]),
        ({"convert": {"tflite": ["dynamic-int8-int4emb"], "tflite_route": "onnx2tf"}},
         ["'dynamic-int8-int4emb'", "only the litert-torch route", 'tflite_route = "litert-torch"']),
        ({"data": {"path": "missing.csv"}}, ["data.path", "no file at"]),
        ({"data": {"test_fraction": 0.7}}, ["at most 0.5"]),
        ({"finetune": {"enabled": True}}, ["finetune.enabled = true needs labelled data"]),
        ({"android": {"package": "com.example.class"}}, ["android.package", "Kotlin keyword"]),
        ({"android": {"package": "com.example.int"}}, ["Java reserved word"]),
        ({"android": {"package": "sentiment"}}, ["at least two segments"]),
        ({"android": {"package": "com.1example"}}, ["not an identifier"]),
        ({"android": {"class_name": "object"}}, ["android.class_name", "upper-case"]),
        ({"android": {"class_name": "Self"}}, ["reserved word"]),
        ({"android": {"min_sdk": 19}}, ["android.min_sdk", "at least 23"]),
        ({"ios": {"module": "Foundation"}}, ["ios.module", "system module"]),
        ({"ios": {"module": "My Kit"}}, ["ios.module"]),
        ({"ios": {"module": "Sentiment", "class_name": "Sentiment"}}, ["both 'Sentiment'"]),
        ({"project": {"name": 5}}, ["project.name", "expected a string"]),
    ],
)
def test_bad_values_are_rejected_with_key_value_and_fix(project, sections, fragments):
    with pytest.raises(ConfigError) as info:
        load_config(project(**sections))
    text = f"{info.value.message} {info.value.hint}"
    for fragment in fragments:
        assert fragment in text, text


def test_missing_required_key_names_it_and_shows_an_example(tmp_path):
    (tmp_path / "mobilekit.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert "missing required key model.path" in info.value.message
    assert "path =" in info.value.hint


def test_unparseable_names_derive_to_a_clear_error(project):
    with pytest.raises(ConfigError) as info:
        load_config(project(project={"name": "123 !!"}))
    assert "cannot derive" in info.value.message
    assert "set android." in info.value.hint or "set ios." in info.value.hint


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no config file"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "mobilekit.toml").write_text("[project\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path)
    (tmp_path / "mobilekit.toml").write_bytes(b'[project]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path)


def test_overrides_beat_the_file_and_are_validated(project):
    path = project(model={"sequence_length": 64})
    assert load_config(path, ["model.sequence_length=32"]).model.sequence_length == 32
    assert load_config(path, ["android.package=com.acme.reviews"]).android.package == "com.acme.reviews"
    assert load_config(path, ['convert.tflite=["float32"]']).convert.tflite == ("float32",)
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(path, ["sequence_length=32"])
    with pytest.raises(ConfigError, match="at least 2"):
        load_config(path, ["model.sequence_length=0"])


def test_config_is_frozen(project):
    config = load_config(project())
    with pytest.raises(Exception):
        config.model.sequence_length = 3  # type: ignore[misc]


@pytest.mark.parametrize("name", ["com.example.app", "io.github.a_b.c2", "org.acme.Reviews"])
def test_valid_packages(name):
    assert kotlin_package_problem(name) is None


@pytest.mark.parametrize("name", ["com..x", ".com.x", "com.x.", "com.fun", "com.when", "com.final", "com.x-y", "com.ü", ""])
def test_invalid_packages(name):
    assert kotlin_package_problem(name) is not None


@pytest.mark.parametrize("name, ok", [("SentimentClassifier", True), ("sentiment", False), ("Any", False), ("Protocol1", True), ("Ärger", False)])
def test_type_names(name, ok):
    assert (type_name_problem(name) is None) == ok


@pytest.mark.parametrize("name, ok", [("SentimentKit", True), ("CoreML", False), ("Swift", False), ("actor", False), ("Kit2", True)])
def test_swift_modules(name, ok):
    assert (swift_module_problem(name) is None) == ok
