"""The tiny model factory itself: real files, right token ids, a trained head with clear margins."""

import json
import time

import numpy as np
import pytest

from tests.tiny_models import (
    cached_classifier,
    make_tiny_bert,
    sentiment_samples,
    tiny_vocab,
)


def test_classifier_folder_has_real_hf_files_and_labels(tmp_path):
    make_tiny_bert(tmp_path, labels=["neg", "pos"])  # warm imports
    start = time.monotonic()
    d = make_tiny_bert(tmp_path / "m", num_labels=3, labels=["a", "b", "c"])
    assert time.monotonic() - start < 2.0
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        assert (d / name).is_file(), name
    config = json.loads((d / "config.json").read_text())
    assert config["model_type"] == "bert"
    assert config["id2label"] == {"0": "a", "1": "b", "2": "c"}
    assert (d / "vocab.txt").read_text().splitlines() == tiny_vocab()


def test_tokenizer_ids_are_the_real_vocab(tmp_path):
    from transformers import AutoTokenizer

    d = make_tiny_bert(tmp_path)
    vocab = tiny_vocab()
    tok = AutoTokenizer.from_pretrained(d)
    assert len(tok) == len(vocab) > 100
    ids = tok("Good movie playing")["input_ids"]
    assert ids == [vocab.index(t) for t in ["[CLS]", "good", "movie", "play", "##ing", "[SEP]"]]
    # accents stripped by the uncased tokenizer, CJK split per character
    assert tok.tokenize("Café 中文") == ["cafe", "中", "文"]


def test_cased_tokenizer_keeps_case(tmp_path):
    from transformers import AutoTokenizer

    d = make_tiny_bert(tmp_path, cased=True)
    tok = AutoTokenizer.from_pretrained(d)
    assert tok.tokenize("Good good") == ["Good", "good"]
    assert json.loads((d / "tokenizer_config.json").read_text())["do_lower_case"] is False


def test_embedding_folder_has_sentence_transformers_files(tmp_path):
    d = make_tiny_bert(tmp_path, task="sentence-embedding")
    modules = json.loads((d / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    pooling = json.loads((d / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] is True and pooling["word_embedding_dimension"] == 32
    assert json.loads((d / "config.json").read_text())["architectures"] == ["BertModel"]


def test_trained_classifier_separates_held_out_samples_with_margin():
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    d = cached_classifier()
    texts, labels = sentiment_samples(200, seed=5)
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForSequenceClassification.from_pretrained(d).eval()
    enc = tok(texts, padding="max_length", max_length=16, truncation=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits.numpy()
    assert np.mean(logits.argmax(1) == np.array(labels)) == 1.0
    assert np.min(np.abs(logits[:, 1] - logits[:, 0])) > 1.0  # no near-ties


@pytest.mark.parametrize("bad", [dict(task="translation"), dict(num_labels=3, labels=["a"])])
def test_bad_arguments_are_rejected(tmp_path, bad):
    with pytest.raises(ValueError):
        make_tiny_bert(tmp_path, **bad)
