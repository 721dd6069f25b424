"""The one place mobilekit starts other programs: argument lists, logged, never a shell."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

log = logging.getLogger("mobilekit.process")


class ProcessFailed(Exception):
    """A program exited non-zero; call sites turn this into a domain error ``from`` it."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-20:])
        super().__init__(f"{Path(argv[0]).name} exited with {returncode}:\n{tail}")


def run(argv: Sequence[str], *, cwd: Path | None = None, env: dict | None = None, timeout: float | None = None) -> str:
    """Runs ``argv`` and returns its combined output; raises ProcessFailed on a non-zero exit."""
    argv = [str(a) for a in argv]
    log.debug("run %s (cwd=%s)", argv, cwd)
    try:
        completed = subprocess.run(
            argv, cwd=cwd, env=env, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
    except FileNotFoundError as e:
        raise ProcessFailed(argv, 127, f"{argv[0]}: not found") from e
    except subprocess.TimeoutExpired as e:
        raise ProcessFailed(argv, 124, f"timed out after {timeout}s\n{e.output or ''}") from e
    log.debug("exit %s; output:\n%s", completed.returncode, completed.stdout)
    if completed.returncode != 0:
        raise ProcessFailed(argv, completed.returncode, completed.stdout)
    return completed.stdout


def run_attached(argv: Sequence[str], *, env: dict | None = None) -> int:
    """Runs ``argv`` with this process's terminal (long installs show their own progress); returns the exit code."""
    argv = [str(a) for a in argv]
    log.debug("run attached %s", argv)
    try:
        return subprocess.run(argv, env=env).returncode
    except FileNotFoundError:
        return 127


def which(name: str) -> Path | None:
    found = shutil.which(name)
    return Path(found) if found else None


# -- mobilekit's own Python children (converters and benchmarks run in a process of their own) ------

SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "TF_CPP_MIN_LOG_LEVEL": "2", "TOKENIZERS_PARALLELISM": "false"}


def child_env(**extra: str) -> dict:
    """This process's environment with mobilekit importable by another interpreter, plus ``extra``.

    PYTHONPATH names a folder that holds only a link to the mobilekit package: where mobilekit is
    installed into an environment's site-packages, putting that folder on the path would bring
    the whole environment (numpy 1.26, ai-edge-litert 2.1...) into a child of another one."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(mobilekit_only_path())
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra)
    return env


def mobilekit_only_path() -> Path:
    """A folder under $MOBILEKIT_HOME holding one link, ``mobilekit`` -> this process's package."""
    import hashlib
    import os

    import mobilekit
    from mobilekit.toolchains.tools import mobilekit_home

    package = Path(mobilekit.__file__).resolve().parent
    folder = mobilekit_home() / "pythonpath" / hashlib.sha256(str(package).encode()).hexdigest()[:12]
    link = folder / "mobilekit"
    if not link.is_symlink():
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".mobilekit.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        os.symlink(package, temporary)
        os.replace(temporary, link)  # atomic: parallel builds never see a half-made link
    return folder


def run_logged(argv: Sequence[str], *, log_path: Path, cwd: Path | None = None, env: dict | None = None,
               timeout: float | None = None) -> None:
    """Runs ``argv`` with its output written to ``log_path`` as it comes (long converter runs);
    raises ProcessFailed (124 on timeout) with the log's last lines."""
    argv = [str(a) for a in argv]
    log.debug("run %s (cwd=%s, log %s)", argv, cwd, log_path)
    with open(log_path, "w", encoding="utf-8") as out:
        out.write(f"$ {' '.join(argv)}\n(cwd {cwd})\n")
        out.flush()
        try:
            completed = subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except FileNotFoundError as e:
            raise ProcessFailed(argv, 127, f"{argv[0]}: not found") from e
        except subprocess.TimeoutExpired as e:
            raise ProcessFailed(argv, 124, f"timed out after {timeout}s") from e
    if completed.returncode != 0:
        raise ProcessFailed(argv, completed.returncode, Path(log_path).read_text(encoding="utf-8", errors="replace"))


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it if mobilekit dies (even by SIGKILL), so
    torchrun and its workers never outlive the build that started them."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the parent still terminates the child on an exception or Ctrl-C


def run_streamed(argv: Sequence[str], *, log_path: Path, on_line, cwd: Path | None = None, env: dict | None = None) -> None:
    """Runs ``argv``, writing its output to ``log_path`` and handing each line to ``on_line`` as it
    comes (training workers report progress this way); raises ProcessFailed with the log's tail.
    Ctrl-C (or any error here) terminates the child and waits for it before going on."""
    argv = [str(a) for a in argv]
    log.debug("run %s (cwd=%s, log %s)", argv, cwd, log_path)
    with open(log_path, "w", encoding="utf-8") as out:
        out.write(f"$ {' '.join(argv)}\n(cwd {cwd})\n")
        try:
            child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     errors="replace", bufsize=1, preexec_fn=_die_with_parent)
        except FileNotFoundError as e:
            raise ProcessFailed(argv, 127, f"{argv[0]}: not found") from e
        try:
            for line in child.stdout:
                out.write(line)
                out.flush()
                on_line(line.rstrip("\n"))
            returncode = child.wait()
        except BaseException:
            child.terminate()
            child.wait()
            raise
    if returncode != 0:
        raise ProcessFailed(argv, returncode, Path(log_path).read_text(encoding="utf-8", errors="replace"))
