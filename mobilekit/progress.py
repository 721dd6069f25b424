"""Progress for long stages: a live spinner or bar on a terminal, silence otherwise.

Stages call ``progress.task("converting float16", total=n)`` and ``task.advance()``; whether
anything is drawn is decided here, once, from whether stderr is a terminal.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator, TextIO

_FRAMES = "|/-\\"


class ProgressTask:
    def __init__(self, progress: "Progress", label: str, total: int | None):
        self._progress = progress
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n

    def describe(self, label: str) -> None:
        self.label = label

    def render(self, frame: int) -> str:
        elapsed = time.monotonic() - self.started
        if self.total:
            width = 24
            filled = int(width * min(self.done, self.total) / self.total)
            bar = "#" * filled + "." * (width - filled)
            return f"  [{bar}] {self.done}/{self.total} {self.label} ({elapsed:.0f}s)"
        return f"  {_FRAMES[frame % len(_FRAMES)]} {self.label} ({elapsed:.0f}s)"


class Progress:
    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live

    @contextmanager
    def task(self, label: str, total: int | None = None) -> Iterator[ProgressTask]:
        task = ProgressTask(self, label, total)
        if not self.live:
            yield task
            return
        stop = threading.Event()
        thread = threading.Thread(target=self._draw, args=(task, stop), daemon=True)
        thread.start()
        try:
            yield task
        finally:
            stop.set()
            thread.join()
            self.stream.write("\r\033[K")
            self.stream.flush()

    def _draw(self, task: ProgressTask, stop: threading.Event) -> None:
        frame = 0
        while not stop.wait(0.1):
            self.stream.write("\r\033[K" + task.render(frame)[: 120])
            self.stream.flush()
            frame += 1


class SilentProgress(Progress):
    def __init__(self):
        super().__init__(live=False)
