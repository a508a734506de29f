"""One session over one connection: negotiation, login, keepalive; and opening links with the
certificate checked against its pin before anything is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

from lanchat.client.connection import ConnectError, Endpoint, IrcConnection, connect
from lanchat.client.session import ClientSession, Event
from lanchat.client.session import events as ev
from lanchat.client.trust import CertificateChanged, KnownServers, Trust, Verdict
from lanchat.proto import caps as C

#: Seconds without a line from the server before we PING it, then before giving up on it.
KEEPALIVE = 90.0
PING_GRACE = 30.0
#: Seconds to wait for the server's capabilities, and for the answer to a login (the server
#: slows down repeated failures by up to 30 s).
NEGOTIATE_TIMEOUT = 15.0
LOGIN_TIMEOUT = 60.0


class ConnectionLost(Exception):
    """The connection ended (or stopped answering)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unreachable(Exception):
    """No address of the server could be reached."""

    def __init__(self, errors: Sequence[ConnectError]) -> None:
        self.errors = list(errors)
        super().__init__(self.summary)

    @property
    def summary(self) -> str:
        """``cannot connect to ADDRESS (reason)[; ADDRESS (reason)…]``."""
        tried = "; ".join(
            f"{e.endpoint.address}{' with TLS' if e.endpoint.tls else ''} ({e.reason})" for e in self.errors
        )
        return f"cannot connect to {tried}"


class Link:
    """A :class:`ClientSession` driven over an :class:`IrcConnection`."""

    def __init__(self, conn: IrcConnection, session: ClientSession | None = None) -> None:
        self.conn = conn
        self.session = session if session is not None else ClientSession()
        #: Events that arrived while negotiating or logging in, for the chat to show.
        self.backlog: list[Event] = []
        self._closing_reason = ""
        self._pinged = False

    @property
    def endpoint(self) -> Endpoint:
        """Where this link goes."""
        return self.conn.endpoint

    def send_queued(self) -> None:
        """Hand what the session queued to the connection (written as soon as it can be)."""
        self.conn.send(self.session.take_outgoing())

    async def flush(self) -> None:
        """Send what the session queued, and wait until it is written."""
        self.send_queued()
        await self.conn.drain()

    async def receive(self) -> list[Event]:
        """Wait for the next message and return its events (often none); answers PINGs, and
        PINGs the server after a silence. Raises :class:`ConnectionLost`."""
        try:
            msg = await self.conn.recv(PING_GRACE if self._pinged else KEEPALIVE)
        except TimeoutError:
            if self._pinged:
                await self.conn.close()
                raise ConnectionLost("the server stopped answering") from None
            self._pinged = True
            self.session.send("PING", "lanchat-keepalive")
            await self.flush()
            return []
        if msg is None:
            raise ConnectionLost(self._closing_reason or "the connection was closed")
        self._pinged = False
        events = self.session.feed(msg)
        for event in events:
            if isinstance(event, ev.Disconnecting):
                self._closing_reason = event.reason
        await self.flush()
        return events

    async def negotiate(self, within: float = NEGOTIATE_TIMEOUT) -> ev.CapsNegotiated:
        """Ask for the server's capabilities and enable the ones the client uses."""
        self.session.start()
        await self.flush()
        return cast(ev.CapsNegotiated, await self._wait_for((ev.CapsNegotiated,), within))

    async def login(self, account: str, password: str, within: float = LOGIN_TIMEOUT) -> ev.Registered | ev.LoginFailed:
        """Log in with SASL PLAIN and register; the answer is Registered or LoginFailed."""
        if not self.session.caps_done:
            await self.negotiate()
        if C.SASL not in self.session.caps:
            return ev.LoginFailed("the server does not offer SASL login", bad_credentials=False, final=True)
        self.session.login(account, password)
        await self.flush()
        answer = await self._wait_for((ev.Registered, ev.LoginFailed), within)
        return cast(ev.Registered | ev.LoginFailed, answer)

    async def _wait_for(self, wanted: tuple[type[Event], ...], within: float) -> Event:
        """Receive until an event of one of the ``wanted`` kinds comes; the others wait in the
        backlog."""
        async with asyncio.timeout(within):
            while True:
                for event in await self.receive():
                    if isinstance(event, wanted):
                        return event
                    self.backlog.append(event)

    def take_backlog(self) -> list[Event]:
        """The events kept while logging in."""
        out, self.backlog = self.backlog, []
        return out

    async def close(self) -> None:
        """Close the connection."""
        await self.conn.close()


class Connector:
    """Opens links to a server (its addresses in order), checking TLS certificates against
    their pins before anything is sent.

    The first link opened decides which certificate this run trusts: every later one (logging
    in again, reconnecting) must show that same certificate, and ``accept_new`` is switched off.
    Nothing is pinned in the file here: see :meth:`~lanchat.client.trust.KnownServers.accept`."""

    def __init__(self, endpoints: Sequence[Endpoint], known: KnownServers, *, accept_new: bool = False) -> None:
        if not endpoints:
            raise ValueError("no address to connect to")
        self.endpoints = list(endpoints)
        self.known = known
        self.accept_new = accept_new
        #: The certificate fingerprint trusted in this run, once a TLS link was opened.
        self.trusted: str | None = None

    @property
    def endpoint(self) -> Endpoint:
        """The first (preferred) address."""
        return self.endpoints[0]

    async def open(self) -> tuple[Link, Verdict | None]:
        """Connect and negotiate capabilities. Raises :class:`Unreachable`, or
        :class:`~lanchat.client.trust.CertificateChanged` (nothing was sent then)."""
        errors: list[ConnectError] = []
        for endpoint in self.endpoints:
            try:
                conn = await connect(endpoint)
            except ConnectError as exc:
                errors.append(exc)
                continue
            verdict = None
            if conn.fingerprint is not None:
                try:
                    verdict = self._check(endpoint, conn.fingerprint)
                except BaseException:
                    await conn.close()
                    raise
            link = Link(conn)
            try:
                await link.negotiate()
            except (ConnectionLost, TimeoutError) as exc:
                await link.close()
                reason = exc.reason if isinstance(exc, ConnectionLost) else "no answer to CAP LS"
                errors.append(ConnectError(endpoint, reason))
                continue
            self.accept_new = False
            if verdict is not None:
                self.trusted = verdict.fingerprint
            return link, verdict
        raise Unreachable(errors)

    def _check(self, endpoint: Endpoint, presented: str) -> Verdict:
        """After the first link, the certificate trusted then decides. Before, the pin decides;
        on first use, a fingerprint announced on the LAN must match."""
        if self.trusted is not None:
            if presented != self.trusted:
                raise CertificateChanged(endpoint.pin_key, self.trusted, presented, self.known.path)
            return Verdict(Trust.KNOWN, presented, server=endpoint.pin_key)
        first_use = self.known.lookup(endpoint.pin_key) is None
        if first_use and endpoint.announced and endpoint.announced != presented and not self.accept_new:
            raise CertificateChanged(endpoint.pin_key, endpoint.announced, presented, self.known.path, announced=True)
        return self.known.check(endpoint.pin_key, presented, accept_new=self.accept_new)
