"""The report on a tiny real build: JSON data, and the HTML rendered in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from mobilekit.report import svg
from tests.bench.project import VARIANTS, built_project
from tests.conftest import toolchain_missing

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        toolchain_missing("chromium is not installed (bash setup/install.sh chromium)")
    return path


@pytest.fixture(scope="module")
def report_dir():
    from mobilekit.config.loader import load_config
    from mobilekit.pipeline import Pipeline

    root = built_project()
    Pipeline(load_config(root / "mobilekit.toml")).run(["report"], force={"report"})
    return root / "build" / "report"


@pytest.mark.slow
def test_report_json_has_every_variant_with_bench_figures(report_dir):
    data = json.loads((report_dir / "report.json").read_text())
    rows = {r["name"]: r for r in data["variants"]}
    assert set(rows) == {"onnx", *(f"tflite-{v}" for v in VARIANTS)}
    for name in (f"tflite-{v}" for v in VARIANTS):
        row = rows[name]
        assert row["bytes"] > 1000 and row["size_ratio"] > 0
        assert row["accuracy"] is not None and row["accuracy_change_points"] is not None
        assert row["host_p50_ms"] > 0 and row["arm64_instructions"] > 0 and row["arm64_outputs_match"] is True
    assert rows["onnx"]["arm64_instructions"] is None  # ONNX does not run in the TFLite emulator tier
    assert data["bench"]["host"]["models"]["torch"]["label"] == "PyTorch (original)"
    assert data["sdks"] == {}  # android and ios are disabled in this project
    assert data["compression"] is None  # distill is disabled in this project
    assert 'id="compression"' not in (report_dir / "report.html").read_text()


@pytest.mark.slow
def test_report_renders_in_headless_chromium_with_tables_and_charts(report_dir, tmp_path):
    chromium = _chromium()
    html = report_dir / "report.html"
    text = html.read_text()
    assert not re.search(r"""(src|href)=["']https?://""", text), "the report must not load external assets"
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", html.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
    for table in ("model", "variants", "host", "arm64"):
        assert f'id="{table}"' in dom, table
    for variant in VARIANTS:
        assert f'data-variant="tflite-{variant}"' in dom
    charts = dict(re.findall(r'<svg[^>]*id="chart-([\w-]+)"[^>]*data-count="(\d+)"', dom))
    assert set(charts) == {"quality-vs-size", "quality-vs-arm64", "host-latency", "arm64-breakdown"}
    assert int(charts["quality-vs-size"]) == len(VARIANTS) + 1  # onnx has a size and an accuracy too
    assert int(charts["quality-vs-arm64"]) == len(VARIANTS)
    assert int(charts["host-latency"]) == 2 + 2 * len(VARIANTS)  # torch, onnx, variants, XNNPACK-off diagnostics
    assert "host CPU" in dom and "not a phone" in dom

    shot = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1200,3000",
                        f"--screenshot={shot}", html.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_charts_without_data_are_left_out():
    assert svg.scatter([{"label": "a", "x": None, "y": 1.0}], title="t", x_label="x", y_label="y", chart_id="c") == ""
    assert svg.bars([], title="t", value_label="v", chart_id="c") == ""
    chart = svg.scatter([{"label": "a<b", "x": 1.0, "y": 1.0}], title="t & u", x_label="x", y_label="y", chart_id="c")
    assert 'data-count="1"' in chart and "a&lt;b" in chart and "t &amp; u" in chart
