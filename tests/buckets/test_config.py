"""model.length_buckets: the bucket rules (mobilekit.buckets) and the config checks."""

from __future__ import annotations

import pytest

from mobilekit import buckets
from mobilekit.config import load_config
from mobilekit.errors import ConfigError


def test_default_is_one_bucket_as_before(project):
    config = load_config(project())
    assert config.model.length_buckets is None


@pytest.mark.parametrize("value", [[16, 32, 64, 128], [128], [2, 128], "auto"])
def test_valid_values(project, tmp_path, value):
    (tmp_path / "texts.txt").write_text("a b c\n")
    config = load_config(project(model={"length_buckets": value}, verify={"texts_path": "texts.txt"}))
    assert config.model.length_buckets == (value if isinstance(value, str) else tuple(value))


@pytest.mark.parametrize(
    "sections, fragments",
    [
        ({"model": {"length_buckets": "some"}}, ["model.length_buckets", "a list of integers or \"auto\""]),
        ({"model": {"length_buckets": [16, "32", 128]}}, ["a list of integers"]),
        ({"model": {"length_buckets": []}}, ["length_buckets = []", "empty"]),
        ({"model": {"length_buckets": [1, 128]}}, ["1 is below 2"]),
        ({"model": {"length_buckets": [32, 16, 128]}}, ["strictly ascending"]),
        ({"model": {"length_buckets": [16, 16, 128]}}, ["strictly ascending"]),
        ({"model": {"length_buckets": [16, 64]}}, ["largest bucket must equal model.sequence_length (128)"]),
        ({"model": {"length_buckets": [16, 256]}}, ["256 is above model.sequence_length (128)"]),
        ({"model": {"length_buckets": "auto"}}, ['"auto" needs task text']),
        ({"model": {"length_buckets": [16, 128]}, "convert": {"tflite_route": "onnx2tf"}},
         ['needs convert.tflite_route = "litert-torch"']),
    ],
)
def test_bad_values_name_the_key_and_the_fix(project, sections, fragments):
    with pytest.raises(ConfigError) as info:
        load_config(project(**sections))
    text = info.value.message + " " + (info.value.hint or "")
    for fragment in fragments:
        assert fragment in text, text


def test_one_bucket_is_fine_on_onnx2tf(project):
    config = load_config(project(model={"length_buckets": [128]}, convert={"tflite_route": "onnx2tf"}))
    assert config.model.length_buckets == (128,)


def test_text_generation_has_no_buckets(project):
    with pytest.raises(ConfigError, match="for encoders, not text-generation"):
        load_config(project(model={"task": "text-generation", "length_buckets": [16, 128]}))


def test_signature_names_keep_serving_default_for_the_largest():
    assert buckets.signatures([16, 32, 128]) == {128: "serving_default", 32: "seq_32", 16: "seq_16"}
    assert list(buckets.signatures([16, 32, 128])) == [128, 32, 16]
    assert buckets.signatures([64]) == {64: "serving_default"}
    with pytest.raises(ValueError):
        buckets.signature_name(20, [16, 32])


@pytest.mark.parametrize("count, expected", [(1, 16), (16, 16), (17, 32), (32, 32), (33, 128), (128, 128), (500, 128)])
def test_bucket_for_is_the_smallest_that_holds_the_text(count, expected):
    assert buckets.bucket_for(count, (16, 32, 128)) == expected


def test_auto_covers_the_percentiles_with_powers_of_two():
    short = [10] * 50 + [14] * 40 + [20] * 9 + [40]  # p50 10, p90 14, p99 20
    assert buckets.auto_buckets(short, 128) == (16, 32, 128)
    assert buckets.auto_buckets([120] * 10, 128) == (128,)
    assert buckets.auto_buckets([5, 6, 7], 100) == (16, 100)
    assert buckets.auto_buckets([5, 6, 7], 12) == (12,)
    assert buckets.auto_buckets([], 128) == (128,)
    described = buckets.describe_choice(short, (16, 32, 128))
    assert described["percentiles"] == {"p50": 10, "p90": 14, "p99": 20}
    assert described["share_per_bucket"] == {"16": 0.9, "32": 0.09, "128": 0.01}


def test_core_ml_gets_the_buckets_unless_told_otherwise(project):
    from mobilekit.stages.convert import ConvertStage

    config = load_config(project(model={"length_buckets": [16, 128]}))
    assert config.convert.coreml_length_buckets is True
    assert ConvertStage().parameters(config)["coreml_length_buckets"] is True
    opted_out = load_config(project(model={"length_buckets": [16, 128]}, convert={"coreml_length_buckets": False}))
    assert ConvertStage().parameters(opted_out)["coreml_length_buckets"] is False
    assert "coreml_length_buckets" not in ConvertStage().parameters(load_config(project()))  # unset: as before


def test_core_ml_function_names():
    assert buckets.coreml_functions([16, 32, 128]) == {128: "seq_128", 32: "seq_32", 16: "seq_16"}
