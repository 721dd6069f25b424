"""finetune and distill through the real pipeline, on tiny models and data the tests write."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mobilekit.config import load_config
from mobilekit.data import read_examples, split
from mobilekit.errors import ModelInputError
from mobilekit.pipeline import Pipeline
from tests.compress.helpers import NAMES, make_deep_tiny_classifier, write_project, write_sentiment_csv
from tests.tiny_models import make_tiny_bert, make_trained_tiny_classifier

FAST = {"batch_size": 16, "learning_rate": 3e-3}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A pretrained-encoder stand-in fine-tuned into a teacher, then distilled with everything on."""
    root = tmp_path_factory.mktemp("classify")
    make_tiny_bert(root / "model", task="sentence-embedding", seed=1)  # a bare encoder: no head, no pooler
    write_sentiment_csv(root / "data.csv", 300)
    path = write_project(
        root,
        data={"path": "data.csv", "validation_fraction": 0.1, "test_fraction": 0.2},
        finetune={"enabled": True, "epochs": 5, "patience": 2, **FAST},
        distill={"enabled": True, "epochs": 4, "trim_vocabulary": True, "hidden_weight": 1.0, "attention_weight": 1.0, **FAST},
    )
    config = load_config(path)
    result = Pipeline(config).run(["finetune", "distill"])
    manifest = json.loads((root / "build" / "manifest.json").read_text())
    return {"root": root, "config": config, "result": result, "manifest": manifest}


def test_both_stages_ran_and_their_metrics_land_in_the_manifest(built):
    assert {o.name: o.status for o in built["result"].outcomes} == {"finetune": "ran", "distill": "ran"}
    stages = built["manifest"]["stages"]
    finetune, distill = stages["finetune"]["metrics"], stages["distill"]["metrics"]
    assert finetune["labels"] == NAMES and finetune["splits"] == {"train": 210, "train_labelled": 210, "validation": 30, "test": 60}
    assert 1 <= finetune["best_epoch"] <= len(finetune["epochs"])
    assert finetune["test"]["accuracy"] >= 0.9
    for who in ("teacher", "student", "student_trimmed"):
        assert {"accuracy", "macro_f1", "parameters", "safetensors_bytes"} <= set(distill[who]), who
    assert distill["layers"] == [1] and distill["shipped"] == "student_trimmed"
    assert distill["student"]["parameters"] < distill["teacher"]["parameters"]
    assert distill["student_trimmed"]["parameters"] < distill["student"]["parameters"]
    assert distill["size_ratio"] > 1.2
    vocabulary = distill["student_trimmed"]["vocabulary"]
    assert vocabulary["after"] < vocabulary["before"]
    assert len(distill["student_trimmed"]["epochs_after_trimming"]) == 1  # trim_epochs default
    # The test split uses the same words as the training text: nothing tokenizes differently.
    assert distill["student_trimmed"]["tokenization_on_test"]["texts_tokenized_differently"] == 0
    artifact = built["manifest"]["artifacts"]["distill/model"]
    assert artifact["metadata"]["teacher_layers"] == [1] and artifact["metadata"]["labels"] == NAMES


def test_losses_decrease(built):
    stages = built["manifest"]["stages"]
    for stage in ("finetune", "distill"):
        losses = [e["train_loss"] for e in stages[stage]["metrics"]["epochs"]]
        assert losses[-1] < losses[0], (stage, losses)


def test_student_is_a_normal_folder_and_beats_an_untrained_student(built):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from mobilekit.compress.student import student_config

    folder = built["root"] / "build" / "distill" / "model"
    student = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(123)
    untrained = AutoModelForSequenceClassification.from_config(student_config(student.config, [0], None)).eval()
    d = built["config"].data
    test = split(read_examples(d.path), validation_fraction=d.validation_fraction, test_fraction=d.test_fraction, seed=d.seed).test
    batch = tokenizer([e.text for e in test], padding=True, return_tensors="pt")
    truth = np.array([NAMES.index(e.label) for e in test])
    with torch.no_grad():
        accuracy = {name: float(np.mean(m(**batch).logits.argmax(-1).numpy() == truth)) for name, m in (("distilled", student), ("untrained", untrained))}
    assert accuracy["distilled"] >= 0.9 and accuracy["distilled"] >= accuracy["untrained"] + 0.2, accuracy
    assert accuracy["distilled"] == built["manifest"]["stages"]["distill"]["metrics"]["student_trimmed"]["accuracy"]


def test_rerun_with_nothing_changed_is_cached(built):
    result = Pipeline(built["config"]).run(["finetune", "distill"])
    assert {o.name: o.status for o in result.outcomes} == {"finetune": "cached", "distill": "cached"}


def test_sentence_encoder_distils_from_unlabelled_text_alone(tmp_path):
    from transformers import AutoModel

    make_tiny_bert(tmp_path / "model", task="sentence-embedding", seed=2)
    texts = [f"{a} {b} {c}" for a in ("the movie", "a film", "this story", "it") for b in ("was", "is", "really")
             for c in ("good", "bad", "boring", "great fun", "not so nice", "the best")]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    path = write_project(tmp_path, model={"task": "sentence-embedding"}, data={"unlabelled_path": "texts.txt", "test_fraction": 0.25},
                         distill={"enabled": True, "epochs": 3, **FAST})
    result = Pipeline(load_config(path)).run(["distill"])
    metrics = result.summary()["stages"][0]["metrics"]
    student = metrics["student"]
    assert student["cosine_to_teacher_mean"] > 0.9 and 0.0 <= student["recall_at_1"] <= 1.0
    assert metrics["splits"]["test"] == 18 and "accuracy" not in student
    folder = tmp_path / "build" / "distill" / "model"
    assert (folder / "modules.json").is_file() and (folder / "1_Pooling" / "config.json").is_file()
    assert AutoModel.from_pretrained(folder).config.num_hidden_layers == 1


@pytest.mark.parametrize(
    "content, settings, message",
    [
        (b"", {}, "is empty"),
        (b"text,stars\ngood,5\nbad,1\n", {}, "has no column 'label'"),
        (b"text,label\ngood movie,positive\nbad movie,negativ\n", {"model": {"labels": NAMES}}, "labels the model does not know: 'negativ'"),
        ("text,label\ngood,positive\ncaf\u00e9,negative\n".encode("latin-1"), {}, "is not UTF-8 text"),
    ],
    ids=["empty", "missing-column", "unknown-label", "not-utf8"],
)
def test_bad_data_is_a_clear_input_error_before_any_training(tmp_path, content, settings, message):
    make_tiny_bert(tmp_path / "model", task="sentence-embedding")
    (tmp_path / "data.csv").write_bytes(content)
    path = write_project(tmp_path, data={"path": "data.csv"}, finetune={"enabled": True}, **settings)
    with pytest.raises(ModelInputError, match=message):
        Pipeline(load_config(path)).run(["finetune"])
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    assert manifest["stages"]["finetune"]["status"] == "failed"


def test_distilling_a_classifier_on_labels_it_does_not_know_fails_clearly(tmp_path):
    make_trained_tiny_classifier(tmp_path / "model", steps=5)
    write_sentiment_csv(tmp_path / "data.csv", 40, names=["bad", "good"])
    path = write_project(tmp_path, data={"path": "data.csv"}, distill={"enabled": True})
    with pytest.raises(ModelInputError, match="labels the model does not know"):
        Pipeline(load_config(path)).run(["distill"])


def test_augmented_text_and_cls_matching_carry_through_trimming(tmp_path):
    """Perturbed copies join the training text, and [CLS] matching keeps working after the
    vocabulary is trimmed (it needs no token alignment), with a narrower student too."""
    make_deep_tiny_classifier(tmp_path / "model", layers=2)
    write_sentiment_csv(tmp_path / "data.csv", 120)
    path = write_project(
        tmp_path, data={"path": "data.csv"},
        distill={"enabled": True, "epochs": 2, "augment": 2, "cls_weight": 1.0, "hidden_size": 16,
                 "trim_vocabulary": True, "trim_min_count": 3, "trim_epochs": 1, **FAST},
    )
    result = Pipeline(load_config(path)).run(["distill"])
    metrics = result.summary()["stages"][0]["metrics"]
    assert metrics["splits"]["augmented"] > metrics["splits"]["train"]
    assert all(e["train_loss"] > 0 for e in metrics["epochs"] + metrics["student_trimmed"]["epochs_after_trimming"])
    assert metrics["hidden_size"] == 16 and "accuracy" in metrics["student_trimmed"]


@pytest.mark.parametrize("method", ["int8-rows", "kmeans"])
def test_a_compressed_embedding_table_keeps_the_vocabulary_and_exports(tmp_path, method):
    """distill.embedding_table: the student keeps every token (tokenization unchanged), its table
    is stored compressed (int8 rows; or exact for the frequent tokens and shared elsewhere), and
    the folder exports with the gathers."""
    from mobilekit.compress.embedding_table import TABLE_FILE, EmbeddingTable

    make_deep_tiny_classifier(tmp_path / "model", layers=2)
    write_sentiment_csv(tmp_path / "data.csv", 120)
    (tmp_path / "general.txt").write_text("the plot of the film\nan actor and a story\n", encoding="utf-8")
    path = write_project(
        tmp_path, data={"path": "data.csv"},
        distill={"enabled": True, "epochs": 1, "embedding_table": method, "embedding_exact_rows": 30,
                 "embedding_clusters": 8, "embedding_epochs": 1, "embedding_frequency_path": "general.txt", **FAST},
    )
    result = Pipeline(load_config(path)).run(["distill", "export"])
    metrics = result.summary()["stages"][0]["metrics"]
    compressed = metrics["student_compressed"]
    assert metrics["shipped"] == "student_compressed"
    table = compressed["embedding_table"]
    assert table["method"] == method and table["rows_approximated"]["mean_cosine"] > (0.98 if method == "int8-rows" else 0.1)
    if method == "kmeans":
        assert table["clusters"] == 8 and table["exact_rows"] >= 30 and table["frequency_texts"] > 96
    assert compressed["shipped_bytes"] < compressed["safetensors_bytes"]
    assert metrics["size_ratio"] == pytest.approx(metrics["teacher"]["safetensors_bytes"] / compressed["shipped_bytes"], rel=1e-3)
    assert len(compressed["epochs_after_compressing"]) == 1 and "accuracy" in compressed
    folder = tmp_path / "build" / "distill" / "model"
    assert (folder / "vocab.txt").read_bytes() == (tmp_path / "model" / "vocab.txt").read_bytes()
    saved = EmbeddingTable.load(folder)
    from safetensors.torch import load_file

    dense = load_file(str(folder / "model.safetensors"))["bert.embeddings.word_embeddings.weight"].numpy()
    assert np.array_equal(dense, saved.dense())  # the folder's table is exactly the compressed one
    assert (tmp_path / "build" / "export" / "model.onnx").is_file() and (folder / TABLE_FILE).is_file()


@pytest.mark.parametrize("settings, message", [
    ({"embedding_table": "kmeans", "trim_vocabulary": True}, "both shrink the word embeddings"),
])
def test_compressed_table_settings_are_checked(tmp_path, settings, message):
    from mobilekit.errors import ConfigError

    make_tiny_bert(tmp_path / "model", labels=NAMES)
    write_sentiment_csv(tmp_path / "data.csv", 40)
    path = write_project(tmp_path, data={"path": "data.csv"}, distill={"enabled": True, **settings})
    with pytest.raises(ConfigError, match=message):
        load_config(path)
