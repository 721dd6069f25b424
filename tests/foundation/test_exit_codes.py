"""Bad inputs through the real CLI: each gets its own exit code and a message, never exit 1.

Exit 1 is reserved for bugs (README, "Exit codes"); a user's mistake must say what is wrong and how
to fix it. Each row builds the smallest project that shows one mistake.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mobilekit.errors import ModelInputError
from mobilekit.weights import check_safetensors
from tests.conftest import REPO_ROOT, run_cli, write_toml


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from tests.tiny_models import make_tiny_bert

    return make_tiny_bert(tmp_path_factory.mktemp("bert") / "model")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from tests.tiny_lm import make_tiny_lm

    return make_tiny_lm(tmp_path_factory.mktemp("lm") / "model", "llama")


def _truncated(model: Path, root: Path) -> Path:
    copy = root / "truncated"
    shutil.copytree(model, copy)
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return copy


def _encoder(root: Path, model: Path, **sections) -> Path:
    base = {"project": {"name": "Bad input"}, "model": {"path": str(model), "task": "text-classification"}}
    for section, table in sections.items():
        base.setdefault(section, {}).update(table)
    return write_toml(root / "mobilekit.toml", base)


def _llm(root: Path, model: Path) -> Path:
    return write_toml(root / "mobilekit.toml", {"project": {"name": "Bad input"},
                                                "model": {"path": str(model), "task": "text-generation"}})


CASES = {
    # name: (make(root, bert, lm) -> argv, exit code, text the error must contain)
    "build_dir_is_a_file": (
        lambda root, bert, lm: ["build", "-c", str(_encoder(root, bert, project={"build_dir": str(_file(root))})), "--to", "export"],
        3, "is a file, not a folder"),
    "build_dir_override_is_a_file": (
        lambda root, bert, lm: ["build", "-c", str(_encoder(root, bert)), "--build-dir", str(_file(root)), "--to", "export"],
        3, "is a file, not a folder"),
    "truncated_encoder_weights": (
        lambda root, bert, lm: ["build", "-c", str(_encoder(root, _truncated(bert, root))), "--to", "export"],
        4, "model.safetensors"),
    "truncated_llm_weights": (
        lambda root, bert, lm: ["build", "-c", str(_llm(root, _truncated(lm, root))), "--to", "export"],
        4, "model.safetensors"),
    "model_folder_missing": (
        lambda root, bert, lm: ["build", "-c", str(_encoder(root, root / "nowhere")), "--to", "export"],
        3, "no folder at"),
    "gguf_instead_of_a_folder": (
        lambda root, bert, lm: ["build", "-c", str(_llm(root, _gguf(root))), "--to", "export"],
        4, "GGUF"),
    "unknown_stage": (
        lambda root, bert, lm: ["build", "-c", str(_encoder(root, bert)), "--to", "compile"],
        2, "compile"),
    "stage_without_its_inputs": (
        lambda root, bert, lm: ["build", "-c", str(_encoder(root, bert)), "--from", "generate"],
        2, "needs"),
    "config_missing": (
        lambda root, bert, lm: ["build", "-c", str(root / "absent.toml")],
        3, "absent.toml"),
    "unknown_example": (
        lambda root, bert, lm: ["init", "--example", "gpt-17", "--dir", str(root / "demo")],
        2, "minilm-embeddings"),
    "init_without_a_model_or_example": (
        lambda root, bert, lm: ["init"],
        2, "--example"),
    "unknown_setup_component": (
        lambda root, bert, lm: ["setup", "cobol"],
        2, "cobol"),
}


def _file(root: Path) -> Path:
    path = root / "a-file"
    path.write_text("not a folder")
    return path


def _gguf(root: Path) -> Path:
    path = root / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(60))
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_input_gets_its_exit_code_and_a_message(name, tiny_bert, tiny_lm, tmp_path):
    make, code, text = CASES[name]
    result = run_cli(*make(tmp_path, tiny_bert, tiny_lm))
    assert result.returncode == code, f"{name}: exit {result.returncode}\n{result.stderr[-2000:]}"
    assert text in result.stderr, result.stderr[-2000:]
    assert "internal error" not in result.stderr
    assert "Traceback" not in result.stderr


def test_the_safetensors_check_accepts_intact_files_and_names_the_problem(tiny_bert, tmp_path):
    check_safetensors(tiny_bert / "model.safetensors")
    for name, data in {"empty": b"", "short": b"\x01\x02", "huge_header": (10**12).to_bytes(8, "little") + b"{}",
                       "not_json": (4).to_bytes(8, "little") + b"nope"}.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(data)
        with pytest.raises(ModelInputError) as info:
            check_safetensors(path)
        assert str(path) in info.value.message and "save_pretrained" in info.value.hint


def test_nothing_raises_the_base_error_whose_exit_code_means_a_bug():
    raised = [f"{p.relative_to(REPO_ROOT)}:{i}" for p in sorted((REPO_ROOT / "mobilekit").rglob("*.py"))
              for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
              if re.search(r"raise MobilekitError\(", line)]
    assert raised == [], "raise the subclass that names the failure: " + ", ".join(raised)
