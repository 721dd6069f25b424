"""What each command does, without any click: load config, run the pipeline, return results."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterable

from mobilekit.config import load_config
from mobilekit.errors import ConfigError, ToolMissingError, UsageError
from mobilekit.progress import Progress
from mobilekit.runlog import RunLog


def init_project(model_folder: Path, output: Path, *, name: str | None, task: str | None, force: bool) -> Path:
    from mobilekit.config.template import inspect_model_folder, render_init

    model_folder = Path(model_folder)
    if not model_folder.is_dir():
        raise ConfigError(f"model folder {model_folder} does not exist", hint="pass the folder that holds config.json and the weights")
    output = Path(output)
    if output.is_dir():
        output = output / "mobilekit.toml"
    if output.exists() and not force:
        raise ConfigError(f"{output} already exists", hint="pass --force to overwrite it, or -o to write elsewhere")
    found = inspect_model_folder(model_folder)
    text = render_init(
        model_dir=model_folder,
        config_path=output,
        name=name or model_folder.resolve().name,
        task=task or found["task"],
        labels=found["labels"] if (task or found["task"]) == "text-classification" else None,
    )
    from mobilekit.fsutil import atomic_write_text

    atomic_write_text(output, text)
    return output


def init_example(name: str, directory: Path) -> Path:
    from mobilekit.example_projects import copy_example

    return copy_example(name, directory)


def setup(components: list[str]) -> None:
    """Runs the packaged setup script; from a wheel the Python stack goes into this interpreter's environment."""
    from mobilekit.toolchains.process import run_attached
    from mobilekit.toolchains.versions import SETUP_DIR, checkout_root

    known = sorted(p.stem for p in (SETUP_DIR / "components").glob("*.sh") if p.stem != "lib")
    unknown = [c for c in components if c not in known]
    if unknown:
        raise UsageError(f"unknown setup component {', '.join(unknown)}", hint=f"the components are: {' '.join(known)}")
    env = dict(os.environ)
    if checkout_root() is None:
        env["MOBILEKIT_PYTHON_TARGET"] = sys.executable
    code = run_attached(["bash", SETUP_DIR / "install.sh", *components], env=env)
    if code != 0:
        what = " ".join(components) or "all components"
        raise ToolMissingError(f"setup of {what} failed (exit {code})", hint="the lines above say which step failed; fix it and rerun")


def _load(config_path: Path, overrides: Iterable[str], build_dir: Path | None):
    overrides = list(overrides)
    if build_dir is not None:
        overrides.append(f"project.build_dir={_toml_string(str(Path(build_dir).resolve()))}")
    return load_config(config_path, overrides)


def build(config_path, overrides, *, build_dir=None, start=None, stop=None, force=False, strict=False,
          run_log: RunLog | None = None, echo: Callable[[str], None] = lambda m: None):
    from mobilekit.pipeline import Pipeline, select_stages

    config = _load(config_path, overrides, build_dir)
    if run_log is not None:
        run_log.attach(config.build_dir, "build")
    selected = select_stages(start, stop)
    pipeline = Pipeline(config, progress=Progress(notes=echo), on_event=lambda stage, msg: echo(f"[{stage}] {msg}"))
    return pipeline.run(selected, force=set(selected) if force else set(), strict=strict or config.verify.strict)


def run_stage(stage: str, config_path, overrides, *, build_dir=None, force=False, strict=False,
              run_log: RunLog | None = None, echo: Callable[[str], None] = lambda m: None):
    """One stage, after bringing the stages before it up to date (they are cached when unchanged)."""
    from mobilekit.pipeline import Pipeline, select_stages

    config = _load(config_path, overrides, build_dir)
    if run_log is not None:
        run_log.attach(config.build_dir, stage)
    selected = select_stages(None, stage)
    pipeline = Pipeline(config, progress=Progress(notes=echo), on_event=lambda name, msg: echo(f"[{name}] {msg}"))
    result = pipeline.run(selected, force={stage} if force else set(), strict=strict or config.verify.strict)
    return result


def torchrun_plan(config_path, overrides, *, build_dir=None) -> list[str]:
    """`mobilekit torchrun`: the training launch `mobilekit build` would make, printed, not run."""
    from mobilekit.pipeline import Pipeline
    from mobilekit.scale.launch import plan_lines

    config = _load(config_path, overrides, build_dir)
    stages = [name for name, stage in Pipeline(config).stages.items() if stage.TRAINS and stage.skip_reason(config) is None]
    return plan_lines(config, stages)


def doctor():
    from mobilekit.toolchains.tools import TOOLS

    return [tool.status() for tool in TOOLS]


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
