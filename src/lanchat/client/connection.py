"""Connections to a server: ``HOST[:PORT]`` parsing, TCP or TLS, and IRC line framing."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from lanchat.client.trust import fingerprint
from lanchat.proto.errors import ProtocolError
from lanchat.proto.framing import LineReader, OverlongLine
from lanchat.proto.message import Message, parse_bytes
from lanchat.proto.names import parse_decimal

DEFAULT_TLS_PORT = 10001
DEFAULT_PLAIN_PORT = 10000
CONNECT_TIMEOUT = 10.0
READ_SIZE = 65536


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to connect, and how. ``name`` is how the server is known for pinning (its host
    name from discovery, or the host as typed); it defaults to ``host``. ``announced`` is the
    certificate fingerprint the server announced on the LAN, if any."""

    host: str
    port: int
    tls: bool
    name: str = ""
    announced: str = ""

    @property
    def address(self) -> str:
        """``host:port`` (``[v6]:port``), for messages."""
        return join_host_port(self.host, self.port)

    @property
    def pin_key(self) -> str:
        """The key of this server's certificate pin."""
        return join_host_port(self.name or self.host, self.port).lower()


def join_host_port(host: str, port: int) -> str:
    """``host:port``, bracketing an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str, *, tls: bool) -> Endpoint:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or a bare IPv6 address; the default port is 10001
    for TLS and 10000 for plaintext. Raises ValueError for a bad address."""
    text = text.strip()
    port_text = ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad address {text!r}: expected [IPv6]:PORT")
        port_text = rest[1:]
    elif text.count(":") > 1:
        host = text
    else:
        host, _, port_text = text.partition(":")
    if not host or any(ch.isspace() for ch in host):
        raise ValueError(f"bad address {text!r}: expected HOST[:PORT]")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"bad address {text!r}: not an IPv6 address") from None
    port = DEFAULT_TLS_PORT if tls else DEFAULT_PLAIN_PORT
    if port_text:
        asked = parse_decimal(port_text)
        if asked is None or not 0 < asked < 65536:
            raise ValueError(f"bad port {port_text!r}: expected a number from 1 to 65535")
        port = asked
    return Endpoint(host, port, tls)


class ConnectError(Exception):
    """The server could not be reached (or the TLS handshake failed)."""

    def __init__(self, endpoint: Endpoint, reason: str) -> None:
        super().__init__(f"{endpoint.address}: {reason}")
        self.endpoint = endpoint
        self.reason = reason


def tls_context() -> ssl.SSLContext:
    """TLS 1.2+ without CA verification: the certificate is checked against its pin instead
    (lanchat servers have self-signed certificates)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def describe_os_error(exc: BaseException) -> str:
    """A short reason for a failed connection."""
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class IrcConnection:
    """One open connection: send messages, receive parsed messages."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, endpoint: Endpoint, cert: str | None
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.endpoint = endpoint
        #: The SHA-256 fingerprint of the server's certificate (TLS only).
        self.fingerprint = cert
        self._lines = LineReader()
        self._ready: deque[Message] = deque()
        self.closed = False

    async def recv(self, within: float | None = None) -> Message | None:
        """The next message; ``None`` once the connection is closed. Raises TimeoutError when
        nothing arrives ``within`` seconds."""
        while not self._ready:
            if self.closed:
                return None
            try:
                data = await asyncio.wait_for(self.reader.read(READ_SIZE), within)
            except TimeoutError:
                raise  # a silence, not a broken connection (TimeoutError is an OSError)
            except (OSError, ssl.SSLError, EOFError):
                data = b""
            if not data:
                self.closed = True
                return None
            for line in self._lines.feed(data):
                if isinstance(line, OverlongLine):
                    continue
                with contextlib.suppress(ProtocolError):
                    self._ready.append(parse_bytes(line, client_tag_limit=False))
        return self._ready.popleft()

    def send(self, messages: Iterable[Message]) -> None:
        """Queue messages for sending (nothing happens once closed)."""
        data = b"".join(message.to_bytes() for message in messages)
        if data and not self.closed and not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self) -> None:
        """Wait until the queued bytes are handed to the kernel; a broken connection shows up
        as the end of :meth:`recv`."""
        try:
            await self.writer.drain()
        except (OSError, ssl.SSLError):
            self.closed = True

    async def close(self) -> None:
        """Close the connection."""
        self.closed = True
        self.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)


async def connect(endpoint: Endpoint, within: float = CONNECT_TIMEOUT) -> IrcConnection:
    """Open a TCP connection, with TLS when the endpoint says so (the certificate's fingerprint
    is kept for pinning). Raises :class:`ConnectError`."""
    context = tls_context() if endpoint.tls else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port, ssl=context, limit=1 << 20),
            within,
        )
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        raise ConnectError(endpoint, describe_os_error(exc)) from None
    cert: str | None = None
    if context is not None:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            writer.close()
            raise ConnectError(endpoint, "the server presented no TLS certificate")
        cert = fingerprint(der)
    return IrcConnection(reader, writer, endpoint, cert)
