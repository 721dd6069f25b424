"""A tiny fine-tune + distill project the scale tests build with 1 or 2 processes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.compress.helpers import write_project, write_sentiment_csv
from tests.tiny_models import make_tiny_bert


def make_project(root: Path, *, dropout: bool = True, distill: bool = False, **sections) -> Path:
    """A bare tiny encoder, 200 labelled rows, finetune (and distill) for 2 short epochs."""
    model = make_tiny_bert(root / "model", task="sentence-embedding", seed=1)
    if not dropout:  # ranks draw different dropout masks: 1 vs N processes match only without dropout
        config = json.loads((model / "config.json").read_text())
        config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        (model / "config.json").write_text(json.dumps(config))
    write_sentiment_csv(root / "data.csv", 200)
    fast = {"epochs": 2, "batch_size": 8, "learning_rate": 3e-3}
    return write_project(
        root,
        data={"path": "data.csv", "validation_fraction": 0.1, "test_fraction": 0.1},
        finetune={"enabled": True, "patience": 5, **fast},
        distill={"enabled": distill, **fast},
        **sections,
    )


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))
