"""Feeding one connection's received lines to the IRC layer, in order and at a bounded pace.

Every transport (TCP, TLS, WebSocket, the report's protocol) pushes lines here. A command that
finishes later (storage, password hashing) holds back that connection's next line; flood
control delays lines (never drops them); a long backlog asks the transport to stop reading.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lanchat.proto.framing import OverlongLine

if TYPE_CHECKING:
    from lanchat.irc.client import Client
    from lanchat.irc.server import IrcServer

log = logging.getLogger("lanchat.net")

#: Lines buffered from one client before reading from it pauses, and when it resumes.
BACKLOG_HIGH = 256
BACKLOG_LOW = 64


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Per-connection limits from the config."""

    sendq_bytes: int
    flood_burst: int
    flood_rate: float


class LinePipeline:
    """The received lines of one connection on their way to :meth:`IrcServer.handle_line`."""

    def __init__(
        self,
        server: IrcServer,
        client: Client,
        limits: ConnectionLimits,
        pause_reading: Callable[[bool], None],
    ) -> None:
        self.server = server
        self.client = client
        self.limits = limits
        self._pause_reading = pause_reading
        self._inbox: deque[bytes | OverlongLine] = deque()
        self._blocked = False
        self._paused = False
        self._closed = False
        self._tokens = float(limits.flood_burst)
        self._refilled = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._on_drained: Callable[[], None] | None = None
        self._waiting_for_store = False

    def push(self, items: list[bytes | OverlongLine]) -> None:
        """Queue received lines and process what can be processed now."""
        if self._closed:
            return
        self._inbox.extend(items)
        if len(self._inbox) > BACKLOG_HIGH and not self._paused:
            self._paused = True
            self._pause_reading(True)
        self.process()

    def close(self) -> None:
        """Stop processing (the connection is gone)."""
        self._closed = True
        self._on_drained = None
        if self._timer is not None:
            self._timer.cancel()

    def finish(self, drained: Callable[[], None]) -> None:
        """No more lines will come (the peer shut down its side): process every line already
        queued, then call ``drained`` (at once when nothing is left, and also when the client
        starts closing, e.g. on QUIT). Replaces an earlier ``drained``; never called after
        :meth:`close`."""
        if self._closed:
            return
        self._on_drained = drained
        self.process()

    def process(self) -> None:
        """Hand queued lines to the IRC layer until one must be waited for."""
        client = self.client
        inbox = self._inbox
        while inbox and not self._blocked and not self._closed and not client.closing:
            if self.limits.flood_rate > 0 and not self._take_token():
                return
            item = inbox.popleft()
            if isinstance(item, OverlongLine):
                self.server.overlong_line(client)
                continue
            try:
                pending = self.server.handle_line(client, item)
            except Exception:
                # The IRC layer answers its own errors; this is the last line of defence.
                log.exception("unexpected error handling a line", extra={"conn": client.conn_id})
                continue
            if pending is not None:
                self._blocked = True
                pending.add_done_callback(self._resume)
                return
        if self._paused and len(inbox) < BACKLOG_LOW and not self._closed:
            self._paused = False
            self._pause_reading(False)
        if self._on_drained is not None and not self._blocked and not self._closed and (not inbox or client.closing):
            storing = client.storing
            if storing is not None and not client.closing:
                # Messages sent just before the end are still being stored: out first.
                if not self._waiting_for_store:
                    self._waiting_for_store = True
                    storing.add_done_callback(self._store_settled)
                return
            drained, self._on_drained = self._on_drained, None
            drained()

    def _store_settled(self, _done: object) -> None:
        self._waiting_for_store = False
        self.process()

    def _resume(self, _done: object) -> None:
        self._blocked = False
        self.process()

    def _take_token(self) -> bool:
        now = time.monotonic()
        rate = self.limits.flood_rate
        self._tokens = min(float(self.limits.flood_burst), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        if self._timer is None:
            delay = (1 - self._tokens) / rate
            self._timer = asyncio.get_running_loop().call_later(delay, self._wake)
        return False

    def _wake(self) -> None:
        self._timer = None
        self.process()
