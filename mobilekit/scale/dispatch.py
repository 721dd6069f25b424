"""A stage's training call, run where [compute] says: in this process (processes = 1, as always)
or in torchrun workers, whose rank 0 hands the trained weights back to this process.

The call is the same function either way: ``trainer.run(fn, *args, trained=i, **kwargs)`` calls
``fn(*args, **kwargs, progress=..., log=..., runtime=...)``. For workers, ``fn``, its arguments
(models, tokenizers, texts: pickled with torch.save) and the runtime go into a job file in the
stage's checkpoint folder; each worker loads it, trains its share, and the trained weights of
``args[trained]`` come back into this process's object, so the stage then goes on as usual.
"""

from __future__ import annotations

import time
from pathlib import Path

from mobilekit.errors import ConfigError, InternalError, MobilekitError
from mobilekit.scale.checkpoint import Checkpoints
from mobilekit.scale.compute import launches_workers
from mobilekit.scale.runtime import TrainRuntime

RESULT_FILE = "result.pt"
ERROR_FILE = "error.pt"


class Trainer:
    def __init__(self, ctx):
        self.config, self.progress, self.log = ctx.config, ctx.progress, ctx.log
        self.folder, self.fingerprint = ctx.checkpoint_dir, ctx.fingerprint

    @property
    def in_process(self) -> bool:
        return not launches_workers(self.config)

    def checkpoints(self, *, writer: bool = True) -> Checkpoints | None:
        if self.folder is None:
            return None
        return Checkpoints(Path(self.folder), self.fingerprint, self.config.compute.checkpoint_steps, writer=writer)

    def run(self, fn, *args, trained: int = 0, **kwargs):
        if self.in_process:
            return fn(*args, **kwargs, progress=self.progress, log=self.log, runtime=TrainRuntime(checkpoints=self.checkpoints()))
        return self._in_workers(fn, args, kwargs, trained)

    def _in_workers(self, fn, args, kwargs, trained: int):
        import torch

        from mobilekit.scale.launch import job_path, other_node_commands, threads_per_process, torchrun_argv
        from mobilekit.scale.relay import Receiver
        from mobilekit.toolchains.process import ProcessFailed, child_env, run_streamed

        c = self.config.compute
        backend = resolve_backend(c)
        job = job_path(self.folder)
        for stale in (RESULT_FILE, ERROR_FILE):
            (job.parent / stale).unlink(missing_ok=True)
        torch.save({"function": f"{fn.__module__}:{fn.__qualname__}", "args": args, "kwargs": kwargs, "trained": trained,
                    "backend": backend, "precision": c.precision, "checkpoint_folder": str(self.folder),
                    "fingerprint": self.fingerprint, "checkpoint_steps": c.checkpoint_steps, "logger": self.log.name}, job)
        argv = torchrun_argv(c, job)
        self.log.info("starting %d training process(es) on this machine (%s): %s", c.processes, backend, " ".join(argv))
        self.progress.note(f"training in {c.processes * c.nodes} processes ({backend}); torchrun log in {self._log_path().parent}")
        if c.nodes > 1:
            self.progress.note("waiting for the other nodes; on each, run: " + " ; ".join(other_node_commands(self.config)))
        receiver = Receiver(self.progress, self.log)
        try:
            run_streamed(argv, log_path=self._log_path(), on_line=receiver,
                         env=child_env(OMP_NUM_THREADS=str(threads_per_process(c.processes)), TOKENIZERS_PARALLELISM="false"))
        except ProcessFailed as error:
            raise self._failure(job.parent, error) from error
        finally:
            receiver.close()
            job.unlink(missing_ok=True)
        return self._collect(job.parent, args[trained])

    def _collect(self, folder: Path, model):
        import torch

        path = folder / RESULT_FILE
        if not path.is_file():  # a node other than the one writing: nothing came back
            raise InternalError(f"internal: the training workers ended without writing {path}")
        result = torch.load(path, map_location="cpu", weights_only=False)
        model.load_state_dict(result["state"])
        path.unlink()
        return result["result"]

    def _failure(self, folder: Path, error) -> MobilekitError:
        """The workers' own error (bad input, bad config) when one raised it, else an internal one."""
        import torch

        path = folder / ERROR_FILE
        if path.is_file():
            kind, message, hint = torch.load(path, weights_only=False)
            path.unlink()
            return kind(message, hint=hint)
        tail = "\n".join(error.output.strip().splitlines()[-15:])
        return InternalError(f"internal: the training processes failed (exit {error.returncode}):\n{tail}")

    def _log_path(self) -> Path:
        logs = Path(self.config.build_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        return logs / f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-torchrun.log"


def resolve_backend(compute) -> str:
    """gloo or nccl, checked against this machine: nccl needs a CUDA GPU per process."""
    import torch

    cuda = torch.cuda.is_available()
    backend = compute.backend if compute.backend != "auto" else ("nccl" if cuda else "gloo")
    if backend == "nccl" and not cuda:
        raise ConfigError("compute.backend = \"nccl\" needs CUDA GPUs, and this machine has none (or torch is a CPU build)",
                          hint='set compute.backend = "gloo" (or "auto") to train on CPUs, and precision = "fp32"')
    if backend == "nccl" and torch.cuda.device_count() < compute.processes:
        raise ConfigError(f"compute.processes = {compute.processes} but this machine has {torch.cuda.device_count()} CUDA GPU(s)",
                          hint=f"nccl runs one process per GPU: set compute.processes to at most {torch.cuda.device_count()}")
    return backend
