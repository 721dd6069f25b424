"""mobilekit as a user installs it: the wheel into a fresh virtual environment outside the
checkout, `mobilekit setup`, then `mobilekit init` and `build` from a folder of the user's.

The toolchains come from the shared cache ($MOBILEKIT_HOME), so `setup` of kotlin, android and
swift is a quick check; `setup python` really installs the pinned stack into the new environment
(about 90 s from pip's cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from setuptools import find_packages

from tests.conftest import REPO_ROOT, write_toml
from tests.tiny_models import make_trained_tiny_classifier, sentiment_samples

pytestmark = pytest.mark.slow


def test_the_package_list_is_every_package_in_the_tree():
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert listed - {"mobilekit.bundled_examples"} == set(find_packages(str(REPO_ROOT), include=["mobilekit", "mobilekit.*"]))


def _run(argv, *, cwd, env, timeout=900) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{argv} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _source_tree(destination: Path) -> Path:
    """The checkout's files as a clean clone would have them (tracked and new, never ignored outputs)."""
    files = subprocess.run(["git", "-C", REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment holding the built wheel and the pinned stack; returns (bin, env)."""
    root = tmp_path_factory.mktemp("wheel")
    source = _source_tree(root / "source")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", source, "-w", root / "dist"], cwd=root, env=env)
    wheel = next((root / "dist").glob("mobilekit-*.whl"))
    base_python = getattr(sys, "_base_executable", None) or shutil.which("python3.11")
    _run([base_python, "-m", "venv", root / "venv"], cwd=root, env=env)
    bin_dir = root / "venv" / "bin"
    _run([bin_dir / "python", "-m", "pip", "install", "-q", wheel], cwd=root, env=env)
    _run([bin_dir / "mobilekit", "setup", "python", "kotlin", "android", "swift"], cwd=root, env=env, timeout=1800)
    return bin_dir, env, wheel


def test_the_wheel_carries_every_resource(installed):
    _, _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for resource in ("mobilekit/templates/android/template.json", "mobilekit/templates/ios/template.json",
                     "mobilekit/templates/report/report.html.j2", "mobilekit/templates/android/llm/LanguageModel.kt",
                     "mobilekit/setup/install.sh", "mobilekit/setup/swift-run.sh", "mobilekit/setup/versions.env",
                     "mobilekit/setup/components/python.sh", "mobilekit/bench/insn_count.c",
                     "mobilekit/bundled_examples/minilm-embeddings/mobilekit.toml"):
        assert resource in names, resource
    assert not [n for n in names if "/build/" in n or n.endswith("unlabelled.txt")]


def test_the_installed_tool_runs_its_own_code_and_stack(installed, tmp_path):
    bin_dir, env, _ = installed
    probe = _run([bin_dir / "python", "-c", "import mobilekit, torch, coremltools; print(mobilekit.__file__, torch.__version__)"],
                 cwd=tmp_path, env=env).stdout
    assert str(bin_dir.parent) in probe and "+cpu" in probe
    doctor = json.loads(_run([bin_dir / "mobilekit", "doctor", "--json"], cwd=tmp_path, env=env).stdout)
    found = {t["name"]: t for t in doctor}
    assert found["torch"]["found"] and found["kotlinc"]["found"] and found["swift (trixie chroot)"]["found"]
    assert all("mobilekit setup" in t["install"] or "apt-get" in t["install"] for t in doctor)


def test_init_and_build_from_a_folder_outside_the_checkout(installed, tmp_path):
    """A tiny classifier through every stage, both SDKs packaged and their tests run."""
    bin_dir, env, _ = installed
    make_trained_tiny_classifier(tmp_path / "model")
    texts, labels = sentiment_samples(60, seed=5)
    (tmp_path / "reviews.csv").write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in zip(texts, labels)))
    _run([bin_dir / "mobilekit", "init", "model"], cwd=tmp_path, env=env)
    config = tomllib.loads((tmp_path / "mobilekit.toml").read_text())
    assert config["model"]["task"] == "text-classification"
    write_toml(tmp_path / "mobilekit.toml", {
        "project": {"name": "Tiny sentiment"},
        "model": {"path": "model", "task": "text-classification", "sequence_length": 16},
        "data": {"path": "reviews.csv", "test_fraction": 0.5},
        "convert": {"tflite": ["float32"], "coreml": ["float32"]},
        "verify": {"samples": 20},
        "bench": {"host": False, "emulator": False},
        "android": {"package": "com.example.tiny"},
        "ios": {"module": "TinyKit"},
    })
    summary = json.loads(_run([bin_dir / "mobilekit", "build", "--json"], cwd=tmp_path, env=env, timeout=1800).stdout)
    outcomes = {s["stage"]: s["outcome"] for s in summary["stages"]}
    assert outcomes["generate"] == "ran" and outcomes["package"] == "ran" and outcomes["report"] == "ran"
    package = tmp_path / "build" / "package"
    assert list(package.glob("android/*.aar")) and list(package.glob("ios/*.zip"))
    assert json.loads((package / "android" / "junit-results.json").read_text())["summary"]["tests_failed"] == 0
    assert (tmp_path / "build" / "report" / "report.html").is_file()


def test_init_copies_a_built_in_example(installed, tmp_path):
    bin_dir, env, _ = installed
    home = Path(env.get("MOBILEKIT_HOME", Path.home() / ".cache" / "mobilekit"))
    if not (home / "models" / "all-MiniLM-L6-v2").is_dir():
        from tests.conftest import toolchain_missing
        toolchain_missing("the example's weights are not installed (bash setup/install.sh example-weights)")
    _run([bin_dir / "mobilekit", "init", "--example", "minilm-embeddings", "--dir", "demo"], cwd=tmp_path, env=env)
    assert (tmp_path / "demo" / "model").resolve() == (home / "models" / "all-MiniLM-L6-v2").resolve()
    assert (tmp_path / "demo" / "sentences.txt").is_file()
    _run([bin_dir / "mobilekit", "build", "-c", "demo", "--to", "export"], cwd=tmp_path, env=env)
    assert (tmp_path / "demo" / "build" / "export" / "model.onnx").is_file()
    again = subprocess.run([bin_dir / "mobilekit", "init", "--example", "minilm-embeddings", "--dir", "demo"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert again.returncode == 2 and "not an empty folder" in again.stderr
