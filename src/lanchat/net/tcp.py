"""IRC over TCP: an asyncio Protocol per connection, and the listeners.

The protocol reads bytes into lines, hands them to the IRC layer one at a time (a command
that finishes later holds back the next line, so each client's commands run in order),
applies flood control by delaying lines (never dropping them), and writes each flush as one
``transport.write`` bounded by the send queue limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from lanchat.proto.framing import LineReader, OverlongLine

if TYPE_CHECKING:
    from lanchat.irc.client import Client
    from lanchat.irc.server import IrcServer

log = logging.getLogger("lanchat.net")

#: Lines buffered from one client before reading from it pauses.
INBOX_HIGH = 256
INBOX_LOW = 64
#: How long a closing connection may take to drain before it is cut.
CLOSE_GRACE = 10.0
#: How long a TLS client may take to finish its handshake.
TLS_HANDSHAKE_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Per-connection limits from the config."""

    sendq_bytes: int
    flood_burst: int
    flood_rate: float


class IrcProtocol(asyncio.Protocol):
    """One IRC connection; implements the IRC layer's Link."""

    transport_name = "tcp"

    def __init__(self, server: IrcServer, limits: ConnectionLimits, *, secure: bool = False) -> None:
        self.server = server
        self.limits = limits
        self.secure = secure
        self.peer_ip = "0.0.0.0"
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None
        self._reader = LineReader()
        self._inbox: deque[bytes | OverlongLine] = deque()
        self._blocked = False
        self._reading_paused = False
        self._closed = False
        self._tokens = float(limits.flood_burst)
        self._refilled = time.monotonic()
        self._flood_timer: asyncio.TimerHandle | None = None

    # -- asyncio callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self.peer_ip = str(peer[0])
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client = self.server.connect(self)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        self._inbox.extend(self._reader.feed(data))
        if len(self._inbox) > INBOX_HIGH and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._process()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._flood_timer is not None:
            self._flood_timer.cancel()
        reason = "Remote host closed the connection" if exc is None else f"Connection error: {exc}"
        if self.client is not None:
            self.server.disconnected(self.client, reason)

    # -- processing ------------------------------------------------------------------------

    def _process(self) -> None:
        client = self.client
        assert client is not None
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
                log.exception("[%s] unexpected error handling a line", client.conn_id)
                continue
            if pending is not None:
                self._blocked = True
                pending.add_done_callback(self._resume)
                return
        if self._reading_paused and len(inbox) < INBOX_LOW and self.transport is not None and not self._closed:
            self._reading_paused = False
            self.transport.resume_reading()

    def feed_line(self, line: bytes) -> None:
        """Process a line as if it had been received (used by protocol adapters)."""
        if not self._closed:
            self._inbox.append(line)
            self._process()

    def _resume(self, _done: object) -> None:
        self._blocked = False
        self._process()

    def _take_token(self) -> bool:
        now = time.monotonic()
        rate = self.limits.flood_rate
        self._tokens = min(float(self.limits.flood_burst), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        if self._flood_timer is None:
            delay = (1 - self._tokens) / rate
            self._flood_timer = asyncio.get_running_loop().call_later(delay, self._flood_wake)
        return False

    def _flood_wake(self) -> None:
        self._flood_timer = None
        self._process()

    # -- Link ------------------------------------------------------------------------------

    def write_lines(self, lines: list[bytes]) -> None:
        """Write queued lines in one system call, or drop the client past its send queue."""
        transport = self.transport
        if self._closed or transport is None:
            return
        data = b"".join(lines)
        if transport.get_write_buffer_size() + len(data) > self.limits.sendq_bytes:
            self._closed = True
            if self.client is not None:
                self.client.quit_reason = "SendQ exceeded"
            log.warning("[%s] send queue over %d bytes: disconnected", self._conn_id(), self.limits.sendq_bytes)
            transport.abort()
            return
        transport.write(data)

    def close(self, reason: str) -> None:
        """Send ERROR with the reason, then close once written (cut after a grace period)."""
        transport = self.transport
        if self._closed or transport is None:
            return
        self._closed = True
        host = self.client.host if self.client is not None else self.peer_ip
        transport.write(f"ERROR :Closing Link: {host} ({reason})\r\n".encode("utf-8", "replace"))
        transport.close()
        asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.abort)

    def _conn_id(self) -> str:
        return self.client.conn_id if self.client is not None else "?"


async def start_irc_listener(
    server: IrcServer,
    hosts: tuple[str, ...],
    port: int,
    limits: ConnectionLimits,
    tls: ssl.SSLContext | None = None,
    protocol: Callable[[], asyncio.Protocol] | None = None,
) -> asyncio.Server:
    """Listen for IRC (over TLS with a context) on each address in ``hosts`` (none: every
    interface) and ``port``; ``protocol`` makes each connection's protocol (default IRC)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        protocol or (lambda: IrcProtocol(server, limits, secure=tls is not None)),
        host=list(hosts) or None,
        port=port,
        backlog=4096,
        reuse_address=True,
        ssl=tls,
        ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if tls is not None else None,
    )


def listening_addresses(listener: asyncio.Server) -> list[tuple[str, int]]:
    """(address, port) of each socket a listener is bound to."""
    out = []
    for sock in listener.sockets:
        name = sock.getsockname()
        out.append((str(name[0]), int(name[1])))
    return out
