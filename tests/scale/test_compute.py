"""[compute]: every bad combination is a config error (exit 3) that says how to fix it, and the
rendezvous dry run prints the torchrun command each machine runs."""

from __future__ import annotations

import pytest

from mobilekit.config import load_config
from mobilekit.errors import ConfigError
from mobilekit.scale.world import World
from tests.conftest import REPO_ROOT, run_cli

TWO_NODES = {"processes": 2, "nodes": 2, "rendezvous": "10.0.0.1:29500"}


@pytest.mark.parametrize("compute, extra, message, hint", [
    ({"processes": 0}, {}, "compute.processes = 0 is invalid", "Training processes"),
    ({"nodes": 2}, {}, "needs a rendezvous endpoint", "compute.rendezvous"),
    ({**TWO_NODES, "rendezvous": "10.0.0.1"}, {}, "is not host:port", "10.0.0.1:29500"),
    ({**TWO_NODES, "node_rank": 2}, {}, "compute.node_rank = 2 but compute.nodes = 2", "0 to 1"),
    ({"precision": "bf16"}, {}, "needs GPUs", 'backend = "nccl"'),
    ({"processes": 3}, {"finetune": {"enabled": True, "batch_size": 32}}, "does not divide among 3", "30 or 33"),
])
def test_bad_compute_settings_fail_with_a_fix(project, tmp_path, compute, extra, message, hint):
    (tmp_path / "data.csv").write_text("text,label\na,b\n")
    path = project(compute=compute, data={"path": "data.csv"}, **extra)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in caught.value.message and hint in (caught.value.hint or ""), caught.value.to_dict()


def test_nccl_without_cuda_is_a_config_error(project):
    import torch

    from mobilekit.scale.dispatch import resolve_backend

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="needs CUDA GPUs"):
        resolve_backend(load_config(project(compute={"backend": "nccl"})).compute)


def test_rendezvous_dry_run_prints_the_torchrun_command_for_two_nodes(project, tmp_path):
    (tmp_path / "data.csv").write_text("text,label\na,b\n")
    path = project(compute={**TWO_NODES, "processes": 4}, data={"path": "data.csv"}, finetune={"enabled": True})
    done = run_cli("torchrun", "-c", str(path), cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    job = tmp_path / "build" / ".staging" / "checkpoints" / "finetune" / "job.pt"
    assert ("python -m torch.distributed.run --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 --master-port 29500 "
            f"--nproc-per-node 4 --max-restarts 0 -m mobilekit.scale.worker {job}") in lines
    assert f"mobilekit build -c {path} --set compute.node_rank=1" in lines
    assert not job.parent.exists()  # a dry run starts and writes nothing


def test_one_process_needs_no_torchrun(project):
    done = run_cli("torchrun", "-c", str(project()), cwd=REPO_ROOT)
    assert done.returncode == 0 and "no torchrun" in done.stdout


def test_each_rank_takes_every_size_th_item_of_the_global_batch():
    batch = list(range(10))
    shares = [World(rank=r, size=4).shard(batch) for r in range(4)]
    assert shares == [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]
    assert sorted(sum(shares, [])) == batch and World().shard(batch) == batch
