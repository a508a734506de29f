"""Logging: diagnostics to stderr, human-readable or JSON lines, each with the id of the
connection it concerns; "NAME is connected/disconnected" to stdout, as the report's server."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from contextvars import ContextVar
from typing import TextIO

#: The connection a log line is about ("-" outside any); set while a command is handled.
CONNECTION: ContextVar[str] = ContextVar("lanchat_connection", default="-")

HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(conn)s] %(message)s"


class ConnectionFilter(logging.Filter):
    """Adds ``conn`` (the connection id) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "conn"):
            record.conn = CONNECTION.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, conn, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "conn": getattr(record, "conn", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class LoopFlushedStreamHandler(logging.StreamHandler[TextIO]):
    """A stream handler that flushes at most once per event-loop iteration.

    The presence log has two lines per connection; flushing each is one system call, which a
    storm of connections feels (a few per cent of the CPU per registration, measured). Lines
    still go out in order, right after the callback that logged them; outside a running loop
    (start-up, shutdown) every line is flushed at once.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        #: The loop a flush is waiting on (one that stopped first does not block the next).
        self._flush_on: asyncio.AbstractEventLoop | None = None

    def flush(self) -> None:
        """Flush now, or once the running loop's current callbacks are done."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # also at exit, when a loop stopped before its scheduled flush
            super().flush()
            return
        if self._flush_on is not loop:
            self._flush_on = loop
            loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_on = None
        super().flush()


def setup_logging(level: str, fmt: str = "human") -> None:
    """Configure the root logger and the presence log."""
    # The formats above use none of these record fields; leaving them out (as the logging
    # docs' "Optimization" section describes) saves a stack walk, a thread and a process
    # lookup per line: two lines per connection ("is connected", "is disconnected").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers.clear()
    diagnostics = logging.StreamHandler(sys.stderr)
    diagnostics.addFilter(ConnectionFilter())
    diagnostics.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(HUMAN_FORMAT))
    root.addHandler(diagnostics)
    root.setLevel(level.upper())
    presence = logging.getLogger("lanchat.presence")
    presence.handlers.clear()
    out = LoopFlushedStreamHandler(sys.stdout)
    out.setFormatter(logging.Formatter("%(message)s"))
    presence.addHandler(out)
    presence.propagate = False
    presence.setLevel(logging.INFO)
