"""IRC over TCP: an asyncio Protocol per connection, and the listeners.

The protocol splits bytes into lines for its LinePipeline (ordering, flood control,
backpressure) and writes each flush as one ``transport.write`` bounded by the send queue.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from lanchat.net.pipeline import ConnectionLimits, LinePipeline
from lanchat.proto.framing import LineReader

if TYPE_CHECKING:
    from lanchat.irc.client import Client
    from lanchat.irc.server import IrcServer

log = logging.getLogger("lanchat.net")

#: How long a closing connection may take to drain before it is cut.
CLOSE_GRACE = 10.0
#: How long a TLS client may take to finish its handshake.
TLS_HANDSHAKE_TIMEOUT = 15.0
#: The QUIT reason of a client that closed its connection without QUIT.
EOF_REASON = "Remote host closed the connection"


class IrcProtocol(asyncio.Protocol):
    """One IRC connection over TCP (or TLS); implements the IRC layer's Link."""

    transport_name = "tcp"

    def __init__(self, server: IrcServer, limits: ConnectionLimits, *, secure: bool = False) -> None:
        self.server = server
        self.limits = limits
        self.secure = secure
        if secure:
            self.transport_name = "tls"
        self.peer_ip = "0.0.0.0"
        self._local_ip: str | None = None
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None
        self.pipeline: LinePipeline | None = None
        self._reader = LineReader()
        self._closed = False
        self._eof = False  # the peer sent everything it will send
        self._cut = False  # dropped by the server (SendQ): queued lines are not processed
        #: Cuts a closing connection whose peer does not take the last lines (see close).
        self._grace: asyncio.TimerHandle | None = None

    # -- asyncio callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self.peer_ip = str(peer[0])
        # No TCP_NODELAY here: asyncio's and uvloop's TCP transports set it themselves.
        self.client = self.server.connect(self)
        self.pipeline = LinePipeline(self.server, self.client, self.limits, self._pause_reading)

    @property
    def local_ip(self) -> str:
        """The server address the client reached; read when first needed (a system call)."""
        if self._local_ip is None:
            local = self.transport.get_extra_info("sockname") if self.transport is not None else None
            self._local_ip = str(local[0]) if isinstance(local, tuple) and local else "127.0.0.1"
        return self._local_ip

    def data_received(self, data: bytes) -> None:
        if not self._closed and self.pipeline is not None:
            self.pipeline.push(self._reader.feed(data))

    def eof_received(self) -> bool:
        """The peer shut down its sending side (``nc -N``, ``shutdown(SHUT_WR)``) or closed.
        Lines it sent before are still handled, in order, then the client is closed as on
        QUIT. Plain TCP keeps the write side open meanwhile, so the replies and the ERROR line
        still reach a half-closed client; TLS cannot stay half-open, so the transport closes
        and :meth:`connection_lost` finishes the lines instead."""
        self._eof = True
        if self.secure or self._closed or self.pipeline is None:
            return False
        self.pipeline.finish(self._input_ended)
        return True

    def _input_ended(self) -> None:
        if self.client is not None and not self.client.closing:
            self.client.close(EOF_REASON)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._grace is not None:
            # Closed in time: the timer would otherwise keep this connection in memory.
            self._grace.cancel()
            self._grace = None
        reason = EOF_REASON if exc is None else f"Connection error: {exc}"
        pipeline = self.pipeline
        if pipeline is not None and exc is None and self._eof and not self._cut:
            # A clean close after lines still queued: handle them (their replies go nowhere),
            # then the client leaves.
            pipeline.finish(lambda: self._gone(reason))
            return
        if pipeline is not None:
            pipeline.close()
        self._gone(reason)

    def _gone(self, reason: str) -> None:
        if self.pipeline is not None:
            self.pipeline.close()
        if self.client is not None:
            self.server.disconnected(self.client, reason)

    def _pause_reading(self, pause: bool) -> None:
        if self.transport is not None and not self._closed:
            (self.transport.pause_reading if pause else self.transport.resume_reading)()

    def feed_line(self, line: bytes) -> None:
        """Process a line as if it had been received (used by protocol adapters)."""
        if not self._closed and self.pipeline is not None:
            self.pipeline.push([line])

    # -- Link ------------------------------------------------------------------------------

    def write_lines(self, lines: list[bytes]) -> None:
        """Write queued lines in one system call, or drop the client past its send queue."""
        transport = self.transport
        if self._closed or transport is None:
            return
        data = b"".join(lines)
        if transport.get_write_buffer_size() + len(data) > self.limits.sendq_bytes:
            self._closed = True
            self._cut = True
            if self.client is not None:
                self.client.quit_reason = "SendQ exceeded"
            log.warning(
                "send queue over %d bytes: disconnected", self.limits.sendq_bytes, extra={"conn": self._conn_id()}
            )
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
        self._grace = asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.abort)

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
