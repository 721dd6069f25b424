"""The report for a text-generation build: the LLM section with every variant's figures, its two
plots, and the compression block from whatever the finetune / distill stages recorded."""

from __future__ import annotations

import json
import re

import pytest

from tests.llm.bench_project import VARIANTS, built_llm_project, emulator_reason


@pytest.fixture(scope="module")
def report_dir():
    from mobilekit.config.loader import load_config
    from mobilekit.pipeline import Pipeline

    root = built_llm_project()
    Pipeline(load_config(root / "mobilekit.toml")).run(["report"], force={"report"})
    return root / "build" / "report"


@pytest.mark.slow
def test_report_json_has_the_llm_figures_of_every_variant(report_dir):
    data = json.loads((report_dir / "report.json").read_text())
    llm = data["llm"]
    assert llm["model"]["model_type"] == "llama" and llm["model"]["signatures"] == ["prefill_8", "prefill_16", "decode"]
    assert llm["reference"]["perplexity"] > 1 and llm["reference"]["decode_tokens_per_s_p50"] > 0
    rows = {r["name"]: r for r in llm["variants"]}
    assert set(rows) == {f"tflite-{v}" for v in VARIANTS}
    for row in rows.values():
        for key in ("bytes", "perplexity", "greedy_agreement", "top1_agreement", "ttft_ms_p50", "decode_tokens_per_s_p50",
                    "decode_vs_pytorch", "peak_memory_growth_bytes"):
            assert row[key] is not None and row[key] > 0, key
        assert row["perplexity_change_percent"] is not None and row["max_abs_diff"] is not None
        assert row["greedy_identical"] is not None and row["ships"] in (True, False)
        assert row["ships"] or row["reasons"]
        if not emulator_reason():
            assert 0 < row["arm64_instructions_per_token"] < row["arm64_instructions_per_prefill"]
    assert rows["tflite-float32"]["ships"] is True
    assert llm["compression"] is None  # neither finetune nor distill runs in this project


@pytest.mark.slow
def test_report_html_has_the_llm_section_and_both_plots(report_dir):
    html = (report_dir / "report.html").read_text()
    assert 'id="llm-variants"' in html and 'id="llm-host"' in html
    for chart in ("chart-perplexity-vs-size", "chart-tokens-vs-size"):
        match = re.search(rf'<svg[^>]*id="{chart}"[^>]*data-count="(\d+)"', html)
        assert match, chart
        assert int(match.group(1)) == len(VARIANTS) + 1  # every variant and PyTorch
    for variant in VARIANTS:
        assert f'data-variant="tflite-{variant}"' in html
    assert 'id="compression"' not in html and "Compression</h2>" not in html
    assert not re.search(r"""(src|href)=["']https?://""", html)
    if not emulator_reason():
        assert 'id="llm-arm64"' in html


def test_the_compression_block_shows_whatever_finetune_and_distill_recorded():
    from mobilekit.report.llm import compression, llm_report_data
    from mobilekit.stages.report import _header, render_report

    verify = {"samples": 4, "sample_source": "built-in", "reference_perplexity": 20.0, "perplexity_budget": 10.0,
              "min_greedy_agreement": 0.5, "variants": {"tflite-int4": {
                  "ships": False, "reasons": ["perplexity 23 vs 20 (+15.00%, budget 10%)"], "checks": [],
                  "metrics": {"perplexity": 23.0, "perplexity_increase_percent": 15.0, "greedy_agreement": 0.7,
                              "greedy_identical": 1, "greedy_prompts": 2, "top1_agreement": 0.9, "max_abs_diff": 1.5}}}}
    stages = {
        "finetune": {"metrics": {"perplexity_before": 12.5, "perplexity_after": 8.25, "epochs_run": 3, "stopped_early": True,
                                 "history": [{"epoch": 1}], "lora": {"rank": 8}}, "evaluation": None},
        # What the distill stage records (flat <model>_<figure> keys); nested per-model dicts work too.
        "distill": {"metrics": {"teacher_perplexity": 8.0, "student_perplexity": 9.5, "retention": 0.842, "layers": [0, 2],
                                "teacher_parameters": 1000, "student_parameters": 500, "student_tokens_per_second": 900.5,
                                "teacher_safetensors_bytes": 4000, "student_safetensors_bytes": 2000, "task": "text-generation"},
                    "evaluation": {"student_trimmed": {"perplexity": 9.9, "parameters": 400}, "shipped": "student_trimmed"}},
    }
    llm = llm_report_data({}, {"decoder": {"task": "text-generation", "spec": {"signatures": ["decode"]}}}, verify, None, 8000, stages)
    block = llm["compression"]
    finetune = {f["key"]: f for f in block["finetune"]["figures"]}
    assert finetune["perplexity_after"]["label"] == "Validation perplexity after" and finetune["perplexity_after"]["value"] == 8.25
    assert finetune["lora.rank"]["value"] == 8 and "history" not in finetune  # nested dicts flattened, lists left out
    teacher, student, trimmed = block["distill"]["models"]
    assert (teacher["perplexity"], teacher["bytes"], student["parameters"], student["tokens_per_second"]) == (8.0, 4000, 500, 900.5)
    assert trimmed["perplexity"] == 9.9 and trimmed["shipped"] and not student["shipped"]
    distill = {f["key"]: f for f in block["distill"]["figures"]}
    assert distill["layers"]["value"] == "0, 2" and distill["retention"]["value"] == 0.842
    assert not any(k.startswith(("teacher", "student", "task")) for k in distill)  # those are in the model table
    assert compression({}) is None and compression({"finetune": {"metrics": {}, "evaluation": None}}) is None

    data = {**_header_config(_header), "task": "text-generation", "llm": llm, "variants": llm["variants"], "sdks": {}}
    html, charts = render_report(data)
    assert 'data-compression="finetune"' in html and 'data-compression="distill"' in html
    assert "Validation perplexity after" in html and "8.25" in html and "Teacher layers kept" in html
    assert "rejected" in html and "+15.00%" in html
    assert set(charts) == {"perplexity-vs-size"}  # no bench: no speed plot, and no variant size on disk


def _header_config(header):
    from types import SimpleNamespace

    return header(SimpleNamespace(project=SimpleNamespace(name="Tiny", version="0.1.0")))
