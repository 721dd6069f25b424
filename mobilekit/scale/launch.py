"""The torchrun command line: one machine (--standalone, a free local port) or several (static
rendezvous at node 0's host:port, this machine's --node-rank). Built here, started by
``mobilekit.toolchains.process``, and printed by `mobilekit torchrun` without starting anything."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mobilekit.scale.compute import parse_rendezvous

WORKER_MODULE = "mobilekit.scale.worker"
JOB_FILE = "job.pt"


def job_path(checkpoint_dir: Path) -> Path:
    return Path(checkpoint_dir) / JOB_FILE


def torchrun_argv(compute, job: Path, *, python: str | None = None) -> list[str]:
    argv = [python or sys.executable, "-m", "torch.distributed.run"]
    if compute.nodes == 1:
        argv += ["--standalone", "--nnodes", "1"]
    else:
        host, port = parse_rendezvous(compute.rendezvous)
        argv += ["--nnodes", str(compute.nodes), "--node-rank", str(compute.node_rank),
                 "--master-addr", host, "--master-port", str(port)]
    # A failed rank fails the stage at once: mobilekit's own rerun resumes from the checkpoint.
    argv += ["--nproc-per-node", str(compute.processes), "--max-restarts", "0", "-m", WORKER_MODULE, str(job)]
    return argv


def threads_per_process(processes: int) -> int:
    """CPU threads each rank may use, so N ranks do not fight over the same cores."""
    return max(1, (os.cpu_count() or 1) // processes)


def other_node_commands(config) -> list[str]:
    """What to run on every machine but this one (same config, data and mobilekit version)."""
    c = config.compute
    where = f"-c {config.source}" if config.source else ""
    return [f"mobilekit build {where} --set compute.node_rank={rank}".replace("  ", " ")
            for rank in range(c.nodes) if rank != c.node_rank]


def plan_lines(config, stages: list[str]) -> list[str]:
    """`mobilekit torchrun`: what `mobilekit build` would start for each training stage (a dry run)."""
    from mobilekit.scale.compute import launches_workers
    from mobilekit.pipeline import CHECKPOINTS, STAGING

    c = config.compute
    if not launches_workers(config):
        return ["# compute.processes = 1 on one machine: finetune and distill train inside mobilekit (no torchrun)"]
    lines = [f"# {c.nodes} node(s) x {c.processes} process(es), backend {c.backend}, precision {c.precision}"
             + (f", rendezvous {c.rendezvous}" if c.nodes > 1 else "")]
    for stage in stages:
        job = job_path(Path(config.build_dir) / STAGING / CHECKPOINTS / stage)
        lines += [f"# {stage}, on this machine (node {c.node_rank}):", " ".join(torchrun_argv(c, job, python="python"))]
    if c.nodes > 1:
        lines.append("# on every other machine, with the same config and data (each node trains its share and writes its own build directory):")
        lines += other_node_commands(config)
    return lines
