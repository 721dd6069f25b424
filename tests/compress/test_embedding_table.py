"""The compressed embedding table (mobilekit.compress.embedding_table): exact rows stay exact, the
rest share k-means directions with a per-token scale; the vocabulary never changes; PyTorch, ONNX,
TFLite and the MIL interpreter compute the same outputs from the gathers."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mobilekit.compress.embedding_table import (
    TABLE_FILE,
    EmbeddingTable,
    attach_if_present,
    choose_exact_rows,
    int4_rows,
    int8_table,
    kmeans_table,
    low_rank_rows,
    reconstruction_error,
    set_dense,
    token_counts,
)
from tests.tiny_models import calibration_texts, make_tiny_bert

SEQ = 16
TASK = dict(task="text-classification", sequence_length=SEQ, pooling="mean", normalize=True)


def _weight(seed=0, vocab=300, hidden=32):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((vocab, hidden)) * rng.uniform(0.5, 2, (vocab, 1))).astype(np.float32)


def test_exact_rows_stay_exact_and_the_tail_shares_scaled_directions():
    weight = _weight()
    exact = np.arange(0, 300, 3)
    table = kmeans_table(weight, exact, 20, seed=1)
    dense = table.dense()
    assert np.array_equal(dense[exact], weight[exact])
    tail = np.setdiff1d(np.arange(300), exact)
    assert len(table.codebook) == len(exact) + 20 and table.codes.dtype == np.int32
    assert set(table.codes[tail]) <= set(range(len(exact), len(exact) + 20))
    # A tail row is its centroid scaled: same direction as the centroid, never flipped.
    centroid = table.codebook[table.codes[tail[0]]]
    assert np.allclose(dense[tail[0]] / np.linalg.norm(dense[tail[0]]), centroid / np.linalg.norm(centroid), atol=1e-5)
    assert reconstruction_error(weight, dense, tail)["mean_cosine"] > 0.2
    assert table.nbytes < weight.nbytes
    again = kmeans_table(weight, exact, 20, seed=1)
    assert np.array_equal(again.codes, table.codes) and np.array_equal(again.codebook, table.codebook)


def test_more_clusters_reconstruct_better_and_the_alternatives_report_their_bytes():
    weight = _weight()
    exact = np.arange(10)
    tail = np.arange(10, 300)
    errors = [reconstruction_error(weight, kmeans_table(weight, exact, k).dense(), tail)["relative_error"] for k in (4, 64, 290)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-5  # one cluster per row: exact
    dense4, bytes4 = int4_rows(weight, exact)
    dense_r, bytes_r = low_rank_rows(weight, exact, 8)
    assert np.array_equal(dense4[exact], weight[exact]) and np.array_equal(dense_r[exact], weight[exact])
    assert bytes4 == 10 * 32 * 4 + 290 * (16 + 4) and bytes_r == 10 * 32 * 4 + (290 + 32) * 8 * 4
    assert reconstruction_error(weight, dense4, tail)["mean_cosine"] > 0.98


def test_int8_rows_keep_every_row_to_its_own_scale():
    weight = _weight()
    table = int8_table(weight)
    assert table.codebook.dtype == np.int8 and table.codes is None and table.nbytes == 300 * 32 + 300 * 4
    dense = table.dense()
    assert np.max(np.abs(dense - weight) / np.abs(weight).max(axis=1, keepdims=True)) <= 0.5 / 127 + 1e-6
    assert reconstruction_error(weight, dense, np.arange(300))["mean_cosine"] > 0.9999


def test_exact_rows_are_the_most_frequent_tokens_plus_the_special_ones():
    counts = np.array([0, 5, 0, 9, 1, 5, 0])
    assert choose_exact_rows(counts, 3, always=[0, 2]).tolist() == [0, 2, 3]
    assert choose_exact_rows(counts, 5, always=[0]).tolist() == [0, 1, 3, 4, 5]  # zero counts never fill up
    assert choose_exact_rows(counts, 1, always=[0, 2]).tolist() == [0, 2]  # the special tokens always


def _compressed_folder(base, method):
    from mobilekit.compress.folders import load_model, load_tokenizer, save_model_folder

    source = make_tiny_bert(base / "model", labels=["negative", "positive"], seed=1)
    model, tokenizer = load_model(source, "text-classification"), load_tokenizer(source)
    weight = model.get_input_embeddings().weight.detach().numpy()
    if method == "int8-rows":
        table = int8_table(weight)
    else:
        counts = token_counts(tokenizer, calibration_texts(), len(weight))
        table = kmeans_table(weight, choose_exact_rows(counts, 40, always=tokenizer.all_special_ids), 16, seed=0)
    set_dense(model, table)
    folder = save_model_folder(model, base / "compressed", tokenizer_from=source, task="text-classification")
    table.save(folder)
    return source, folder, table


@pytest.mark.slow
@pytest.mark.parametrize("method", ["int8-rows", "kmeans"])
def test_pytorch_onnx_tflite_and_core_ml_compute_the_same_from_the_gathers(tmp_path, method):
    from mobilekit.compress.folders import load_model
    from mobilekit.convert.coreml import convert_coreml
    from mobilekit.convert.litert_torch import convert_tflite_litert_torch
    from mobilekit.convert.tflite_buffers import buffer_bytes
    from mobilekit.convert.onnx_export import export_onnx, reference_outputs, tokenize
    from mobilekit.mil import MilProgram, list_ops
    from mobilekit.runners.onnx_runner import run_onnx
    from mobilekit.runners.tflite_runner import run_tflite

    source, folder, table = _compressed_folder(tmp_path, method)
    assert (folder / "vocab.txt").read_bytes() == (source / "vocab.txt").read_bytes()  # tokenization unchanged
    enc = tokenize(folder, calibration_texts()[:12], SEQ)
    assert np.array_equal(enc["input_ids"], tokenize(source, calibration_texts()[:12], SEQ)["input_ids"])

    reference = reference_outputs(folder, enc, task="text-classification", pooling="mean", normalize=True)  # the gathers
    dense = load_model(folder, "text-classification")  # the folder as transformers loads it
    import torch

    with torch.no_grad():
        logits = dense(**{k: torch.from_numpy(v).long() for k, v in enc.items()}).logits.numpy()
    assert np.max(np.abs(logits - reference)) < 1e-5
    attached = load_model(folder, "text-classification")
    assert attach_if_present(attached, folder)["method"] == method
    assert not any("word_embeddings.weight" in name for name, _ in attached.named_parameters())

    onnx = tmp_path / "model.onnx"
    export_onnx(folder, onnx, **TASK)
    assert np.max(np.abs(run_onnx(onnx, enc) - reference)) < 1e-5
    tflite = convert_tflite_litert_torch(folder, tmp_path / "tflite", variants=["float32", "dynamic-int8"], calibration=None, **TASK)
    assert np.max(np.abs(run_tflite(tflite["float32"], enc) - reference)) < 1e-5
    assert np.max(np.abs(run_tflite(tflite["dynamic-int8"], enc) - reference)) < 0.1
    coreml = convert_coreml(folder, tmp_path / "coreml", variants=["float32"], **TASK)
    assert "gather" in list_ops(coreml["float32"])
    mil = MilProgram.from_package(coreml["float32"]).run(enc)["logits"]
    assert np.max(np.abs(mil - reference)) < 1e-5
    # The dense table is not in the converted graph: the float32 TFLite weights are smaller than the
    # same model's converted with its dense table (the tiny file is mostly op names: compare weights).
    plain = tmp_path / "plain"
    shutil.copytree(folder, plain)
    (plain / TABLE_FILE).unlink()
    dense_tflite = convert_tflite_litert_torch(plain, tmp_path / "tflite-dense", variants=["float32"], calibration=None, **TASK)
    saved = buffer_bytes(dense_tflite["float32"])["data"] - buffer_bytes(tflite["float32"])["data"]
    assert abs(saved - (table.describe()["dense_bytes"] - table.nbytes)) <= 64, saved  # buffers are 16-byte aligned


@pytest.mark.slow
@pytest.mark.parametrize("method", ["int8-rows", "kmeans"])
def test_the_int4_table_variants_take_a_compressed_table(tmp_path, method):
    """dynamic-int8-int4emb / int8-int4emb on a student with a compressed table. int8 rows are
    gathered as int8 and cast, which no quantizer makes int4: both formats then store the folder's
    dense table (the rows' exact reconstruction) int4. k-means keeps its gathers, and its largest
    table, the codebook of exact rows and centroids, is the one stored int4."""
    from mobilekit import variants as _v
    from mobilekit.convert.coreml import convert_coreml
    from mobilekit.convert.litert_torch import convert_tflite_litert_torch
    from mobilekit.convert.onnx_export import reference_outputs, tokenize
    from mobilekit.convert.tflite_buffers import lookup_tables
    from mobilekit.mil import MilProgram
    from mobilekit.runners.tflite_runner import run_tflite

    _, folder, table = _compressed_folder(tmp_path, method)
    enc = tokenize(folder, calibration_texts()[:12], SEQ)
    reference = reference_outputs(folder, enc, task="text-classification", pooling="mean", normalize=True)
    tflite = convert_tflite_litert_torch(folder, tmp_path / "tflite", variants=[_v.DYNAMIC_INT8_INT4_EMBEDDING],
                                         calibration=None, **TASK)[_v.DYNAMIC_INT8_INT4_EMBEDDING]
    stored = lookup_tables(tflite)[0]
    expected_shape = [table.vocab_size, 32] if method == "int8-rows" else list(table.codebook.shape)
    assert stored["type"] == "INT4" and stored["shape"] == expected_shape, stored
    assert np.max(np.abs(run_tflite(tflite, enc) - reference)) < 0.1
    coreml = convert_coreml(folder, tmp_path / "coreml", variants=[_v.INT8_INT4_EMBEDDING], weight_threshold=512,
                            **TASK)[_v.INT8_INT4_EMBEDDING]
    program = MilProgram.from_package(coreml)
    assert np.max(np.abs(program.run(enc)["logits"] - reference)) < 0.1


def test_a_table_of_another_model_is_refused(tmp_path):
    from mobilekit.compress.folders import load_model
    from mobilekit.errors import ModelInputError

    folder = make_tiny_bert(tmp_path / "model", labels=["negative", "positive"], seed=1)
    EmbeddingTable("kmeans", np.zeros((3, 8), np.float32), np.zeros(5, np.int32), np.ones(5, np.float32), 3).save(folder)
    with pytest.raises(ModelInputError, match=r"table is 5 x 8, the model's word embedding \(106, 32\)") as info:
        attach_if_present(load_model(folder, "text-classification"), folder)
    assert "belongs to another model" in info.value.hint
