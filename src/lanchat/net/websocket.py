"""IRC over WebSocket (IRCv3 WebSocket spec): one IRC line per WebSocket message.

Subprotocols ``text.ircv3.net`` and ``binary.ircv3.net``. A browser that comes with a valid
session cookie is logged in to its account before it says anything; anything else is an
ordinary IRC connection (SASL, PASS), so other web IRC clients can use the endpoint too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from lanchat.net.pipeline import ConnectionLimits, LinePipeline
from lanchat.net.tcp import CLOSE_GRACE, EOF_REASON
from lanchat.proto.framing import MAX_LINE_BYTES, OVERLONG, OverlongLine

if TYPE_CHECKING:
    from lanchat.core.ports import AccountRecord
    from lanchat.irc.client import Client
    from lanchat.irc.server import IrcServer

log = logging.getLogger("lanchat.net")

SUBPROTOCOLS = ("text.ircv3.net", "binary.ircv3.net")
#: Bigger messages are not parsed (ERR_INPUTTOOLONG); much bigger ones close the socket.
MAX_MESSAGE = 64 * 1024


class WebSocketLink:
    """One IRC-over-WebSocket connection; implements the IRC layer's Link."""

    transport_name = "websocket"

    def __init__(
        self,
        ws: web.WebSocketResponse,
        peer_ip: str,
        local_ip: str,
        secure: bool,
        sendq: int,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        #: The TCP connection under the WebSocket, cut when the peer stops reading.
        self.transport = transport
        self.peer_ip = peer_ip
        self.local_ip = local_ip
        self.secure = secure
        self.binary = ws.ws_protocol == "binary.ircv3.net"
        self.sendq = sendq
        self.client: Client | None = None
        self._queue: list[bytes] = []
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._closed = False
        self._close_reason: str | None = None
        #: Cuts a closing connection whose peer does not take the last lines (see close).
        self._grace: asyncio.TimerHandle | None = None

    def write_lines(self, lines: list[bytes]) -> None:
        """Queue lines (each becomes one WebSocket message); drop the client past its SendQ."""
        if self._closed:
            return
        for data in lines:
            for line in data.split(b"\r\n"):
                if line:
                    self._queue.append(line)
                    self._queued_bytes += len(line)
        if self._queued_bytes > self.sendq:
            if self.client is not None:
                self.client.quit_reason = "SendQ exceeded"
            self._queue.clear()
            self._closed = True
            log.warning("send queue over %d bytes: disconnected", self.sendq, extra={"conn": self._conn_id()})
            # As over TCP: the peer is not reading, so nothing more can be said to it. Cutting
            # the connection ends the read loop, which takes the client out of its channels.
            self.abort()
        self._wake.set()

    @property
    def closed(self) -> bool:
        """True once the server closed (or dropped) the link."""
        return self._closed

    def close(self, reason: str) -> None:
        """Send ERROR with the reason, then close (cut after a grace period, as over TCP,
        should the peer not read it)."""
        if self._closed:
            return
        host = self.client.host if self.client is not None else self.peer_ip
        self._queue.append(f"ERROR :Closing Link: {host} ({reason})".encode("utf-8", "replace"))
        self._closed = True
        self._close_reason = reason
        self._wake.set()
        self._grace = asyncio.get_running_loop().call_later(CLOSE_GRACE, self.abort)

    def closed_cleanly(self) -> None:
        """The WebSocket closed in time: drop the timer, which would otherwise keep this
        connection in memory for the grace period."""
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def abort(self) -> None:
        """Cut the TCP connection at once (nothing queued is sent)."""
        if self.transport is not None:
            self.transport.abort()

    async def writer(self) -> None:
        """Send queued lines until the link closes. A batch that the peer does not take
        within the grace period (it stopped reading) cuts the connection."""
        ws = self.ws
        while True:
            await self._wake.wait()
            self._wake.clear()
            queue, self._queue = self._queue, []
            self._queued_bytes = 0
            try:
                async with asyncio.timeout(CLOSE_GRACE):
                    for line in queue:
                        if self.binary:
                            await ws.send_bytes(line)
                        else:
                            await ws.send_str(line.decode("utf-8", "replace"))
            except TimeoutError:
                if self.client is not None and not self.client.quit_reason:
                    self.client.quit_reason = "Send timeout"
                log.warning("peer stopped reading: disconnected", extra={"conn": self._conn_id()})
                self._closed = True
                self.abort()
                return
            except (ConnectionError, RuntimeError):
                self._closed = True
            if self._closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.close()
                return

    def _conn_id(self) -> str:
        return self.client.conn_id if self.client is not None else "?"


def same_origin(request: web.Request) -> bool:
    """False for a browser page from another site (a cross-site WebSocket)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: an IRC client library
    return urlsplit(origin).netloc.lower() == request.host.lower()


async def serve_irc(
    request: web.Request,
    irc: IrcServer,
    limits: ConnectionLimits,
    account: AccountRecord | None,
    secure: bool,
) -> web.WebSocketResponse:
    """Run one IRC-over-WebSocket connection to its end."""
    if not same_origin(request):
        raise web.HTTPForbidden(text="cross-site WebSocket refused")
    # The heartbeat pings the peer when it is quiet, and drops it when no pong comes back in
    # half the interval: a browser tab that went away does not linger until the IRC ping.
    ws = web.WebSocketResponse(
        protocols=SUBPROTOCOLS, max_msg_size=MAX_MESSAGE, autoping=True, heartbeat=irc.config.ping_interval or None
    )
    await ws.prepare(request)
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport else None
    local = transport.get_extra_info("sockname") if transport else None
    link = WebSocketLink(
        ws,
        str(peer[0]) if isinstance(peer, tuple) else "0.0.0.0",
        str(local[0]) if isinstance(local, tuple) else "127.0.0.1",
        secure,
        limits.sendq_bytes,
        transport,
    )
    client = irc.connect(link)
    link.client = client
    if account is not None:
        client.account = account.name
        client.account_key = account.key
        client.account_admin = account.admin
    resumed = asyncio.Event()
    resumed.set()

    def pause(paused: bool) -> None:
        (resumed.clear if paused else resumed.set)()

    pipeline = LinePipeline(irc, client, limits, pause)
    writer = asyncio.create_task(link.writer())
    reason = EOF_REASON
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                data = message.data.encode("utf-8")
            elif message.type == WSMsgType.BINARY:
                data = message.data
            else:
                break
            items: list[bytes | OverlongLine] = []
            for line in data.replace(b"\r", b"").split(b"\n"):
                if line:
                    items.append(OVERLONG if len(line) > MAX_LINE_BYTES else line)
            pipeline.push(items)
            await resumed.wait()
        if not link.closed:
            # The peer closed after sending lines still queued: handle them first (within
            # the grace period), as a TCP client that half-closes gets them handled.
            drained = asyncio.Event()
            pipeline.finish(drained.set)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(drained.wait(), CLOSE_GRACE)
    except (ConnectionError, asyncio.CancelledError) as exc:
        reason = f"Connection error: {exc}" if isinstance(exc, ConnectionError) else "Server shutting down"
    finally:
        pipeline.close()
        irc.disconnected(client, reason)
        link.close(reason)
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(writer, 5)
        if ws.closed:
            link.closed_cleanly()
    return ws
