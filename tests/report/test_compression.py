"""The report's Compression section: a real distill -> export -> convert -> verify -> report run on a
tiny classifier (with a trimmed vocabulary and a Core ML variant), and the section's data for the
shapes evaluation.json can take (sentence embeddings, missing keys)."""

from __future__ import annotations

import json
import re

import pytest

from mobilekit.stages.report import compression_section
from tests.compress.helpers import write_project, write_sentiment_csv
from tests.tiny_models import make_trained_tiny_classifier

STAGES = ["distill", "export", "convert", "verify", "report"]


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    from mobilekit.config import load_config
    from mobilekit.pipeline import Pipeline

    root = tmp_path_factory.mktemp("report-distill")
    make_trained_tiny_classifier(root / "model")
    write_sentiment_csv(root / "data.csv", 120)
    path = write_project(
        root,
        data={"path": "data.csv", "test_fraction": 0.25},
        distill={"enabled": True, "epochs": 1, "batch_size": 16, "learning_rate": 3e-3, "trim_vocabulary": True},
        convert={"tflite": ["float32"], "coreml": ["float32"]},
        verify={"samples": 20},
        bench={"host": False, "emulator": False, "device": False},
        android={"enabled": False},
        ios={"enabled": False},
    )
    result = Pipeline(load_config(path)).run(STAGES)
    assert {o.name: o.status for o in result.outcomes} == dict.fromkeys(STAGES, "ran")
    build = root / "build"
    return {
        "manifest": json.loads((build / "manifest.json").read_text()),
        "data": json.loads((build / "report" / "report.json").read_text()),
        "html": (build / "report" / "report.html").read_text(),
    }


@pytest.mark.slow
def test_report_json_carries_the_distill_figures(distilled):
    metrics = distilled["manifest"]["stages"]["distill"]["metrics"]
    section = distilled["data"]["compression"]
    assert section["task"] == "text-classification"
    for who in ("teacher", "student", "student_trimmed"):
        assert section[who] == metrics[who], who
    assert section["shipped"] == metrics["shipped"] == "student_trimmed"
    assert section["size_ratio"] == metrics["size_ratio"] and section["layers"] == metrics["layers"]
    assert section["splits"] == metrics["splits"]
    rows = {row["key"]: row for row in section["rows"]}
    assert list(rows) == ["teacher", "student", "student_trimmed"]
    assert [row["key"] for row in section["rows"] if row["shipped"]] == ["student_trimmed"]
    assert [c["key"] for c in section["columns"]] == ["accuracy", "macro_f1", "agreement_with_teacher"]
    for who, row in rows.items():
        assert row["bytes"] == metrics[who]["safetensors_bytes"] and row["parameters"] == metrics[who]["parameters"]
        assert row["metrics"]["accuracy"] == metrics[who]["accuracy"]
    assert rows["teacher"]["size_vs_teacher"] == 1.0
    assert rows["student_trimmed"]["size_vs_teacher"] < rows["student"]["size_vs_teacher"] < 1.0
    assert section["vocabulary"] == metrics["student_trimmed"]["vocabulary"]
    assert section["tokenization"]["texts"] == metrics["splits"]["test"]


@pytest.mark.slow
def test_report_html_has_the_compression_table(distilled):
    html, metrics = distilled["html"], distilled["manifest"]["stages"]["distill"]["metrics"]
    assert html.index('id="compression"') < html.index('id="variants"')
    table = html[html.index('<table id="compression">'):]
    table = table[: table.index("</table>")]
    rows = dict(re.findall(r'<tr data-model="(\w+)">(.*?)</tr>', table, flags=re.S))
    assert list(rows) == ["teacher", "student", "student_trimmed"]
    for who, row in rows.items():
        assert "%.2f%%" % (metrics[who]["accuracy"] * 100) in row, who
        assert "%.2f MB" % (metrics[who]["safetensors_bytes"] / 1e6) in row, who
    assert "shipped" in rows["student_trimmed"] and "shipped" not in rows["student"] and "shipped" not in rows["teacher"]
    vocabulary = metrics["student_trimmed"]["vocabulary"]
    assert f"Vocabulary: {vocabulary['before']:,} &rarr; {vocabulary['after']:,} tokens" in html
    assert "tokenize differently" in html and "Layers kept: " in html


@pytest.mark.slow
def test_core_ml_variant_has_a_size(distilled):
    rows = {row["name"]: row for row in distilled["data"]["variants"]}
    assert set(rows) == {"onnx", "tflite-float32", "coreml-float32"}
    assert rows["coreml-float32"]["bytes"] > 1000 and rows["coreml-float32"]["size_ratio"] > 0
    row = re.search(r'<tr data-variant="coreml-float32">(.*?)</tr>', distilled["html"], flags=re.S).group(1)
    assert "%.2f MB" % (rows["coreml-float32"]["bytes"] / 1e6) in row


EMBEDDING = {
    "task": "sentence-embedding", "layers": [1, 3, 5], "hidden_size": 384,
    "splits": {"train": 900, "validation": 50, "test": 50, "augmented": 0},
    "teacher": {"parameters": 22713216, "safetensors_bytes": 90864192},
    "student": {"cosine_to_teacher_mean": 0.93, "cosine_to_teacher_min": 0.71, "recall_at_1": 0.96,
                "parameters": 17389824, "safetensors_bytes": 69565952},
    "shipped": "student", "size_ratio": 1.306, "quality_retained": 0.93, "seconds": 80.2,
}


def test_section_for_sentence_embeddings_shows_cosine_columns_and_no_vocabulary_line():
    section = compression_section(EMBEDDING)
    assert [c["key"] for c in section["columns"]] == ["cosine_to_teacher_mean", "cosine_to_teacher_min", "recall_at_1"]
    teacher, student = section["rows"]
    assert teacher["metrics"] == dict.fromkeys(["cosine_to_teacher_mean", "cosine_to_teacher_min", "recall_at_1"])
    assert student["shipped"] and not teacher["shipped"]
    assert section["vocabulary"] is None and section["tokenization"] is None
    assert section["quality_metric"] == "mean cosine to the teacher"
    html = _render(section)
    assert "Cosine to teacher (mean)" in html and "0.9300" in html and "96.00%" in html and "Vocabulary:" not in html


def test_section_with_every_key_missing_renders_dashes():
    assert compression_section(None) is None
    section = compression_section({"teacher": {}, "student": {"parameters": 10}, "test_source": "<b>x</b>"})
    assert section["columns"] == [] and [r["key"] for r in section["rows"]] == ["teacher", "student"]
    html = _render(section)
    assert 'id="compression"' in html and "Layers kept: -" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


def test_section_names_the_attention_heads_when_heads_were_cut():
    section = compression_section({"teacher": {}, "student": {}, "layers": [1, 3], "attention_heads": [2, 3], "heads_kept": [[0, 2], [0, 1, 3]]})
    assert "Layers kept: 1, 3 of the teacher's (counted from 0), attention heads per layer 2, 3." in _render(section)
    uncut = compression_section({"teacher": {}, "student": {}, "layers": [1], "attention_heads": [4]})
    assert "attention heads" not in _render(uncut)


def _render(compression: dict) -> str:
    """The report template with nothing but the compression section filled in."""
    from mobilekit.templating import environment

    data = {
        "project": "p", "version": "1", "mobilekit_version": "0", "generated_at": "now",
        "model": {"task": "t", "model_type": "bert", "hidden_size": 4, "sequence_length": 8, "labels": None,
                  "tokenizer": {"do_lower_case": True, "strip_accents": None}},
        "original_bytes": None, "verification": {"samples": 0, "sample_source": "s", "accuracy_budget": 1, "labelled": False},
        "variants": [], "bench": None, "sdks": {}, "charts": {}, "compression": compression,
    }
    return environment("report", autoescape=True).get_template("report.html.j2").render(**data)
