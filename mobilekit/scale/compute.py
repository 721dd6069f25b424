"""[compute] rules checked when the config is loaded (no torch import: `--help` stays instant)."""

from __future__ import annotations

from mobilekit.errors import ConfigError


def world_size(config) -> int:
    return config.compute.processes * config.compute.nodes


def launches_workers(config) -> bool:
    """True when training runs in torchrun workers; processes = 1 on one CPU machine trains in-process, as before."""
    c = config.compute
    return c.processes * c.nodes > 1 or c.backend == "nccl"


def precision_parameter(config) -> dict:
    """Reduced-precision training changes the weights, so it joins the stage's fingerprint (only
    when not fp32: existing builds keep theirs). The process count does not: 1 or N processes
    train the same model within float tolerance, and a cached stage stays cached."""
    return {"precision": config.compute.precision} if config.compute.precision != "fp32" else {}


def parse_rendezvous(value: str, where: str = "mobilekit.toml") -> tuple[str, int]:
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"{where}: compute.rendezvous = {value!r} is not host:port",
                          hint='give node 0\'s address and a free port every node can reach, e.g. "10.0.0.1:29500"')
    return host.strip("[]"), int(port)


def check_compute(config, where: str) -> None:
    c = config.compute
    if c.nodes > 1 and c.rendezvous is None:
        raise ConfigError(f"{where}: compute.nodes = {c.nodes} needs a rendezvous endpoint",
                          hint='set compute.rendezvous = "HOST:PORT" (node 0\'s address, reachable from every node)')
    if c.rendezvous is not None:
        parse_rendezvous(c.rendezvous, where)
    if c.node_rank >= c.nodes:
        raise ConfigError(f"{where}: compute.node_rank = {c.node_rank} but compute.nodes = {c.nodes}",
                          hint=f"number the machines 0 to {c.nodes - 1}; node 0 hosts the rendezvous")
    if c.precision != "fp32" and c.backend != "nccl":
        raise ConfigError(f"{where}: compute.precision = {c.precision!r} needs GPUs, but compute.backend = {c.backend!r} trains on CPUs",
                          hint='set compute.backend = "nccl" on a CUDA machine, or keep precision = "fp32" on CPUs')
    _check_batches(config, where)


def _check_batches(config, where: str) -> None:
    """The global batch stays what the config says; each rank takes an equal share of it."""
    ranks = world_size(config)
    for section in ("finetune", "distill"):
        table = getattr(config, section)
        if table.enabled and table.batch_size % ranks:
            lower = max(ranks, table.batch_size // ranks * ranks)
            raise ConfigError(
                f"{where}: {section}.batch_size = {table.batch_size} does not divide among {ranks} training processes "
                f"(compute.processes x compute.nodes)",
                hint=f"set {section}.batch_size to a multiple of {ranks}, e.g. {lower} or {lower + ranks}, "
                     "or change compute.processes")
