"""A training killed with SIGKILL resumes from its last checkpoint on the next `mobilekit build`
and ends with the weights of an uninterrupted run; a checkpoint never outlives its fingerprint."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from mobilekit.config import load_config
from mobilekit.pipeline import CHECKPOINTS, STAGING, Pipeline
from mobilekit.scale.checkpoint import Checkpoints
from tests.conftest import REPO_ROOT, run_cli
from tests.scale.helpers import make_project, weights

# Runs the real CLI, but SIGKILLs itself right after the first checkpoint written in the middle
# of epoch 2 (the checkpoint is on disk, the epoch is not finished).
KILLER = textwrap.dedent("""
    import os, signal, sys
    from mobilekit.scale import checkpoint

    save = checkpoint.Checkpoints.save

    def save_then_die(self, phase, state):
        save(self, phase, state)
        if state["epoch"] == 2 and state["step_in_epoch"] > 0:
            os.kill(os.getpid(), signal.SIGKILL)

    checkpoint.Checkpoints.save = save_then_die
    from mobilekit.cli import main
    main(sys.argv[1:])
""")


@pytest.mark.slow
def test_kill_9_mid_epoch_then_rerun_gives_the_uninterrupted_weights(tmp_path):
    steps = {"compute": {"checkpoint_steps": 4}}  # dropout stays on: the RNG state is checkpointed too
    straight = make_project(tmp_path / "straight", **steps)
    assert run_cli("build", "-c", str(straight), "--to", "finetune", "-q", cwd=REPO_ROOT).returncode == 0

    killed = make_project(tmp_path / "killed", **steps)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    first = subprocess.run([sys.executable, str(script), "build", "-c", str(killed), "--to", "finetune", "-q"],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert first.returncode == -9, first.stderr
    saved = tmp_path / "killed" / "build" / STAGING / CHECKPOINTS / "finetune" / "fine-tuning.pt"
    assert saved.is_file() and not (tmp_path / "killed" / "build" / "finetune").exists()

    second = run_cli("build", "-c", str(killed), "--to", "finetune", cwd=REPO_ROOT)
    assert second.returncode == 0, second.stderr
    logs = "".join(p.read_text() for p in (tmp_path / "killed" / "build" / "logs").glob("*.log"))
    assert "resuming from the checkpoint at epoch 2" in logs
    assert "fine-tuning epoch 2/2" in second.stderr  # per-epoch metrics on stderr
    a, b = weights(tmp_path / "straight" / "build" / "finetune" / "model"), weights(tmp_path / "killed" / "build" / "finetune" / "model")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not saved.parent.exists()  # deleted once the stage succeeded


def test_a_checkpoint_never_outlives_a_change_of_fingerprint(tmp_path):
    config = load_config(make_project(tmp_path))
    pipeline = Pipeline(config)
    folder = pipeline._checkpoint_dir("finetune", "a" * 64, fresh=False)
    (folder / "fine-tuning.pt").write_bytes(b"state")
    assert (pipeline._checkpoint_dir("finetune", "a" * 64, fresh=False) / "fine-tuning.pt").exists()  # same: kept
    assert not (pipeline._checkpoint_dir("finetune", "b" * 64, fresh=False) / "fine-tuning.pt").exists()  # changed: gone
    (folder / "fine-tuning.pt").write_bytes(b"state")
    pipeline._clean_leftovers()  # a new run cleans staging, but keeps checkpoints
    assert (folder / "fine-tuning.pt").exists()
    assert not (pipeline._checkpoint_dir("finetune", "b" * 64, fresh=True) / "fine-tuning.pt").exists()  # --force: fresh start


def test_a_checkpoint_of_other_settings_is_ignored(tmp_path):
    plan = {"n": 10, "batch_size": 2, "epochs": 1, "seed": 0, "lengths": False}
    Checkpoints(tmp_path, "f1").save("fine-tuning", {"plan": plan, "epoch": 1})
    assert Checkpoints(tmp_path, "f1").load("fine-tuning", plan)["epoch"] == 1
    assert Checkpoints(tmp_path, "f2").load("fine-tuning", plan) is None
    assert Checkpoints(tmp_path, "f1").load("fine-tuning", {**plan, "epochs": 2}) is None
    (tmp_path / "fine-tuning.pt").write_bytes(b"not a checkpoint")
    assert Checkpoints(tmp_path, "f1").load("fine-tuning", plan) is None
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary name, renamed into place
