"""The mixed-precision encoder variants: int8 layers with an int4 word-embedding table.

dynamic-int8-int4emb (TFLite, litert-torch route) and int8-int4emb (Core ML, iOS 18): the table is
really stored int4 (flatbuffer tensor type / MIL blob type), the file shrinks by the table's half,
the outputs stay within the int4-weights family's budget, and the variants go through verify and
into both SDKs like any other. Core ML details are in tests/coreml, a compressed (int8 rows) table
in tests/compress/test_embedding_table.py.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from mobilekit import variants as _v
from mobilekit.convert.embedding_int4 import block_size
from mobilekit.convert.onnx_export import reference_outputs, tokenize
from mobilekit.errors import ModelInputError
from mobilekit.verify.parity import compare, default_tolerance
from tests.conftest import run_cli, write_toml
from tests.tiny_models import (
    TEST_SEQUENCE_LENGTH,
    cached_classifier,
    cached_embedder,
    make_trained_tiny_classifier,
    sentiment_samples,
    write_reviews_csv,
)

SEQ = TEST_SEQUENCE_LENGTH
CLS = dict(task="text-classification", sequence_length=SEQ, pooling="mean", normalize=True)
EMB = dict(task="sentence-embedding", sequence_length=SEQ, pooling="mean", normalize=True)
INT4EMB = _v.DYNAMIC_INT8_INT4_EMBEDDING


def test_blocks_of_32_values_of_a_row_else_one_scale_per_row():
    assert [block_size(n) for n in (32, 128, 384, 768, 1024)] == [32] * 5
    assert block_size(312) is None and block_size(100) is None  # TinyBERT's 312: one scale per row


def test_the_variants_are_opt_in_and_judged_as_int4_weights():
    for variant in (_v.get(_v.TFLITE, INT4EMB), _v.get(_v.COREML, _v.INT8_INT4_EMBEDDING)):
        assert variant.kinds == (_v.ENCODER,) and not variant.defaults
        assert variant.family == _v.FAMILY_INT4_WEIGHTS and variant.parity_tolerance == _v.FULL_INT8
        assert variant.bits == 8 and variant.embedding_bits == 4
    assert _v.get(_v.TFLITE, INT4EMB).file_name == "model_dynamic_int8_int4emb.tflite"
    assert _v.get(_v.COREML, _v.INT8_INT4_EMBEDDING).coreml_target == "iOS18"
    assert INT4EMB not in _v.default_names(_v.TFLITE, _v.ENCODER)
    assert _v.INT8_INT4_EMBEDDING not in _v.default_names(_v.COREML, _v.ENCODER)


def test_the_onnx2tf_route_refuses_it(tmp_path):
    from mobilekit.convert.tflite import convert_tflite
    from tests.tiny_models import cached_onnx

    with pytest.raises(ModelInputError, match="onnx2tf route cannot make dynamic-int8-int4emb") as info:
        convert_tflite(cached_onnx("classifier").path, tmp_path, variants=[INT4EMB], calibration=None)
    assert "litert-torch" in info.value.hint


# --- slow: a real litert-torch conversion ----------------------------------------------------------
# The tiny embedder (random weights): its outputs move with every weight, so it shows what the int4
# table costs (the trained classifier's saturated pooler hides it: dynamic-int8 and the int4 table
# both 3e-4 from torch).

@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from mobilekit.convert.litert_torch import convert_tflite_litert_torch

    return convert_tflite_litert_torch(cached_embedder(), tmp_path_factory.mktemp("int4emb"),
                                       variants=[_v.DYNAMIC_INT8, INT4EMB], calibration=None, **EMB)


@pytest.mark.slow
def test_the_word_table_is_stored_int4_and_the_rest_as_in_dynamic_int8(converted):
    from mobilekit.convert.tflite_buffers import lookup_tables

    int8, int4 = lookup_tables(converted[_v.DYNAMIC_INT8]), lookup_tables(converted[INT4EMB])
    vocab, hidden = int8[0]["shape"]
    assert (vocab, hidden) == (106, 32)  # the tiny vocabulary and hidden size: the word table
    assert int8[0]["type"] == "INT8" and int8[0]["bytes"] == vocab * hidden
    # packed two values a byte, one float16 scale per block of a row (the whole 32-wide row here)
    assert int4[0]["type"] == "INT4" and int4[0]["bytes"] == vocab * hidden // 2
    assert int4[0]["block_size"] == block_size(hidden) == 32
    assert int4[1:] == int8[1:]  # the token-type table stays as it was
    # About the table's int8 bytes minus its int4 bytes smaller (measured: 2,640 bytes for 1,696
    # saved table bytes: the per-row float32 scale and int64 zero point go too, float16 scales come).
    saved = converted[_v.DYNAMIC_INT8].stat().st_size - converted[INT4EMB].stat().st_size
    assert vocab * hidden // 2 <= saved <= vocab * hidden // 2 + vocab * 12 + 256, saved


@pytest.mark.slow
def test_outputs_stay_within_the_int4_weights_budget(converted):
    from mobilekit.runners.tflite_runner import TfliteRunner

    model_dir = cached_embedder()
    enc = tokenize(model_dir, sentiment_samples(120, seed=99)[0], SEQ)
    ref = reference_outputs(model_dir, enc, task=EMB["task"])
    cosines = {}
    for variant, path in converted.items():
        report = compare(ref, TfliteRunner(path).run(enc), task=EMB["task"], labels=None,
                         tolerance=default_tolerance(_v.get(_v.TFLITE, variant).parity_tolerance))
        assert report.passed, (variant, report.lines())
        cosines[variant] = report.check("mean_cosine").value
    # int4 rows cost more than int8 rows (measured: mean cosine 0.99999 and 0.9994), far less than
    # the family allows (0.97)
    assert cosines[_v.DYNAMIC_INT8] > cosines[INT4EMB] > 0.998, cosines


@pytest.mark.slow
def test_length_buckets_share_one_int4_table(tmp_path):
    """Three signatures (length buckets): each one's word lookup reads the same INT4 buffer (the
    quantizer writes one per signature, deduplicate_buffers keeps one), each bucket close to torch."""
    from ai_edge_litert import schema_py_generated as schema

    from mobilekit.convert.litert_torch import convert_tflite_litert_torch
    from mobilekit.runners.bucket_runner import BucketedTflite, cut, fitting_rows

    buckets = [4, 8, SEQ]
    model_dir = cached_embedder()
    path = convert_tflite_litert_torch(model_dir, tmp_path, variants=[INT4EMB], calibration=None, length_buckets=buckets,
                                       **EMB)[INT4EMB]
    model = schema.Model.GetRootAsModel(bytearray(path.read_bytes()), 0)
    tables = set()
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for o in range(graph.OperatorsLength()):
            table = graph.Tensors(graph.Operators(o).Inputs(1)) if graph.Operators(o).InputsLength() == 2 else None
            if table is not None and table.ShapeAsNumpy().tolist() == [106, 32]:
                tables.add((g, table.Type(), table.Buffer()))
    assert {g for g, _, _ in tables} == {0, 1, 2}
    assert {(kind, buffer) for _, kind, buffer in tables} == {(schema.TensorType.INT4, next(iter(tables))[2])}
    enc = tokenize(model_dir, sentiment_samples(40, seed=5)[0] + ["a"], SEQ)
    bucketed = BucketedTflite(path, buckets)
    for length in buckets:
        rows = fitting_rows(enc, length, buckets)
        ref = reference_outputs(model_dir, cut(enc, rows, length), task=EMB["task"])
        assert _mean_cosine(bucketed.run_bucket(length, enc, rows), ref) > 0.998, length


def _embedder_of_width(folder, hidden: int):
    """The tiny embedder's vocabulary and tokenizer with a ``hidden``-wide random BERT."""
    import torch
    from transformers import BertConfig, BertModel

    from tests.tiny_models import TINY_CONFIG, _write_sentence_transformers_files, make_tiny_bert, tiny_vocab

    make_tiny_bert(folder, task="sentence-embedding", seed=3)
    torch.manual_seed(5)
    config = BertConfig(vocab_size=len(tiny_vocab()), pad_token_id=0,
                        **{**TINY_CONFIG, "hidden_size": hidden, "intermediate_size": 2 * hidden})
    BertModel(config).eval().save_pretrained(folder)
    _write_sentence_transformers_files(folder, hidden, True)
    return folder


def _mean_cosine(a, b) -> float:
    return float(np.mean(np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))


@pytest.mark.slow
@pytest.mark.parametrize("hidden,block", [(64, 32), (48, None)])
def test_rows_of_several_blocks_and_rows_no_block_divides(tmp_path, hidden, block):
    """64-wide rows: two blocks of 32 per row (two scales). 48-wide rows: one scale per row
    (per-channel), on both formats; either way the outputs stay close to torch."""
    from mobilekit.convert.coreml import convert_coreml
    from mobilekit.convert.litert_torch import convert_tflite_litert_torch
    from mobilekit.convert.tflite_buffers import lookup_tables
    from mobilekit.mil import MilProgram
    from mobilekit.runners.tflite_runner import run_tflite
    from tests.coreml.mil_weights import blockwise_weights

    model = _embedder_of_width(tmp_path / "model", hidden)
    enc = tokenize(model, sentiment_samples(24, seed=4)[0], SEQ)
    ref = reference_outputs(model, enc, task=EMB["task"])
    tflite = convert_tflite_litert_torch(model, tmp_path / "tflite", variants=[INT4EMB], calibration=None, **EMB)[INT4EMB]
    table = lookup_tables(tflite)[0]
    assert table["type"] == "INT4" and table["shape"] == [106, hidden] and table["block_size"] == (block or 0)
    assert _mean_cosine(run_tflite(tflite, enc), ref) > 0.99
    coreml = convert_coreml(model, tmp_path / "coreml", variants=[_v.INT8_INT4_EMBEDDING], weight_threshold=512,
                            **EMB)[_v.INT8_INT4_EMBEDDING]
    (scale,) = [scale for dtype, shape, scale in blockwise_weights(coreml).values() if dtype == "INT4"]
    assert scale == (106, hidden // block if block else 1)
    assert _mean_cosine(MilProgram.from_package(coreml).run(enc)["embedding"], ref) > 0.99


# --- slow: the pipeline, verify to both SDKs --------------------------------------------------------

@pytest.mark.slow
def test_verify_ships_both_variants_and_the_sdks_take_them(tmp_path):
    make_trained_tiny_classifier(tmp_path / "model")
    write_reviews_csv(tmp_path / "reviews.csv", 80, seed=3)
    config = write_toml(tmp_path / "mobilekit.toml", {
        "project": {"name": "Tiny sentiment"},
        "model": {"path": "model", "task": "text-classification", "sequence_length": SEQ},
        "data": {"path": "reviews.csv", "text_column": "review", "label_column": "sentiment", "test_fraction": 0.4},
        "convert": {"tflite": [_v.DYNAMIC_INT8, INT4EMB], "coreml": [_v.INT8, _v.INT8_INT4_EMBEDDING]},
        "verify": {"samples": 30},
        # Asked for by name: "auto" ships the smallest accepted variant, which for a real model is the
        # int4 table one, but the tiny model's iOS 18 program outweighs its 1.7 kB of saved table.
        "android": {"model_variant": INT4EMB},
        "ios": {"model_variant": _v.INT8_INT4_EMBEDDING},
    })
    result = run_cli("generate", "-c", str(config), env={"MOBILEKIT_HOME": os.environ.get(
        "MOBILEKIT_HOME", os.path.expanduser("~/.cache/mobilekit"))})
    assert result.returncode == 0, result.stderr
    build = tmp_path / "build"
    results = json.loads((build / "verify" / "results.json").read_text())
    for key in (_v.tflite_key(INT4EMB), _v.coreml_key(_v.INT8_INT4_EMBEDDING)):
        assert results["variants"][key]["ships"], (key, results["variants"][key])
    ios = build / "generate" / "ios"
    assert json.loads((ios / "mobilekit-sdk.json").read_text())["coreml_variant"] == _v.INT8_INT4_EMBEDDING
    wrapper = next(ios.glob("Sources/*/*Classifier.swift")).read_text()
    assert "@available(iOS 18.0, macOS 15.0, *)" in wrapper and "iOS 16.0" not in wrapper
    android = json.loads((build / "generate" / "android" / "mobilekit-sdk.json").read_text())
    assert android["model"]["tflite_variant"] == INT4EMB
