"""Per-connection output queues, flushed once per event-loop iteration.

Fan-out appends the same bytes object to every recipient's queue and marks the connection
dirty; one ``call_soon`` callback then writes each dirty connection's queue in one go. Under
load each write carries many lines (../shared/DESIGN.md, "Performance principles").
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Flushable(Protocol):
    """Something with an output queue and a way to write it out."""

    outq: list[bytes]

    def flush(self) -> None: ...


class Outbox:
    """The dirty list and the one scheduled flush."""

    __slots__ = ("_loop", "_scheduled", "dirty")

    def __init__(self) -> None:
        self.dirty: list[Flushable] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def schedule(self) -> None:
        """Make sure a flush runs at the end of this loop iteration."""
        if not self._scheduled and self.dirty:
            self._scheduled = True
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self.flush_all)

    def queue(self, conn: Flushable, data: bytes) -> None:
        """Queue one line for one connection (not for hot loops: they inline this)."""
        q = conn.outq
        if not q:
            self.dirty.append(conn)
        q.append(data)
        if not self._scheduled:
            self.schedule()

    def flush_all(self) -> None:
        """Write every dirty connection's queue."""
        self._scheduled = False
        dirty, self.dirty = self.dirty, []
        for conn in dirty:
            if conn.outq:
                conn.flush()
