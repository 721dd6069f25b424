"""The static student (distill.student = "static"): its file, its Python reference, and the build
through the runtime-free Kotlin and Swift SDKs, on a tiny BERT and data the tests write."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mobilekit.compress.static_format import StaticModel, load_static_model, parse_static_model
from mobilekit.config import load_config
from mobilekit.errors import ConfigError, ModelInputError
from mobilekit.pipeline import Pipeline
from tests.compress.helpers import NAMES, make_deep_tiny_classifier, write_project, write_sentiment_csv
from tests.tiny_models import make_tiny_bert


def _model(*, int8=False, projection=False, head=False, normalize=False, seed=0) -> StaticModel:
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(11, 6)).astype(np.float32)
    width = 4 if projection else 6
    model = StaticModel(
        table=table,
        projection=rng.normal(size=(6, width)).astype(np.float32) if projection else None,
        offset=rng.normal(size=width).astype(np.float32) if projection else None,
        head_weight=rng.normal(size=(3, width)).astype(np.float32) if head else None,
        head_bias=rng.normal(size=3).astype(np.float32) if head else None,
        excluded_ids=[0, 2], normalize=normalize)
    return model.with_int8_rows() if int8 else model


@pytest.mark.parametrize("int8, projection, head, normalize", [
    (False, False, False, False), (True, False, False, True), (False, True, True, False), (True, True, True, False),
])
def test_the_file_round_trips_and_the_reference_follows_its_definition(tmp_path, int8, projection, head, normalize):
    model = _model(int8=int8, projection=projection, head=head, normalize=normalize)
    loaded = load_static_model(model.save(tmp_path))
    assert np.array_equal(loaded.table, model.table) and loaded.excluded_ids == [0, 2] and loaded.normalize == normalize
    ids = [[0, 3, 5, 5, 2, 1, 1], [0, 2], [7]]
    expected = []
    for row in ids:
        kept = [i for i in row if i not in (0, 2)]
        vector = model.table[kept].mean(axis=0) if kept else np.zeros(6, np.float32)
        if projection:
            vector = vector @ model.projection + model.offset
        if head:
            vector = model.head_weight @ vector + model.head_bias
        elif normalize:
            vector = vector / max(np.linalg.norm(vector), 1e-12)
        expected.append(vector)
    actual = loaded.logits(ids) if head else loaded.embed(ids)
    np.testing.assert_allclose(actual, np.stack(expected), rtol=1e-5, atol=1e-6)
    if int8:  # int8 rows: the table is exactly int8 x the row's scale, and close to the float rows
        rows, scales = loaded.int8
        assert rows.dtype == np.int8 and np.array_equal(loaded.table, rows.astype(np.float32) * scales[:, None])
        assert np.abs(loaded.table - _model(projection=projection, head=head).table).max() < 0.05


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"NOTSTATIC" + b[9:], "not a mobilekit static model"),
    (lambda b: b[:-4], "truncated"),
    (lambda b: b + b"\0\0\0\0", "bytes after its model"),
    (lambda b: b[:8] + (9).to_bytes(4, "little") + b[12:], "format 9"),
])
def test_a_damaged_file_is_a_clear_error(damage, message):
    data = _model(int8=True, projection=True, head=True).to_bytes()
    with pytest.raises(ModelInputError, match=message):
        parse_static_model(damage(data))


def test_a_classifiers_projection_folds_into_its_head():
    model = _model(int8=True, projection=True, head=True)
    folded = model.with_projection_folded()
    ids = [[0, 3, 5, 5, 2, 1, 1], [0, 2], [7]]
    assert folded.projection is None and folded.head_weight.shape == (3, 6) and folded.int8 is model.int8
    np.testing.assert_allclose(folded.logits(ids), model.logits(ids), rtol=1e-5, atol=1e-5)
    embedder = _model(projection=True)
    assert embedder.with_projection_folded() is embedder  # an embedding keeps the teacher's space


def test_sif_weights_and_pca_keep_the_mean_in_the_teachers_space():
    from mobilekit.compress.static_student import pca, sif_weights

    weights = sif_weights(np.array([0, 1, 1000]), 1e-3)
    assert weights[0] == 1.0 and weights[1] > 0.5 and weights[2] < 0.01
    assert np.all(sif_weights(np.array([0, 5]), 0.0) == 1.0)
    table = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    reduced, projection, offset, kept = pca(table, 8)
    assert kept == pytest.approx(1.0) and np.allclose(reduced @ projection + offset, table, atol=1e-4)
    reduced, projection, offset, kept = pca(table, 3)
    # The mean of reduced rows projected back is the projection of the mean of the full rows.
    rows = [1, 4, 9]
    assert np.allclose(reduced[rows].mean(0) @ projection + offset, (table[rows].mean(0) - offset) @ projection.T @ projection + offset,
                       atol=1e-4)
    assert 0 < kept < 1


@pytest.fixture(scope="module")
def classifier_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    make_deep_tiny_classifier(root / "model", layers=2)
    write_sentiment_csv(root / "data.csv", 200)
    path = write_project(root, data={"path": "data.csv"},
                         distill={"enabled": True, "student": "static", "epochs": 15, "embedding_table": "int8-rows",
                                  "static_dimensions": 16, "batch_size": 16, "learning_rate": 3e-2},
                         android={"enabled": True}, ios={"enabled": True})
    result = Pipeline(load_config(path)).run(["distill", "export", "convert", "verify", "bench", "generate", "package", "report"])
    return {"root": root, "result": result, "summary": result.summary()}


def test_a_static_classifier_builds_through_both_sdks_without_a_runtime(classifier_build):
    outcomes = {o.name: o.status for o in classifier_build["result"].outcomes}
    assert outcomes == {"distill": "ran", "export": "skipped", "convert": "skipped", "verify": "skipped", "bench": "skipped",
                        "generate": "ran", "package": "ran", "report": "ran"}
    stages = {s["stage"]: s for s in classifier_build["summary"]["stages"]}
    distill = stages["distill"]["metrics"]
    student = distill["student"]
    # Sentiment words are learnable from a lookup and a mean; the random tiny teacher is not.
    assert student["accuracy"] >= 0.8 and "versus_teacher" in student and "mcnemar_p" in student["versus_teacher"]
    assert distill["table"]["pca_variance_kept"] <= 1.0 and distill["shipped"] == "student"
    assert student["shipped_bytes"] == (classifier_build["root"] / "build/distill/model/static_model.bin").stat().st_size
    assert distill["size_ratio"] > 5 and student["speed"]["numpy_us_per_text"] > 0
    package = stages["package"]["metrics"]
    assert package["android"]["tests_failed"] == 0 and package["android"]["tests_run"] > 50
    assert package["ios"]["test_failures"] == 0 and package["ios"]["tests"] >= 10
    folder = classifier_build["root"] / "build" / "distill" / "model"
    assert (folder / "vocab.txt").read_bytes() == (classifier_build["root"] / "model" / "vocab.txt").read_bytes()
    assert json.loads((folder / "static_model.json").read_text())["labels"] == NAMES


def test_the_static_sdks_ship_the_file_and_no_runtime(classifier_build):
    root = classifier_build["root"] / "build"
    model = (root / "distill/model/static_model.bin").read_bytes()
    android = root / "generate" / "android"
    assert next(android.rglob("static_model.bin")).read_bytes() == model and not list(android.rglob("*.tflite"))
    sources = "\n".join(p.read_text() for p in android.rglob("*.kt"))
    assert "org.tensorflow" not in sources and "StaticModel(" in sources
    assert "litert" not in (android / "build.gradle.kts").read_text()
    pom = next((root / "package" / "android").glob("*.pom")).read_text()
    assert "litert" not in pom and "plain Kotlin" in pom
    ios = root / "generate" / "ios"
    assert next(ios.rglob("static_model.bin")).read_bytes() == model and not list(ios.rglob("*.mlpackage"))
    assert "import CoreML" not in "\n".join(p.read_text() for p in ios.rglob("*.swift"))
    report = (root / "report" / "report.html").read_text()
    assert "static student" in report


def test_a_static_embedder_matches_the_teacher_space(tmp_path):
    """sentence-embedding: no head; with PCA the mean is projected back to the teacher's width, and
    the Kotlin and Swift SDKs compute the projection and the normalization as Python does."""
    make_tiny_bert(tmp_path / "model", task="sentence-embedding", seed=2)
    texts = [f"{a} {b} {c}" for a in ("the movie", "a film", "this story", "it") for b in ("was", "is", "really")
             for c in ("good", "bad", "boring", "great fun", "not so nice", "the best")]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    path = write_project(tmp_path, model={"task": "sentence-embedding"}, data={"unlabelled_path": "texts.txt", "test_fraction": 0.25},
                         distill={"enabled": True, "student": "static", "static_train_table": True, "epochs": 3,
                                  "static_dimensions": 8})
    result = Pipeline(load_config(path)).run(["distill", "generate", "package"])
    stages = {s["stage"]: s["metrics"] for s in result.summary()["stages"]}
    metrics = stages["distill"]
    assert 0.0 < metrics["student"]["cosine_to_teacher_mean"] <= 1.0 and len(metrics["epochs"]) == 3
    model = load_static_model(tmp_path / "build" / "distill" / "model")
    assert model.head_weight is None and model.normalize and model.int8 is None
    assert model.table.shape[1] == 8 and model.output_dims == 32  # PCA width, projected back to the tiny BERT's
    assert stages["package"]["android"]["tests_failed"] == 0 and stages["package"]["ios"]["test_failures"] == 0
    golden = json.loads(next((tmp_path / "build" / "generate" / "ios").rglob("goldens.json")).read_text())
    vector = np.asarray(golden["outputs"][1]["rawOutput"])
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("distill, model, message", [
    ({"enabled": True, "student": "static", "trim_vocabulary": True}, {}, "no layers to shape"),
    ({"enabled": True, "student": "static", "embedding_table": "kmeans"}, {}, "no layers to shape"),
    ({"enabled": True, "student": "static", "heads": 2}, {}, "no layers to shape"),
    ({"enabled": False, "student": "static"}, {}, "distill.enabled = false"),
    ({"enabled": True, "static_dimensions": 8}, {}, "distill.student is 'transformer'"),
])
def test_static_settings_are_checked(tmp_path, distill, model, message):
    make_tiny_bert(tmp_path / "model", labels=NAMES)
    write_sentiment_csv(tmp_path / "data.csv", 40)
    path = write_project(tmp_path, data={"path": "data.csv"}, distill=distill, model=model)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
