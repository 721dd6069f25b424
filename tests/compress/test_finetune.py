"""Fine-tuning is reproducible and stops early when validation stops improving."""

from __future__ import annotations

import logging

import pytest
import torch

from mobilekit.compress.finetune import classifier_from_encoder, finetune
from mobilekit.compress.folders import load_tokenizer
from mobilekit.progress import SilentProgress
from tests.tiny_models import make_tiny_bert, sentiment_samples


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("encoder"), task="sentence-embedding", seed=3)


def run(encoder, *, epochs=1, patience=1, validation=((), ()), seed=0):
    texts, labels = sentiment_samples(48, seed=seed)
    model = classifier_from_encoder(encoder, ["negative", "positive"], seed)
    result = finetune(
        model, load_tokenizer(encoder), train_texts=texts, train_labels=labels,
        validation_texts=list(validation[0]), validation_labels=list(validation[1]), max_length=16,
        epochs=epochs, batch_size=16, learning_rate=1e-3, patience=patience, seed=seed,
        progress=SilentProgress(), log=logging.getLogger("test"),
    )
    return model, result


def test_same_seed_same_weights_other_seed_other_weights(encoder):
    a, b, c = run(encoder)[0].state_dict(), run(encoder)[0].state_dict(), run(encoder, seed=1)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_early_stopping_keeps_the_best_epoch(encoder):
    # A validation set the model cannot do better than chance on: no epoch beats the first.
    texts = ["the movie", "the movie", "a film", "a film"]
    model, result = run(encoder, epochs=5, patience=1, validation=(texts, [0, 1, 0, 1]))
    assert result.stopped_early and len(result.history) == 2 and result.best_epoch == 1
