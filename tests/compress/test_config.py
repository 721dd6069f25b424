"""The [finetune] and [distill] keys this feature added are validated like every other key."""

from __future__ import annotations

import pytest

from mobilekit.config import load_config
from mobilekit.errors import ConfigError


def test_defaults_are_cpu_friendly_and_documented(project, tmp_path):
    (tmp_path / "d.csv").write_text("text,label\ngood,1\n")
    config = load_config(project(data={"path": "d.csv"}))
    d = config.distill
    assert (d.layers, d.hidden_size, d.hidden_weight, d.attention_weight, d.trim_vocabulary, d.trim_min_count) == (None, None, 0.0, 0.0, False, 1)
    assert config.finetune.max_train_samples is None and d.max_train_samples is None


@pytest.mark.parametrize(
    "sections, message",
    [
        ({"distill": {"trim_min_count": 0}}, "distill.trim_min_count = 0 is invalid: must be at least 1"),
        ({"distill": {"hidden_weight": -1}}, "distill.hidden_weight = -1 is invalid: must be at least 0.0"),
        ({"finetune": {"max_train_samples": 0}}, "finetune.max_train_samples = 0 is invalid: must be at least 1"),
        ({"model": {"task": "sentence-embedding"}, "distill": {"enabled": True, "hidden_size": 128}},
         "distill.hidden_size = 128 is only supported for text-classification"),
        ({"distill": {"heads": 0}}, "distill.heads = 0 is invalid: must be at least 1"),
        ({"model": {"task": "text-generation"}, "distill": {"enabled": True, "heads": 2}},
         "distill.heads is not supported for text-generation"),
    ],
)
def test_bad_values_name_the_key(project, tmp_path, sections, message):
    (tmp_path / "d.csv").write_text("text,label\ngood,1\n")
    sections = {**sections, "data": {"path": "d.csv"}}
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(project(**sections))
