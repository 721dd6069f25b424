"""A benchmark child: another interpreter runs one mode of a benchmark module on a JSON request,
one thread per library, so timings and peak memory are the child's alone."""

from __future__ import annotations

import json
from pathlib import Path

from mobilekit.errors import InternalError
from mobilekit.toolchains.process import SINGLE_THREAD_ENV, ProcessFailed, child_env, run


def run_json_child(python: str, module: str, mode: str, request: dict, workdir: Path, *, timeout: float, what: str) -> dict:
    """``python -m module mode request.json``; the child writes ``request.out.json``, returned parsed."""
    path = Path(workdir) / f"{module.rsplit('.', 1)[-1]}-{mode}-{abs(hash(json.dumps(request, sort_keys=True)))}.json"
    path.write_text(json.dumps(request))
    result_path = path.with_suffix(".out.json")
    try:
        run([python, "-m", module, mode, path], env=child_env(**SINGLE_THREAD_ENV), timeout=timeout)
    except ProcessFailed as e:
        tail = "\n".join(e.output.strip().splitlines()[-15:])
        raise InternalError(f"{what} ({mode}) failed with exit code {e.returncode}:\n{tail}") from e
    if not result_path.exists():
        raise InternalError(f"{what} ({mode}) wrote no result ({result_path.name})")
    return json.loads(result_path.read_text())
