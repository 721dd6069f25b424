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
        own = logging.getLogger("mobilekit")
        own.setLevel(logging.DEBUG)
        own.propagate = False
        own.addHandler(self._buffering)
        # Libraries (coremltools, transformers, absl) and Python warnings go to the log file, not the
        # terminal: a user reads mobilekit's lines there; the details stay one `log:` path away.
        logging.captureWarnings(True)
        logging.getLogger().addHandler(self._buffering)

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
        for logger in (logging.getLogger("mobilekit"), logging.getLogger()):
            logger.removeHandler(self._buffering)
            logger.addHandler(handler)
        for record in self._buffer:
            handler.handle(record)
        self._handler = handler
        for old in sorted(logs.glob("*.log"))[:-KEEP_LOGS]:
            old.unlink(missing_ok=True)

    def close(self) -> None:
        for logger in (logging.getLogger("mobilekit"), logging.getLogger()):
            for handler in (self._handler, self._buffering):
                if handler is not None:
                    logger.removeHandler(handler)
        for handler in (self._handler, self._buffering):
            if handler is not None:
                handler.close()


class _BufferHandler(logging.Handler):
    def __init__(self, buffer: list):
        super().__init__(logging.DEBUG)
        self.buffer = buffer

    def emit(self, record: logging.LogRecord) -> None:
        self.buffer.append(record)
