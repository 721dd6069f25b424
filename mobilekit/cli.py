"""The `mobilekit` command line: thin click commands over ``mobilekit.app``.

Only ``main`` turns errors into messages and exit codes; nothing below it prints or exits.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path

import click

from mobilekit import __version__
from mobilekit.errors import INTERNAL_ERROR_EXIT_CODE, INTERRUPTED_EXIT_CODE, MobilekitError
from mobilekit.runlog import RunLog

STAGES = ("finetune", "distill", "export", "convert", "verify", "bench", "generate", "package", "report")
JSON_STAGES = {"verify", "bench"}
STRICT_STAGES = {"verify"}

log = logging.getLogger("mobilekit.cli")


class State:
    """What one invocation shares between the command and ``main``'s error handling."""

    def __init__(self):
        self.run_log = RunLog()
        self.json = False
        self.quiet = False


_state = State()


def _config_options(fn):
    fn = click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), default=Path("mobilekit.toml"), show_default=True,
                      help="The project's mobilekit.toml (or the folder holding it).")(fn)
    fn = click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
                      help="Override a config key (repeatable), e.g. --set model.sequence_length=64.")(fn)
    fn = click.option("--build-dir", type=click.Path(path_type=Path), default=None, help="Override project.build_dir.")(fn)
    fn = click.option("-q", "--quiet", is_flag=True, help="Print only errors (and --json output).")(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mobilekit")
def cli():
    """Hugging Face text model -> verified TFLite / Core ML models -> Android and iOS SDKs.

    Run `mobilekit init MODEL_FOLDER` to write a mobilekit.toml, then `mobilekit build`.
    """


@cli.command()
@click.argument("model_folder", type=click.Path(path_type=Path), required=False)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("mobilekit.toml"), show_default=True)
@click.option("--name", default=None, help="Project name (default: the model folder's name).")
@click.option("--task", type=click.Choice(["text-classification", "sentence-embedding", "text-generation"]), default=None,
              help="Default: what the model's config.json says (a causal LM, a classification head, or an encoder).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--example", default=None, metavar="NAME",
              help="Instead of MODEL_FOLDER: copy a built-in example (minilm-embeddings, smollm2-chat) into --dir.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None, help="Where --example goes (default: ./NAME).")
def init(model_folder, output, name, task, force, example, directory):
    """Write a commented mobilekit.toml for MODEL_FOLDER (or copy a built-in example)."""
    from mobilekit import app
    from mobilekit.errors import UsageError

    if (model_folder is None) == (example is None):
        raise UsageError("pass either MODEL_FOLDER or --example NAME", hint="e.g. mobilekit init path/to/hf-model-folder")
    if example is not None:
        path = app.init_example(example, directory or Path(example))
    else:
        path = app.init_project(model_folder, output, name=name, task=task, force=force)
    click.echo(f"wrote {path}; next: mobilekit build -c {path}", err=True)


@cli.command()
@click.argument("components", nargs=-1)
def setup(components):
    """Install the toolchains a build needs (all, or the COMPONENTS named), cached under $MOBILEKIT_HOME.

    Components: python litert-torch kotlin android swift arm64 chromium example-weights smollm2.
    From an installed wheel, `python` installs the pinned stack into this environment.
    """
    from mobilekit import app

    app.setup(list(components))


@cli.command()
@_config_options
@click.option("--from", "start", type=click.Choice(STAGES), default=None, help="First stage to run (earlier ones must be up to date).")
@click.option("--to", "stop", type=click.Choice(STAGES), default=None, help="Last stage to run.")
@click.option("--force", is_flag=True, help="Rerun the selected stages even if nothing changed.")
@click.option("--strict", is_flag=True, help="Fail (exit 7) when verification rejects a variant.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("--baseline", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Earlier bench.json: fail (exit 8) when ARM64 instructions per inference grew past bench.max_regression_percent.")
def build(config_path, overrides, build_dir, quiet, start, stop, force, strict, as_json, baseline):
    """Run every stage (those already up to date are skipped)."""
    from mobilekit import app

    if baseline is not None:
        overrides = (*overrides, f"bench.baseline={baseline.resolve()}")
    _state.json, _state.quiet = as_json, quiet
    result = app.build(config_path, overrides, build_dir=build_dir, start=start, stop=stop, force=force, strict=strict,
                       run_log=_state.run_log, echo=_echo)
    _finish(result)


def _stage_command(stage: str, summary: str):
    @_config_options
    @click.option("--force", is_flag=True, help=f"Rerun {stage} even if nothing changed.")
    def command(config_path, overrides, build_dir, quiet, force, as_json=False, strict=False, baseline=None):
        from mobilekit import app

        if baseline is not None:  # an earlier bench.json, relative to where the command runs
            overrides = (*overrides, f"bench.baseline={baseline.resolve()}")
        _state.json, _state.quiet = as_json, quiet
        result = app.run_stage(stage, config_path, overrides, build_dir=build_dir, force=force, strict=strict,
                               run_log=_state.run_log, echo=_echo)
        _finish(result)

    if stage in STRICT_STAGES:
        command = click.option("--strict", is_flag=True, help="Fail (exit 7) when a variant is rejected.")(command)
    if stage == "bench":
        command = click.option("--baseline", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
                               help="Earlier bench.json: fail (exit 8) when ARM64 instructions per inference grew past bench.max_regression_percent.")(command)
    if stage in JSON_STAGES:
        command = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")(command)
    command.__doc__ = f"{summary[0].upper()}{summary[1:]} (earlier stages run first if out of date)."
    return cli.command(name=stage)(command)


_SUMMARIES = {
    "finetune": "fine-tune a teacher classifier on the labelled data",
    "distill": "distill a smaller student from the teacher",
    "export": "export the model to ONNX and check it in onnxruntime",
    "convert": "build the TensorFlow Lite and Core ML variants",
    "verify": "check every variant against the original: parity and task accuracy",
    "bench": "benchmark every variant on the host CPU and the ARM64 emulator",
    "generate": "render the Android library and the Swift package",
    "package": "assemble the .aar + POM and the Swift package zip",
    "report": "write the HTML and JSON build report",
}
for _stage in STAGES:
    _stage_command(_stage, _SUMMARIES[_stage])


@cli.command()
@_config_options
def torchrun(config_path, overrides, build_dir, quiet):
    """Print the torchrun command finetune and distill would start with [compute], and what to run on the other machines (a dry run: nothing starts)."""
    from mobilekit import app

    _state.quiet = quiet
    for line in app.torchrun_plan(config_path, overrides, build_dir=build_dir):
        click.echo(line)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the tool list as JSON.")
def doctor(as_json):
    """List every external tool a build may need: found or not, version, how to install."""
    from mobilekit import app

    statuses = app.doctor()
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in statuses], indent=2))
        return
    for status in statuses:
        mark = "ok " if status.found else ("-- " if status.optional else "MISSING")
        version = f" {status.version}" if status.version else ""
        click.echo(f"{mark:8}{status.name}{version}  ({status.purpose})")
        if status.found:
            click.echo(f"        at {status.location}")
        else:
            click.echo(f"        {status.problem}; install: {status.install}")


def _echo(message: str) -> None:
    if not _state.quiet:
        click.echo(message, err=True)


def _finish(result) -> None:
    if _state.json:
        click.echo(json.dumps({"ok": True, **result.summary()}, indent=2))


# Library chatter that would bury mobilekit's own progress lines (weight-loading bars, TF banners).
# Set before any heavy import; a user's explicit setting wins. The model is always a local folder,
# so the hub is never needed.
_QUIET_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TQDM_DISABLE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def main(argv: list[str] | None = None) -> None:
    for name, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    state = _state
    try:
        code = cli.main(args=argv, prog_name="mobilekit", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except click.exceptions.Abort:
        _fail_interrupted(state)
    except KeyboardInterrupt:
        _fail_interrupted(state)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except MobilekitError as e:
        log.debug("failed: %s", traceback.format_exc())
        state.run_log.close()
        if state.json:
            click.echo(json.dumps({"ok": False, "error": e.to_dict()}, indent=2))
        click.echo(f"error: {e.message}", err=True)
        if e.hint:
            click.echo(f"hint: {e.hint}", err=True)
        if state.run_log.path:
            click.echo(f"log: {state.run_log.path}", err=True)
        sys.exit(e.EXIT_CODE)
    except Exception as e:  # a bug in mobilekit: keep the traceback, say where it is
        log.error("internal error:\n%s", traceback.format_exc())
        state.run_log.close()
        if state.json:
            click.echo(json.dumps({"ok": False, "error": {"kind": "internal", "message": str(e), "exit_code": INTERNAL_ERROR_EXIT_CODE}}))
        click.echo(f"internal error: {type(e).__name__}: {e}", err=True)
        where = state.run_log.path or "(no build directory yet)"
        click.echo(f"this is a bug in mobilekit; the traceback is in {where}", err=True)
        sys.exit(INTERNAL_ERROR_EXIT_CODE)
    finally:
        state.run_log.close()


def _fail_interrupted(state: State) -> None:
    log.warning("interrupted by the user")
    state.run_log.close()
    click.echo("interrupted; finished stages are kept, the interrupted one reruns next time", err=True)
    sys.exit(INTERRUPTED_EXIT_CODE)
