"""Small real stages for exercising the pipeline engine: they read and write real files.

  upstream (reads the model folder, uses model.sequence_length)
    -> middle (reads upstream, uses verify.samples)
    -> sdk (reads middle, uses android.class_name)
"""

from __future__ import annotations

import os
import time

from mobilekit.errors import ConversionError
from mobilekit.stages.base import SOURCE, ArtifactRef, Stage, StageOutput

RUNS: list[str] = []  # names of stages that ran, in order (in-process tests)


class Upstream(Stage):
    NAME = "upstream"
    SUMMARY = "test"

    def inputs(self, config):
        return {"model": ArtifactRef(SOURCE, "model")}

    def parameters(self, config):
        return {"sequence_length": config.model.sequence_length}

    def run(self, ctx):
        RUNS.append(self.NAME)
        source = (ctx.inputs["model"] / "config.json").read_text()
        out = ctx.out_dir / "model.bin"
        out.write_text(f"{source}|{ctx.config.model.sequence_length}")
        return StageOutput({"model": out}, metadata={"model": {"sequence_length": ctx.config.model.sequence_length}})


class Middle(Stage):
    NAME = "middle"
    SUMMARY = "test"

    def inputs(self, config):
        return {"model": ArtifactRef("upstream", "model")}

    def parameters(self, config):
        return {"samples": config.verify.samples}

    def run(self, ctx):
        RUNS.append(self.NAME)
        if os.environ.get("FAKE_MIDDLE_FAIL"):
            raise ConversionError("converter exploded", hint="try again")
        folder = ctx.out_dir / "variants"
        folder.mkdir()
        for i in range(3):
            (folder / f"v{i}.txt").write_text(ctx.inputs["model"].read_text() + f"|{i}|{ctx.config.verify.samples}")
            # A long stage: the kill test stops the process here, mid-write.
            if os.environ.get("FAKE_MIDDLE_SLOW"):
                (ctx.out_dir.parents[2] / "middle-started").write_text("")
                time.sleep(60)
        return StageOutput({"variants": folder}, metrics={"count": 3, "seen_metadata": ctx.input_metadata["model"]})


class Sdk(Stage):
    NAME = "sdk"
    SUMMARY = "test"

    def inputs(self, config):
        return {"variants": ArtifactRef("middle", "variants")}

    def parameters(self, config):
        return {"class_name": config.android.class_name}

    def run(self, ctx):
        RUNS.append(self.NAME)
        out = ctx.out_dir / f"{ctx.config.android.class_name}.kt"
        files = sorted(p.name for p in ctx.inputs["variants"].iterdir())
        out.write_text(f"class {ctx.config.android.class_name} // {files}")
        return StageOutput({"source": out})


ORDER = ("upstream", "middle", "sdk")


def make_pipeline(config, **kwargs):
    from mobilekit.pipeline import Pipeline

    return Pipeline(config, stages={cls.NAME: cls() for cls in (Upstream, Middle, Sdk)}, order=ORDER, **kwargs)


if __name__ == "__main__":  # used by the kill -9 test: run the fake pipeline on a config file
    import sys

    from mobilekit.config import load_config

    make_pipeline(load_config(sys.argv[1])).run(list(ORDER))
