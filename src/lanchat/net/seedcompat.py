"""The report's own protocol, on the plaintext IRC port (off by default; ``--seed-compat``).

The report's client (../shared/seed in the project's steering folder) sends
``username:_NAME`` and waits for ``verifieduser`` or ``notverified``, sends ``password:_PW``
and waits for ``authenticated`` or ``notauthenticated``, then sends raw text and prints every
chunk it receives. It sends no line endings: a message ends at a line break or when the
sender pauses. This adapter translates that to IRC — it logs in with PASS/NICK/USER, sends
each message as a PRIVMSG to the default channel — and translates what the user receives back
to ``NAME : text`` lines. Each connection is recognised from its first bytes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from lanchat.net.pipeline import ConnectionLimits
from lanchat.net.tcp import IrcProtocol
from lanchat.proto.errors import ProtocolError
from lanchat.proto.message import parse
from lanchat.proto.names import casefold

if TYPE_CHECKING:
    from lanchat.irc.server import IrcServer

log = logging.getLogger("lanchat.seedcompat")

SEED_PREFIX = b"username:"
#: A message without a line break ends when the sender pauses this long.
MESSAGE_PAUSE = 0.15
#: The report's client compares a whole recv() with "authenticated": nothing may follow it
#: in the same read, so other output waits this long after it.
AFTER_LOGIN_QUIET = 0.3
#: How long to wait for the first bytes before deciding a connection speaks IRC.
SNIFF_TIMEOUT = 2.0
#: Text of one relayed PRIVMSG, in bytes: with the sender's mask and the channel it still fits
#: IRC's 512. Longer messages are sent as several, cut between words where possible.
CHUNK_BYTES = 300
#: A message still without an end after this many bytes is sent at once (bounded memory).
MAX_PENDING_BYTES = 16 * 1024


def split_text(text: str, limit: int = CHUNK_BYTES) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` UTF-8 bytes, between words when a space
    falls in the second half of a piece, never inside a character."""
    pieces: list[str] = []
    while len(text.encode()) > limit:
        cut = len(text.encode()[:limit].decode("utf-8", "ignore"))
        space = text.rfind(" ", cut // 2, cut)
        if space > 0:
            cut = space
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def looks_like_seed(first: bytes) -> bool | None:
    """True/False once the first bytes decide it; None while they could still be either."""
    if first.startswith(SEED_PREFIX):
        return True
    if SEED_PREFIX.startswith(first) and b"\n" not in first:
        return None
    return False


class SniffingProtocol(asyncio.Protocol):
    """Looks at a new connection's first bytes, then hands it to IRC or to the seed adapter."""

    def __init__(self, server: IrcServer, limits: ConnectionLimits) -> None:
        self.server = server
        self.limits = limits
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._timer: asyncio.TimerHandle | None = None
        self._chosen: IrcProtocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._timer = asyncio.get_running_loop().call_later(SNIFF_TIMEOUT, self._choose, False)

    def data_received(self, data: bytes) -> None:
        if self._chosen is not None:
            self._chosen.data_received(data)
            return
        self._buffer += data
        verdict = looks_like_seed(self._buffer)
        if verdict is not None:
            self._choose(verdict)

    def _choose(self, seed: bool) -> None:
        if self._chosen is not None or self.transport is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        protocol = SeedProtocol(self.server, self.limits) if seed else IrcProtocol(self.server, self.limits)
        self._chosen = protocol
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        if self._buffer:
            protocol.data_received(self._buffer)
            self._buffer = b""

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._chosen is not None:
            self._chosen.connection_lost(exc)


class SeedProtocol(IrcProtocol):
    """A report-client connection, bridged to the IRC layer."""

    transport_name = "seed"

    def __init__(self, server: IrcServer, limits: ConnectionLimits) -> None:
        super().__init__(server, limits)
        self._text = b""
        self._pause: asyncio.TimerHandle | None = None
        self._state = "username"
        self._name = ""
        self._channel = server.config.default_channel
        self._held: list[bytes] | None = None
        self._lookup: asyncio.Future[None] | None = None

    # -- input: report messages -> IRC lines -----------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None
        self._text += data.replace(b"\r", b"")
        *complete, self._text = self._text.split(b"\n")
        for message in complete:
            self._message(message)
        if len(self._text) > MAX_PENDING_BYTES:
            self._message_ended()
        elif self._text:
            self._pause = asyncio.get_running_loop().call_later(MESSAGE_PAUSE, self._message_ended)

    def _message_ended(self) -> None:
        self._pause = None
        message, self._text = self._text, b""
        self._message(message)

    def _message(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        client = self.client
        if not text or client is None or client.closing:
            return
        if self._state == "chat":
            if not self._channel:
                self._irc("PING :idle")
                return
            for piece in split_text(text):
                self._irc(f"PRIVMSG {self._channel} :{piece}")
            return
        client.connected_at = time.monotonic()  # typing a login counts as activity
        if self._state == "username":
            self._state = "lookup"
            self._lookup = asyncio.ensure_future(self._check_username(text))
        elif self._state == "password" and text.startswith("password:"):
            self._state = "checking"
            password = text[len("password:") :]
            password = password[1:] if password.startswith("_") else password
            self._irc(f"PASS :{self._name}:{password}")
            self._irc(f"NICK {self._name}")
            if not client.user_given:
                self._irc(f"USER {self._name} 0 * :{self._name}")

    async def _check_username(self, text: str) -> None:
        name = text[len("username:") :] if text.startswith("username:") else ""
        name = name[1:] if name.startswith("_") else name
        account = await self.server.state.store.get_account(casefold(name)) if name else None
        if account is None:
            self._state = "username"
            self._say("notverified")
            return
        self._name = account.name
        self._state = "password"
        self._say("verifieduser")

    def _irc(self, line: str) -> None:
        """Feed one IRC line to the server as if the client had sent it."""
        self.feed_line(line.encode("utf-8"))

    def _say(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(text.encode("utf-8"))

    # -- output: IRC lines -> report lines -------------------------------------------------

    def write_lines(self, lines: list[bytes]) -> None:
        out: list[bytes] = []
        for raw in b"".join(lines).split(b"\r\n"):
            if raw:
                shown = self._translate(raw)
                if shown:
                    out.append(shown)
        if not out:
            return
        if self._held is not None:
            self._held.extend(out)
        else:
            super().write_lines(out)

    def _translate(self, raw: bytes) -> bytes:
        try:
            msg = parse(raw.decode("utf-8", "replace"))
        except ProtocolError:
            return b""
        command = msg.command
        if command == "PING":
            self._irc(f"PONG :{msg.params[-1] if msg.params else ''}")
        elif command == "001" and self._state == "checking":
            self._logged_in()
        elif command in ("464", "433", "432") and self._state == "checking":
            self._state = "username"
            self._say("notauthenticated")
        elif command in ("PRIVMSG", "NOTICE") and msg.source and len(msg.params) >= 2:
            sender = msg.source.split("!", 1)[0]
            target, text = msg.params[0], msg.params[1]
            if "!" not in msg.source:  # from the server itself
                return b""
            private = "" if target.startswith("#") else " (private)"
            if target.startswith("#") and casefold(target) != casefold(self._channel):
                private = f" ({target})"
            return f"{sender}{private} : {text}\n".encode()
        return b""

    def _logged_in(self) -> None:
        self._state = "chat"
        self._say("authenticated")
        self._held = []
        asyncio.get_running_loop().call_later(AFTER_LOGIN_QUIET, self._release)

    def _release(self) -> None:
        held, self._held = self._held, None
        if held:
            super().write_lines(held)

    def close(self, reason: str) -> None:
        """The report's client has no way to show a reason: just close."""
        transport = self.transport
        self._closed = True
        if transport is not None and not transport.is_closing():
            self._held = None
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pause is not None:
            self._pause.cancel()
        super().connection_lost(exc)
