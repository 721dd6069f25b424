"""Progress for long stages: a live spinner or bar on a terminal, silence otherwise.

Stages call ``progress.task("converting float16", total=n)`` and ``task.advance()``; whether
anything is drawn is decided here, once, from whether stderr is a terminal. A bar shows its rate
and the time left once it has moved. ``progress.note(line)`` prints a line that stays (a training
epoch's metrics), on a terminal or not, when the command was given a ``notes`` printer.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

_FRAMES = "|/-\\"


class ProgressTask:
    def __init__(self, progress: "Progress", label: str, total: int | None):
        self._progress = progress
        self.label = label
        self.total = total
        self.done = 0
        self.skipped = 0  # counted as done, but not done now (a resumed training): not in the rate
        self.started = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n

    def skip(self, n: int) -> None:
        self.done += n
        self.skipped += n

    def rate(self) -> float | None:
        """Items per second since the task started, None before any."""
        elapsed, moved = time.monotonic() - self.started, self.done - self.skipped
        return moved / elapsed if moved > 0 and elapsed > 0 else None

    def describe(self, label: str) -> None:
        self.label = label

    def render(self, frame: int) -> str:
        elapsed = time.monotonic() - self.started
        if self.total:
            width = 24
            filled = int(width * min(self.done, self.total) / self.total)
            bar = "#" * filled + "." * (width - filled)
            rate = self.rate()
            speed = f", {rate:.1f}/s, {max(0.0, (self.total - self.done) / rate):.0f}s left" if rate else ""
            return f"  [{bar}] {self.done}/{self.total} {self.label} ({elapsed:.0f}s{speed})"
        return f"  {_FRAMES[frame % len(_FRAMES)]} {self.label} ({elapsed:.0f}s)"


class Progress:
    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None, notes: Callable[[str], None] | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.notes = notes
        self._lock = threading.Lock()

    def note(self, line: str) -> None:
        """A line that stays above any live bar (the bar redraws below it)."""
        if self.notes is None:
            return
        with self._lock:
            if self.live:
                self.stream.write("\r\033[K")
                self.stream.flush()
            self.notes(line)

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
            with self._lock:
                self.stream.write("\r\033[K" + task.render(frame)[: 120])
                self.stream.flush()
            frame += 1


class SilentProgress(Progress):
    def __init__(self):
        super().__init__(live=False)
