"""Worker rank 0's progress, epoch lines and log records, carried to the parent as marked JSON
lines on stdout; the parent draws them with its own Progress and logs them in its own log."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextlib import ExitStack, contextmanager

from mobilekit.progress import Progress, ProgressTask

MARK = "@@mobilekit "
EVERY_S = 0.5  # progress updates at most this often


def emit(kind: str, **fields) -> None:
    sys.stdout.write(MARK + json.dumps({"kind": kind, **fields}) + "\n")
    sys.stdout.flush()


class _RelayTask(ProgressTask):
    def __init__(self, progress, label, total):
        super().__init__(progress, label, total)
        self._sent = 0.0

    def _send(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._sent >= EVERY_S:
            self._sent = now
            emit("advance", label=self.label, done=self.done, skipped=self.skipped)

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        self._send()

    def skip(self, n: int) -> None:
        super().skip(n)
        self._send(force=True)


class RelayProgress(Progress):
    """The worker side: what a Progress would draw, sent to the parent instead."""

    def __init__(self):
        super().__init__(live=False)

    @contextmanager
    def task(self, label: str, total: int | None = None):
        emit("task", label=label, total=total)
        task = _RelayTask(self, label, total)
        try:
            yield task
        finally:
            task._send(force=True)
            emit("end")

    def note(self, line: str) -> None:
        emit("note", line=line)


class RelayLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        emit("log", level=record.levelno, name=record.name, message=record.getMessage())


class Receiver:
    """The parent side: one call per line of the workers' output."""

    def __init__(self, progress: Progress, log: logging.Logger):
        self.progress, self.log = progress, log
        self.stack = ExitStack()
        self.task = None

    def __call__(self, line: str) -> None:
        if not line.startswith(MARK):
            return
        try:
            message = json.loads(line[len(MARK):])
        except ValueError:
            return
        kind = message["kind"]
        if kind == "log":
            logging.getLogger(message["name"]).log(message["level"], "%s", message["message"])
        elif kind == "note":
            self.progress.note(message["line"])
        elif kind == "task":
            self.close()
            self.task = self.stack.enter_context(self.progress.task(message["label"], total=message["total"]))
        elif kind == "advance" and self.task is not None:
            self.task.label, self.task.done, self.task.skipped = message["label"], message["done"], message["skipped"]
        elif kind == "end":
            self.close()

    def close(self) -> None:
        self.stack.close()
        self.task = None
