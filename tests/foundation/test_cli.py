"""The command line as a user meets it: help, exit codes, messages, --json, init, doctor."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mobilekit.toolchains.tools import ANDROID_JAR_TOOL
from tests.conftest import REPO_ROOT, run_cli

COMMANDS = ["init", "build", "finetune", "distill", "export", "convert", "verify", "bench", "generate", "package", "report", "doctor"]


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_is_instant_and_imports_nothing_heavy(command):
    code = (
        "import sys, time; t=time.monotonic()\n"
        "from mobilekit.cli import cli\n"
        f"try:\n    cli.main(args=[{command!r}, '--help'], standalone_mode=False)\n"
        "except SystemExit: pass\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'onnx', 'onnxruntime', 'transformers', 'coremltools', 'numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy, 'SECONDS', time.monotonic() - t)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert "Usage:" in result.stdout
    assert "HEAVY [] " in result.stdout, result.stdout
    assert float(result.stdout.split("SECONDS")[1]) < 2.0


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and "mobilekit" in result.stdout


def test_config_error_exit_code_message_and_hint(project, tmp_path):
    path = project(model={"sequence_length": 0})
    result = run_cli("build", "-c", str(path))
    assert result.returncode == 3
    assert "error: mobilekit.toml: model.sequence_length = 0 is invalid: must be at least 2" in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path):
    result = run_cli("build", cwd=tmp_path)
    assert result.returncode == 3
    assert "no config file" in result.stderr and "mobilekit init" in result.stderr


def test_bad_override_and_bad_flag(project):
    path = project()
    result = run_cli("build", "-c", str(path), "--set", "model.sequence_length=-4")
    assert result.returncode == 3 and "at least 2" in result.stderr
    result = run_cli("build", "-c", str(path), "--to", "compile")
    assert result.returncode == 2 and "compile" in result.stderr
    result = run_cli("build", "-c", str(path), "--from", "verify", "--to", "export")
    assert result.returncode != 0 and "comes after" in result.stderr


def test_input_error_exit_code_and_log_file(project, tmp_path):
    # A folder that is not a usable model: the export stage refuses it with exit code 4.
    path = project(convert={"tflite": []})
    result = run_cli("export", "-c", str(path))
    assert result.returncode == 4, result.stderr
    assert "weights" in result.stderr
    assert "log: " in result.stderr
    log_path = result.stderr.split("log: ")[1].strip()
    assert "ModelInputError" in open(log_path).read()


def test_json_error_output_is_machine_readable(project):
    path = project(model={"task": "nope"})
    result = run_cli("build", "-c", str(path), "--json")
    assert result.returncode == 3
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and payload["error"]["kind"] == "config" and payload["error"]["exit_code"] == 3


def test_init_writes_a_config_that_loads(tmp_path):
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"], "id2label": {"0": "neg", "1": "pos"}}))
    result = run_cli("init", str(model), "-o", str(tmp_path / "mobilekit.toml"))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "mobilekit.toml").read_text()
    assert 'task = "text-classification"' in text and 'labels = ["neg", "pos"]' in text
    from mobilekit.config import load_config

    config = load_config(tmp_path / "mobilekit.toml")
    assert config.model.labels == ("neg", "pos") and config.android.class_name == "MyModelClassifier"
    again = run_cli("init", str(model), "-o", str(tmp_path / "mobilekit.toml"))
    assert again.returncode == 3 and "already exists" in again.stderr and "--force" in again.stderr


def test_init_rejects_a_folder_that_is_not_a_model(tmp_path):
    result = run_cli("init", str(tmp_path))
    assert result.returncode == 4 and "config.json" in result.stderr


def test_doctor_lists_every_tool_with_an_install_command():
    result = run_cli("doctor", "--json")
    assert result.returncode == 0
    tools = {t["name"]: t for t in json.loads(result.stdout)}
    assert {"torch", "onnx2tf", "kotlinc", ANDROID_JAR_TOOL, "aapt2", "swift (trixie chroot)", "qemu-aarch64"} <= set(tools)
    assert tools["torch"]["found"] and tools["torch"]["version"] == "2.13.0+cpu"
    for tool in tools.values():
        assert tool["install"]
        if not tool["found"]:
            assert tool["problem"]
    human = run_cli("doctor")
    assert "torch 2.13.0+cpu" in human.stdout


def test_interrupt_exits_130_and_keeps_the_build_consistent(project, tmp_path):
    import os
    import signal
    import time

    path = project()
    code = (
        "import signal, sys, time\n"
        # Ctrl-C in a foreground terminal, even when this test runs as a background job (which
        # starts with SIGINT ignored, and the child would inherit that).
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "sys.argv = ['mobilekit']\n"
        "from mobilekit import cli\n"
        "from tests.foundation import fake_stages\n"
        "from mobilekit import app\n"
        "from mobilekit.config import load_config\n"
        "def fake_build(config_path, overrides, **kw):\n"
        "    return fake_stages.make_pipeline(load_config(config_path)).run(list(fake_stages.ORDER))\n"
        "app.build = fake_build\n"
        f"cli.main(['build', '-c', {str(path)!r}])\n"
    )
    env = {**os.environ, "FAKE_MIDDLE_SLOW": "1", "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True)
    marker = tmp_path / "build" / "middle-started"
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    assert manifest["stages"]["middle"]["status"] == "interrupted"
    assert manifest["stages"]["upstream"]["status"] == "ok"
