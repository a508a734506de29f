"""A small line-level IRC client for tests: raw lines over a real loopback socket.

It parses what the server sends with lanchat's own parser (whose correctness the parser
tests establish against the public ircdocs vectors) and synchronises with PING/PONG the
way irctest does: everything the server sent before the PONG is "the reply".
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import itertools
import socket
import ssl
from collections.abc import Callable, Iterable

from lanchat.proto.message import Message, parse

DEFAULT_TIMEOUT = 5.0
_tokens = itertools.count(1)


class IrcTestClient:
    """One connection to the server under test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.nick = "*"
        #: Every message received, in order (for debugging failed tests).
        self.log: list[Message] = []

    @classmethod
    async def connect(
        cls, port: int, host: str = "127.0.0.1", *, receive_buffer: int = 0, tls: ssl.SSLContext | None = None
    ) -> IrcTestClient:
        """Open a TCP connection (over TLS with a context; with a small kernel receive buffer
        when asked)."""
        if not receive_buffer:
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 20, ssl=tls)
            return cls(reader, writer)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(
            sock=sock, limit=1 << 20, ssl=tls, server_hostname=host if tls else None
        )
        return cls(reader, writer)

    async def send(self, line: str | bytes) -> None:
        """Send one line (CR LF added) or raw bytes (sent as they are)."""
        data = line if isinstance(line, bytes) else (line + "\r\n").encode("utf-8")
        self.writer.write(data)
        await self.writer.drain()

    async def recv_line(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """The next raw line (without CR LF); raises ConnectionError at EOF."""
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            raise ConnectionError("connection closed by the server")
        return line.rstrip(b"\r\n")

    async def recv(self, timeout: float = DEFAULT_TIMEOUT) -> Message:
        """The next message."""
        msg = parse((await self.recv_line(timeout)).decode("utf-8"))
        self.log.append(msg)
        return msg

    async def expect(
        self,
        command: str | None = None,
        where: Callable[[Message], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Message:
        """Read until a message with ``command`` (and matching ``where``) arrives."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no {command or 'matching'} message; last seen: {self.log[-5:]}")
            msg = await self.recv(remaining)
            if (command is None or msg.command == command) and (where is None or where(msg)):
                return msg

    async def sync(self, timeout: float = DEFAULT_TIMEOUT) -> list[Message]:
        """Send a PING and return everything received before its PONG."""
        token = f"sync{next(_tokens)}"
        await self.send(f"PING {token}")
        got: list[Message] = []
        while True:
            msg = await self.recv(timeout)
            if msg.command == "PONG" and msg.params[-1] == token:
                return got
            got.append(msg)

    async def request(self, line: str, timeout: float = DEFAULT_TIMEOUT) -> list[Message]:
        """Send a line and return the reply (everything up to a sync)."""
        await self.send(line)
        return await self.sync(timeout)

    async def closed(self, timeout: float = DEFAULT_TIMEOUT) -> list[Message]:
        """Read until the server closes the connection; return what came before."""
        got: list[Message] = []
        try:
            while True:
                got.append(await self.recv(timeout))
        except ConnectionError:
            return got

    async def register(
        self,
        nick: str,
        *,
        caps: Iterable[str] = (),
        account: str | None = None,
        password: str | None = None,
        use_pass: bool = False,
        user: str | None = None,
        realname: str = "Test User",
        timeout: float = 10,
    ) -> list[Message]:
        """Register (with SASL PLAIN or PASS when credentials are given) and return the burst
        up to and including everything before a sync after 001 (auto-joins included)."""
        caps = list(caps)
        sasl = account is not None and not use_pass
        if sasl:
            caps.append("sasl")
        if caps:
            await self.send("CAP LS 302")
            await self.send("CAP REQ :" + " ".join(caps))
            await self.expect("CAP", lambda m: m.params[1] in ("ACK", "NAK"))
        if sasl:
            assert password is not None
            await self.send("AUTHENTICATE PLAIN")
            await self.expect("AUTHENTICATE")
            payload = base64.b64encode(f"\0{account}\0{password}".encode()).decode()
            await self.send(f"AUTHENTICATE {payload}")
            reply = await self.expect(where=lambda m: m.command in ("903", "904"))
            if reply.command != "903":
                raise AssertionError(f"SASL failed: {reply}")
        if use_pass and password is not None:
            await self.send(f"PASS :{account}:{password}" if account else f"PASS :{password}")
        await self.send(f"NICK {nick}")
        await self.send(f"USER {user or nick} 0 * :{realname}")
        if caps:
            await self.send("CAP END")
        welcome = await self.expect("001", timeout=timeout)
        self.nick = welcome.params[0]
        return [welcome, *await self.sync()]

    async def close(self) -> None:
        """Close the socket."""
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def commands(messages: Iterable[Message]) -> list[str]:
    """The command of each message."""
    return [m.command for m in messages]


def find(messages: Iterable[Message], command: str) -> list[Message]:
    """The messages with that command."""
    return [m for m in messages if m.command == command]


def mask(nick: str) -> str:
    """The source :meth:`IrcTestClient.register` gives a user (username = nick)."""
    return f"{nick}!~{nick}@127.0.0.1"


def plain(msg: Message) -> str:
    """The line without its tags (the trailing ``:`` only where it is needed)."""
    return Message(msg.command, msg.params, msg.source).to_line()


def canon(line: str) -> str:
    """An expected raw line in the form :func:`plain` produces."""
    return plain(parse(line))


def lines(messages: Iterable[Message]) -> list[str]:
    """Each message as a tagless line."""
    return [plain(m) for m in messages]


async def join_all(channel: str, *clients: IrcTestClient) -> None:
    """Join the clients in order (the first creates the channel and is op), then drain."""
    for client in clients:
        await client.request(f"JOIN {channel}")
    for client in clients:
        await client.sync()


async def wait_offline(observer: IrcTestClient, nick: str) -> None:
    """Poll ISON until ``nick`` is no longer online."""
    for _ in range(100):
        reply = find(await observer.request(f"ISON {nick}"), "303")
        if reply and not reply[0].params[-1].split():
            return
    raise AssertionError(f"{nick} is still online")


async def released(ref: Callable[[], object | None], timeout: float = 2.0) -> bool:
    """True once the object behind ``ref`` (a weak reference) is freed (collecting garbage meanwhile), False if
    it is still alive after ``timeout`` seconds."""
    for _ in range(int(timeout / 0.02)):
        gc.collect()
        if ref() is None:
            return True
        await asyncio.sleep(0.02)
    return False
