"""Routing rows to length buckets (numpy only, no model): cut, routes, references, bench mix."""

from __future__ import annotations

import numpy as np
import pytest

from mobilekit.bench.buckets import host_specs, mix_figures, shares, smaller_buckets
from mobilekit.errors import ModelInputError
from mobilekit.runners.bucket_runner import cut, fitting_rows, routes, token_counts
from mobilekit.verify.buckets import BucketReferences


def _encodings(lengths, seq=16):
    mask = np.zeros((len(lengths), seq), dtype=np.int32)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    ids = mask * (np.arange(seq) + 5)
    return {"input_ids": ids.astype(np.int32), "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}


def test_rows_go_to_the_smallest_bucket_that_holds_them():
    enc = _encodings([2, 4, 5, 8, 9, 16])
    assert token_counts(enc).tolist() == [2, 4, 5, 8, 9, 16]
    assert routes(enc, (4, 8, 16)).tolist() == [4, 4, 8, 8, 16, 16]
    assert fitting_rows(enc, 4, (4, 8, 16)).tolist() == [0, 1]
    assert fitting_rows(enc, 16, (4, 8, 16)).tolist() == [0, 1, 2, 3, 4, 5]


def test_cut_drops_only_padding_unless_told():
    enc = _encodings([2, 4, 9])
    small = cut(enc, [0, 1], 4)
    assert small["input_ids"].shape == (2, 4) and small["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    assert small["input_ids"].flags["C_CONTIGUOUS"]
    with pytest.raises(ModelInputError, match="drop real tokens"):
        cut(enc, [2], 8)
    assert cut(enc, [2], 8, truncate=True)["attention_mask"].sum() == 8


def test_routed_reference_takes_each_row_from_its_bucket():
    enc = _encodings([2, 6, 12])
    buckets = (4, 8, 16)
    rows = {b: fitting_rows(enc, b, buckets) for b in buckets}
    outputs = {b: np.full((len(rows[b]), 1), float(b), dtype=np.float32) for b in buckets}
    refs = BucketReferences(buckets, rows, outputs, frozenset())
    assert refs.routed(routes(enc, buckets)).ravel().tolist() == [4.0, 8.0, 16.0]


def test_bench_mix_weights_the_bucket_counts_by_the_texts_shares():
    enc = _encodings([3, 3, 3, 10])
    share = shares(enc, [4, 8, 16])
    assert share == {4: 0.75, 8: 0.0, 16: 0.25}
    figures = {b: {"instructions_per_inference": b * 100, "deterministic": True, "outputs_match": True,
                   "arm_vs_host_max_abs_diff": 0.0, "arm_vs_host_tolerance": 1e-4} for b in (4, 8, 16)}
    mix = mix_figures(figures, share)
    assert mix["instructions_per_inference"] == pytest.approx(0.75 * 400 + 0.25 * 1600)
    assert mix["outputs_match"] and mix["deterministic"]
    figures[8]["outputs_match"] = False
    assert not mix_figures(figures, share)["outputs_match"]


def test_host_specs_cover_the_smaller_buckets_and_the_mix(tmp_path):
    sigs = {"128": "serving_default", "16": "seq_16", "32": "seq_32"}
    assert smaller_buckets(sigs) == {16: "seq_16", 32: "seq_32"}
    specs = host_specs("tflite-float32", "float32", tmp_path / "m.tflite", sigs)
    assert [s.key for s in specs] == ["tflite-float32/seq-16", "tflite-float32/seq-32", "tflite-float32/mix"]
    assert specs[0].signature == "seq_16" and specs[0].length == 16 and specs[-1].buckets == sigs
    assert host_specs("tflite-float32", "float32", tmp_path / "m.tflite", {"128": "serving_default"}) == []


def test_verify_takes_the_buckets_of_a_bucketed_variant_not_an_opted_out_core_ml_model():
    from types import SimpleNamespace

    from mobilekit.stages.verify import _length_buckets

    ctx = SimpleNamespace(config=SimpleNamespace(model=SimpleNamespace(sequence_length=16)), input_metadata={
        "onnx": {},
        "coreml-float16": {"length_buckets": [16]},  # convert.coreml_length_buckets = false
        "tflite-float32": {"length_buckets": [4, 8, 16]},
    })
    assert _length_buckets(ctx) == (4, 8, 16)
    ctx.input_metadata.pop("tflite-float32")
    assert _length_buckets(ctx) == (16,)
