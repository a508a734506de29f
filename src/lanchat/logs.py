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


class PresenceLog:
    """The "NAME is connected" / "NAME is disconnected" lines, as the report's server prints
    them: plain text on stdout, whatever the diagnostics' format.

    Written straight to the stream, not through ``logging``: there are two lines per
    connection, and a log record (created, filtered, locked, formatted) cost ~15 % of the
    registrations a storm of connections gets through (measured, docs/performance.md).
    Flushed at most once per event-loop iteration, right after the callbacks that wrote; at
    once outside a running loop. Prints nothing until given a stream.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        #: The loop a flush is waiting on (one that stopped first does not block the next).
        self._flush_on: asyncio.AbstractEventLoop | None = None

    def line(self, text: str) -> None:
        """Print one line (``text`` without its newline)."""
        stream = self.stream
        if stream is None:
            return
        try:
            stream.write(text + "\n")
        except (OSError, ValueError) as exc:  # stdout closed, or a reader that went away
            self._lost(exc)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self._flush_on is not loop:
            self._flush_on = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write out what is buffered."""
        self._flush_on = None
        stream = self.stream
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError) as exc:
                self._lost(exc)

    def _lost(self, exc: Exception) -> None:
        self.stream = None
        logging.getLogger("lanchat").warning("stdout is gone (%s): who connects is no longer printed", exc)


#: The server's presence lines; :func:`setup_logging` points them at stdout.
PRESENCE = PresenceLog()


def setup_logging(level: str, fmt: str = "human") -> None:
    """Configure the root logger and the presence log."""
    # The formats above use none of these record fields; leaving them out (as the logging
    # docs' "Optimization" section describes) saves a stack walk, a thread and a process
    # lookup per line.
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
    PRESENCE.flush()
    PRESENCE.stream = sys.stdout  # flushed by the interpreter at exit, like any stdout
