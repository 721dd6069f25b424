"""The torchrun entry point: ``python -m mobilekit.scale.worker JOB`` in every training process.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous in the environment (so does
`accelerate launch`); this joins the process group, loads the job the stage wrote, runs the same
training function as one process would, and each machine's first rank writes the trained weights
(identical on every rank) or the error for the parent to raise.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    import torch
    import torch.distributed as dist

    job_file = Path(argv[0])
    job = torch.load(job_file, map_location="cpu", weights_only=False)
    world = _join(job["backend"])
    try:
        result, model = _train(job, world)
        if world.writes_files:
            _write(job_file.parent / "result.pt", {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "result": result})
        world.barrier()
        return 0
    except Exception as error:
        from mobilekit.errors import MobilekitError

        if isinstance(error, MobilekitError) and world.writes_files:
            _write(job_file.parent / "error.pt", (type(error), error.message, error.hint))
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _join(backend: str):
    import torch
    import torch.distributed as dist

    from mobilekit.scale.world import World

    rank, size, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    device = "cpu"
    if backend == "nccl":
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
        torch.set_default_device(device)  # tensors the training code creates land on this GPU
    dist.init_process_group(backend=backend, rank=rank, world_size=size)
    return World(rank=rank, size=size, local_rank=local, device=device)


def _train(job: dict, world):
    from mobilekit.progress import SilentProgress
    from mobilekit.scale.checkpoint import Checkpoints
    from mobilekit.scale.relay import RelayProgress
    from mobilekit.scale.runtime import TrainRuntime

    log = _logger(job["logger"], world)
    checkpoints = Checkpoints(Path(job["checkpoint_folder"]), job["fingerprint"], job["checkpoint_steps"], writer=world.writes_files)
    runtime = TrainRuntime(world=world, checkpoints=checkpoints, precision=job["precision"])
    args = [_to_device(a, world.device) for a in job["args"]]
    module, _, name = job["function"].partition(":")
    fn = importlib.import_module(module)
    for part in name.split("."):
        fn = getattr(fn, part)
    progress = RelayProgress() if world.is_main else SilentProgress()
    return fn(*args, **job["kwargs"], progress=progress, log=log, runtime=runtime), args[job["trained"]]


def _logger(name: str, world) -> logging.Logger:
    """Rank 0's records go to the parent's log; the others' warnings to the torchrun log."""
    from mobilekit.scale.relay import RelayLogHandler

    root = logging.getLogger("mobilekit")
    root.setLevel(logging.INFO)
    root.propagate = False
    handler = RelayLogHandler() if world.is_main else logging.StreamHandler(sys.stderr)
    if not world.is_main:
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter(f"[rank {world.rank}] %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return logging.getLogger(name)


def _to_device(value, device: str):
    import torch

    return value.to(device) if isinstance(value, torch.nn.Module) and device != "cpu" else value


def _write(path: Path, value) -> None:
    import torch

    temporary = path.with_name(f".{path.name}.tmp")
    torch.save(value, temporary)
    os.replace(temporary, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
