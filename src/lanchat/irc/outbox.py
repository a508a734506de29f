"""Per-connection output queues, flushed at most once per event-loop iteration.

Fan-out appends the same bytes object to every recipient's queue and marks the connection
dirty (or, for a message to a whole channel, marks the channel's list of member connections
at once); one scheduled callback then writes each dirty connection's queue in one go, so under
load each write carries many lines (the project's design notes, "Performance principles").

Deliveries here are released by history commits, each in its own short loop iteration, so
"once per iteration" alone would still mean one system call per connection per commit. The
outbox therefore also paces itself: after a flush that took D seconds, the next one waits at
least FLUSH_PACING x D, but never more than MAX_FLUSH_PAUSE. Up to flushes of 10 ms at most a
quarter of the time goes to writing; an idle server still flushes at once, and a busy one
writes bigger chunks less often. Measured with ircload (fanout, 500 clients, 5 senders, p99
<= 100 ms): 2000 msg/s failed without pacing, 5000 msg/s passed with a factor of 2, 7000 with
3 or 4; the cap: docs/performance.md (session 20261126-183104).
"""

from __future__ import annotations

import asyncio
import time
from itertools import chain
from typing import Protocol

#: The pause after a flush, as a multiple of the time the flush took.
FLUSH_PACING = 3.0
#: The longest pause (seconds). Without it, when lines come faster than a quarter of the time
#: can write them (many recipients per line), each longer flush brought a longer pause and a
#: longer flush after it, until the clients waiting for those lines slowed down.
MAX_FLUSH_PAUSE = 0.03


class Flushable(Protocol):
    """Something with an output queue and a way to write it out."""

    outq: list[bytes]

    def flush(self) -> None: ...


class Outbox:
    """The dirty list and the one scheduled flush."""

    __slots__ = ("_loop", "_next_allowed", "_scheduled", "dirty", "dirty_groups", "generation", "lines_out")

    def __init__(self) -> None:
        self.dirty: list[Flushable] = []
        #: Lists of connections some of which have lines queued (channel fan-out marks a whole
        #: member list at once instead of each connection): by id, each written once.
        self.dirty_groups: dict[int, list[Flushable]] = {}
        #: Goes up whenever a connection's capabilities or a user's connections change
        #: (delivery lists built from them know when to rebuild).
        self.generation = 0
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_allowed = 0.0
        #: Queued lines written so far (for /metrics).
        self.lines_out = 0

    def schedule(self) -> None:
        """Make sure a flush runs soon: after this iteration, or when pacing allows."""
        if not self._scheduled and (self.dirty or self.dirty_groups):
            self._scheduled = True
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            wait = self._next_allowed - time.perf_counter()
            if wait > 0:
                self._loop.call_later(wait, self.flush_all)
            else:
                self._loop.call_soon(self.flush_all)

    def queue(self, conn: Flushable, data: bytes) -> None:
        """Queue one line for one connection (not for hot loops: they inline this)."""
        self.queue_all(conn, [data])

    def queue_all(self, conn: Flushable, lines: list[bytes]) -> None:
        """Queue several lines for one connection (a command's whole reply)."""
        if not lines:
            return
        q = conn.outq
        if not q:
            self.dirty.append(conn)
        q.extend(lines)
        if not self._scheduled:
            self.schedule()

    def flush_all(self) -> None:
        """Write every dirty connection's queue."""
        started = time.perf_counter()
        self._scheduled = False
        dirty, self.dirty = self.dirty, []
        groups, self.dirty_groups = self.dirty_groups, {}
        written = 0
        for conn in chain(dirty, *groups.values()):
            if conn.outq:
                written += len(conn.outq)
                conn.flush()
        self.lines_out += written
        ended = time.perf_counter()
        self._next_allowed = ended + min((ended - started) * FLUSH_PACING, MAX_FLUSH_PAUSE)
