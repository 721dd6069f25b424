"""report: one self-contained HTML page and the same data as JSON."""

from __future__ import annotations

import json
import time
from typing import Any

from mobilekit import __version__
from mobilekit.config import Config
from mobilekit.stages.base import ArtifactRef, Stage, StageContext, StageOutput, register_stage
from mobilekit.stages.convert import tflite_artifact


@register_stage
class ReportStage(Stage):
    NAME = "report"
    SUMMARY = "write the HTML and JSON build report"

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        refs = {"verify": ArtifactRef("verify", "results"), "onnx": ArtifactRef("export", "onnx")}
        for variant in config.convert.tflite:
            refs[f"tflite-{variant}"] = ArtifactRef("convert", tflite_artifact(variant))
        return refs

    def parameters(self, config: Config) -> dict[str, Any]:
        return {"project": config.project.name, "version": config.project.version}

    def run(self, ctx: StageContext) -> StageOutput:
        from mobilekit.templating import environment

        verify = json.loads(ctx.inputs["verify"].read_text(encoding="utf-8"))
        model = ctx.input_metadata["onnx"]
        rows = []
        for name, result in verify["variants"].items():
            path = ctx.inputs[name if name != "onnx" else "onnx"]
            rows.append({"name": name, "bytes": path.stat().st_size, **result})
        data = {
            "project": ctx.config.project.name,
            "version": ctx.config.project.version,
            "mobilekit_version": __version__,
            "generated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "model": model,
            "verification": {k: v for k, v in verify.items() if k != "variants"},
            "variants": rows,
        }
        (ctx.out_dir / "report.json").write_text(json.dumps(data, indent=2, default=float) + "\n", encoding="utf-8")
        html = environment("report", autoescape=True).get_template("report.html.j2").render(**data)
        (ctx.out_dir / "report.html").write_text(html, encoding="utf-8")
        return StageOutput(
            artifacts={"html": ctx.out_dir / "report.html", "json": ctx.out_dir / "report.json"},
            metrics={"variants": len(rows)},
        )
