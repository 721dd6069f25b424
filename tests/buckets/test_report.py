"""The report's length-bucket table, from verify's per-bucket verdicts and bench's per-bucket figures."""

from __future__ import annotations

from mobilekit.stages.report import _bucket_rows
from mobilekit.templating import environment

VERIFY = {"buckets": {
    "16": {"rows": 40, "truncated": False, "passed": True, "max_abs_diff": 0.011},
    "32": {"rows": 60, "truncated": False, "passed": True, "max_abs_diff": 0.012},
    "128": {"rows": 64, "truncated": False, "passed": False, "max_abs_diff": 0.5},
}}
HOST = {"tflite-dynamic-int8": {"p50_ms": 20.0}, "tflite-dynamic-int8/seq-16": {"p50_ms": 2.0},
        "tflite-dynamic-int8/seq-32": {"p50_ms": 4.0}, "tflite-dynamic-int8/mix": {"p50_ms": 2.5}}
EMU = {"tflite-dynamic-int8": {"instructions_per_inference": 2e8, "outputs_match": True},
       "tflite-dynamic-int8/seq-16": {"instructions_per_inference": 2.2e7, "outputs_match": True},
       "tflite-dynamic-int8/mix": {"instructions_per_inference": 2.5e7, "outputs_match": True}}


def test_rows_per_bucket_and_the_mix():
    rows = _bucket_rows("tflite-dynamic-int8", VERIFY, HOST, EMU)
    assert [r["bucket"] for r in rows] == ["16", "32", "128", "mix"]
    assert rows[0]["host_p50_ms"] == 2.0 and rows[0]["arm64_instructions"] == 2.2e7 and rows[0]["passed"]
    assert rows[2]["host_p50_ms"] == 20.0 and not rows[2]["passed"]  # the largest bucket is the variant itself
    assert rows[3]["host_p50_ms"] == 2.5 and rows[3]["texts"] is None
    assert rows[1]["arm64_instructions"] is None
    assert _bucket_rows("tflite-float32", {"buckets": {"128": VERIFY["buckets"]["128"]}}, HOST, EMU) == []
    assert _bucket_rows("onnx", {}, HOST, EMU) == []


def test_the_report_shows_the_bucket_table():
    variant = {"name": "tflite-dynamic-int8", "bytes": 1, "size_ratio": None, "max_abs_diff": 0.01, "agreement": 0.99,
               "agreement_kind": "mean cosine", "accuracy": None, "accuracy_change_points": None, "checks": [],
               "ships": True, "reasons": [], "host_p50_ms": 20.0, "host_p90_ms": 21.0, "host_ratio": None,
               "arm64_instructions": 2e8, "arm64_outputs_match": True,
               "buckets": _bucket_rows("tflite-dynamic-int8", VERIFY, HOST, EMU)}
    data = {
        "project": "p", "version": "1", "mobilekit_version": "0", "generated_at": "now",
        "model": {"task": "t", "model_type": "bert", "hidden_size": 4, "sequence_length": 128, "labels": None,
                  "tokenizer": {"do_lower_case": True, "strip_accents": None}},
        "original_bytes": None, "verification": {"samples": 64, "sample_source": "s", "accuracy_budget": 1, "labelled": False},
        "variants": [variant], "bench": None, "sdks": {}, "charts": {}, "compression": None,
    }
    html = environment("report", autoescape=True).get_template("report.html.j2").render(**data)
    assert 'id="buckets"' in html and 'data-bucket="mix"' in html and 'data-bucket="16"' in html
    assert "22 M" in html and "2.000 ms" in html and "FAIL" in html
