"""Per-run log file in the build directory: everything at DEBUG, plus the traceback of a failure."""

from __future__ import annotations

import logging
import time
from pathlib import Path

KEEP_LOGS = 20


class RunLog:
    def __init__(self):
        self.path: Path | None = None
        self._handler: logging.Handler | None = None
        self._buffer: list[logging.LogRecord] = []
        self._buffering = _BufferHandler(self._buffer)
        root = logging.getLogger("mobilekit")
        root.setLevel(logging.DEBUG)
        root.addHandler(self._buffering)

    def attach(self, build_dir: Path, command: str) -> None:
        """Starts writing to <build_dir>/logs/, including what was logged before the build dir was known."""
        if self._handler is not None:
            return
        logs = Path(build_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        self.path = logs / f"{stamp}-{command}.log"
        handler = logging.FileHandler(self.path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("mobilekit")
        root.removeHandler(self._buffering)
        for record in self._buffer:
            handler.handle(record)
        root.addHandler(handler)
        self._handler = handler
        for old in sorted(logs.glob("*.log"))[:-KEEP_LOGS]:
            old.unlink(missing_ok=True)

    def close(self) -> None:
        root = logging.getLogger("mobilekit")
        for handler in (self._handler, self._buffering):
            if handler is not None:
                root.removeHandler(handler)
                handler.close()


class _BufferHandler(logging.Handler):
    def __init__(self, buffer: list):
        super().__init__(logging.DEBUG)
        self.buffer = buffer

    def emit(self, record: logging.LogRecord) -> None:
        self.buffer.append(record)
