"""Causal LMs on 2 torchrun processes (gloo, CPU): LoRA fine-tuning and LM distillation train
the same weights as 1 process (the losses are token-weighted across ranks)."""

from __future__ import annotations

import json

import pytest

from mobilekit.config import load_config
from mobilekit.pipeline import Pipeline
from tests.conftest import write_toml
from tests.scale.helpers import weights
from tests.tiny_lm import make_tiny_lm, write_chat_jsonl

pytestmark = pytest.mark.slow
TOLERANCE = 5e-4


def _build(root, model, processes: int) -> dict:
    root.mkdir(parents=True)
    write_chat_jsonl(root / "chat.jsonl", rows=32)
    fast = {"epochs": 2, "batch_size": 4, "learning_rate": 1e-2}
    config = write_toml(root / "mobilekit.toml", {
        "project": {"name": "Tiny chat"},
        "model": {"path": str(model), "task": "text-generation", "sequence_length": 64},
        "data": {"path": "chat.jsonl", "validation_fraction": 0.125, "test_fraction": 0.125},
        "finetune": {"enabled": True, "lora_dropout": 0.0, "patience": 5, **fast},
        "distill": {"enabled": True, **fast},
        "compute": {"processes": processes},
    })
    Pipeline(load_config(config)).run(["finetune", "distill"])
    return json.loads((root / "build" / "manifest.json").read_text())


def test_two_processes_train_the_same_language_model(tmp_path):
    model = make_tiny_lm(tmp_path / "llama", "llama")
    config = json.loads((model / "config.json").read_text())
    assert not config.get("attention_dropout")  # 1 vs N processes match weight for weight only without dropout
    one, two = _build(tmp_path / "one", model, 1), _build(tmp_path / "two", model, 2)
    for stage in ("finetune", "distill"):
        a, b = (weights(tmp_path / run / "build" / stage / "model") for run in ("one", "two"))
        assert a.keys() == b.keys()
        worst = max(float((a[k] - b[k]).abs().max()) for k in a)
        assert worst < TOLERANCE, (stage, worst)
        losses = [[e.get("train_loss") for e in m["stages"][stage]["metrics"].get("epochs", [])] for m in (one, two)]
        assert losses[0] == pytest.approx(losses[1], abs=1e-3), stage
