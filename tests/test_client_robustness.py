"""The terminal client against what a server may send: malformed lines, and text with terminal
control characters. ``lanchat chat`` runs in a pseudo-terminal against :class:`FakeIrc`, a small
server made in the test; some parts are also driven in-process over loopback sockets.

Also home of :class:`FakeIrc`, which tests/test_client_tls.py uses with certificates."""

from __future__ import annotations

import asyncio
import base64
import ssl
import threading
import time
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lanchat.client.chat import Chat
from lanchat.client.connection import Endpoint, connect
from lanchat.client.link import Connector, Link
from lanchat.client.session import events as ev
from lanchat.client.trust import KnownServers
from lanchat.client.ui import TerminalUI
from tests.test_client_e2e import ChatProcess

T = TypeVar("T")
#: Text a hostile server might send: it would set the terminal's title (OSC), clear the screen
#: (CSI as one C1 byte), and rub out what is shown (BS).
HOSTILE = "\x1b]0;PWNED\x07 \x9b2J \x08\x08"
#: What must never reach the terminal as it is.
CONTROLS = ("\x1b]0;PWNED", "\x07", "\x9b", "\x08")


class FakeIrc:
    """A small IRC server in a thread of its own (pexpect blocks the test's event loop), on
    127.0.0.1 (any port, or ``port``), with TLS when ``cert`` gives a certificate and its key.

    It logs in anyone with SASL PLAIN, joins them to #general and records every line it gets.
    ``before_caps`` go out before the answer to ``CAP LS``, ``caps`` is that answer, ``login``
    replaces the answer to the SASL response, ``nick`` is the nick the welcome gives. A line
    starting with ERROR is followed by closing the connection."""

    def __init__(
        self,
        *,
        cert: tuple[Path, Path] | None = None,
        port: int = 0,
        before_caps: Sequence[str] = (),
        caps: Sequence[str] = (":fake.test CAP * LS :sasl",),
        login: Sequence[str] | None = None,
        nick: str | None = None,
    ) -> None:
        self.cert = cert
        self.before_caps = list(before_caps)
        self.caps = list(caps)
        self.login = list(login) if login is not None else None
        self.nick = nick
        self.received: list[str] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = self._call(self._start(port))

    @property
    def port(self) -> int:
        """Its port on 127.0.0.1."""
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self, port: int) -> asyncio.Server:
        context = None
        if self.cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.cert)
        return await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=context)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while line := await reader.readline():
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                self.received.append(text)
                replies = self._answer(text)
                writer.write(b"".join(reply.encode() + b"\r\n" for reply in replies))
                await writer.drain()
                if any(reply.startswith("ERROR") for reply in replies):
                    break
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _answer(self, text: str) -> list[str]:
        words = text.split(" ")
        command = words[0].upper()
        if command == "CAP" and words[1:2] == ["LS"]:
            return [*self.before_caps, *self.caps]
        if command == "CAP" and words[1:2] == ["REQ"]:
            return [f":fake.test CAP * ACK :{' '.join(words[2:]).lstrip(':')}"]
        if command == "AUTHENTICATE" and words[1:2] == ["PLAIN"]:
            return ["AUTHENTICATE +"]
        if command == "AUTHENTICATE":
            account = base64.b64decode(words[1]).split(b"\0")[1].decode()
            if self.login is not None:
                return self.login
            return [f":fake.test 900 * * {account} :You are now logged in", ":fake.test 903 * :SASL successful"]
        if command == "CAP" and words[1:2] == ["END"]:
            nick = self.nick or next((w.split(" ")[1] for w in self.received if w.startswith("NICK ")), "*")
            return [
                f":fake.test 001 {nick} :Welcome",
                f":{nick}!u@h JOIN #general",
                f":fake.test 353 {nick} = #general :{nick}",
                f":fake.test 366 {nick} #general :End of /NAMES list.",
            ]
        if command == "PING":
            return [f":fake.test PONG fake.test {' '.join(words[1:])}"]
        if command == "QUIT":
            return ["ERROR :Closing link"]
        return []

    def send(self, *lines: str) -> None:
        """Send lines to every client connected now."""

        async def send() -> None:
            for writer in list(self._writers):
                writer.write(b"".join(line.encode() + b"\r\n" for line in lines))
                await writer.drain()

        self._call(send())

    def drop(self) -> None:
        """Close every connection (the server keeps listening)."""

        async def drop() -> None:
            for writer in list(self._writers):
                writer.close()

        self._call(drop())

    def stop(self) -> None:
        """Close the connections, stop listening, end the thread."""

        async def stop() -> None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

        self._call(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME for the client."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def received(fake: FakeIrc, start: str, within: float = 5) -> str:
    """Wait until the fake server got a line starting with ``start``; that line."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for line in list(fake.received):
            if line.startswith(start):
                return line
        time.sleep(0.02)
    raise AssertionError(f"no line {start!r} in {fake.received}")


def assert_defused(chat: ChatProcess) -> None:
    """The hostile text reached the terminal, with its control characters replaced."""
    raw = chat.log.getvalue()
    assert "]0;PWNED" in raw
    for control in CONTROLS:
        assert control not in raw, repr(control)
    assert "Traceback" not in raw


# -- malformed lines -------------------------------------------------------------------------


def test_malformed_lines_while_negotiating_do_not_crash_the_client(home: Path) -> None:
    fake = FakeIrc(before_caps=[":fake.test 305", ":fake.test CAP alice NEW *", ":fake.test CAP * LS *"])
    chat = ChatProcess([fake.address, "--insecure-plaintext"], home)
    try:
        chat.login("alice")
        chat.send("/quit")
        assert chat.exit_status() == 0
    finally:
        chat.close()
        fake.stop()
    assert "Traceback" not in chat.output


def test_malformed_lines_while_chatting_leave_the_client_working(home: Path) -> None:
    fake = FakeIrc()
    chat = ChatProcess([fake.address, "--insecure-plaintext"], home)
    try:
        chat.login("alice")
        fake.send(
            ":fake.test CAP alice NEW *",
            ":fake.test 305",
            "@time=9999-12-31T23:59:59-23:59 :bob!b@h PRIVMSG #general :from the end of time",
            ":bob!b@h PRIVMSG #general :still here?",
        )
        chat.expect("bob : from the end of time")
        chat.expect("bob : still here?")
        chat.send("yes")
        assert received(fake, "PRIVMSG #general").endswith("yes")
        chat.send("/quit")
        assert chat.exit_status() == 0
    finally:
        chat.close()
        fake.stop()
    assert "Traceback" not in chat.output


async def test_an_event_the_chat_cannot_handle_is_one_line_and_the_rest_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(idle, "127.0.0.1", 0)
    endpoint = Endpoint("127.0.0.1", server.sockets[0].getsockname()[1], tls=False)
    link = Link(await connect(endpoint))
    try:
        chat = Chat(TerminalUI(), Connector([endpoint], KnownServers(tmp_path / "k")), link, "alice", "pw")
        shown = chat.render.event

        def fragile(event: ev.Event, now: datetime) -> list[str]:
            if isinstance(event, ev.Notice) and event.text == "boom":
                raise ValueError("a bug the server found")
            return shown(event, now)

        monkeypatch.setattr(chat.render, "event", fragile)
        at = datetime.now(UTC)
        chat.handle([ev.Notice("boom", at), ev.Notice("and after", at)])
    finally:
        await link.close()
        server.close()
        await server.wait_closed()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "*** Ignored a malformed line from the server.",
        "*** and after",
    ]


# -- text from the server made safe ----------------------------------------------------------


def test_the_ui_replaces_control_characters_in_every_line(capsys: pytest.CaptureFixture[str]) -> None:
    ui = TerminalUI()
    ui.show(f"shown {HOSTILE}\r end")
    ui.error(f"error {HOSTILE}\r end")
    out, err = capsys.readouterr()
    defused = "\ufffd]0;PWNED\ufffd \ufffd2J \ufffd\ufffd\ufffd"
    assert out == f"shown {defused} end\n"
    assert err == f"error {defused} end\n"


def test_an_error_while_connecting_is_shown_defused(home: Path) -> None:
    fake = FakeIrc(caps=[f"ERROR :Go away {HOSTILE}"])
    chat = ChatProcess([fake.address, "--insecure-plaintext"], home)
    try:
        assert chat.exit_status() == 1
    finally:
        chat.close()
        fake.stop()
    assert "Server is currently unavailable" in chat.output
    assert_defused(chat)


def test_a_login_refusal_is_shown_defused(home: Path) -> None:
    fake = FakeIrc(login=[f":fake.test 902 * :You must use a nick assigned to you {HOSTILE}"])
    chat = ChatProcess([fake.address, "--insecure-plaintext"], home)
    try:
        chat.expect("username:")
        chat.send("alice")
        chat.expect("Password:")
        chat.send("pw")
        chat.expect("Could not log in: You must use a nick assigned to you")
        chat.expect("username:")
        chat.child.sendcontrol("c")
        assert chat.exit_status() == 130
    finally:
        chat.close()
        fake.stop()
    assert_defused(chat)


def test_the_nick_and_the_reason_of_a_lost_connection_are_shown_defused(home: Path) -> None:
    fake = FakeIrc(nick=f"alice{HOSTILE.replace(' ', '')}")
    chat = ChatProcess([fake.address, "--insecure-plaintext"], home)
    try:
        chat.login("alice")
        fake.send(f"ERROR :Killed by an operator ({HOSTILE})")
        fake.drop()
        chat.expect("Lost the connection to")
        chat.expect("Reconnected to")
        chat.send("/quit")
        assert chat.exit_status() == 0
    finally:
        chat.close()
        fake.stop()
    assert_defused(chat)
