"""The terminal client end to end: ``python -m lanchat.client`` in a pseudo-terminal (pexpect)
against a real ``lanchat serve`` process, with a second user on a raw IRC connection.

Also home of :class:`ChatProcess` and the server fixture the other client test modules use."""

from __future__ import annotations

import asyncio
import functools
import io
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pexpect  # no stubs unless types-pexpect is installed
import pytest
import pytest_asyncio

from lanchat.app import make_accounts, make_store
from lanchat.config import load_config
from lanchat.proto.message import Message
from tests.ircclient import IrcTestClient
from tests.process import FAST_CONFIG, ServerProcess

PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-2"}
#: The tests' server config (fast hashing, TLS, discovery and web off), where a wrong password
#: is never slowed down.
SERVER_CONFIG = FAST_CONFIG.replace("[accounts]\n", "[accounts]\nlogin_throttle_free = 1000\n")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r")
_TIME = r"\d\d:\d\d "


@functools.cache
def client_command() -> list[str]:
    """``lanchat chat`` once the command line has it, else ``python -m lanchat.client``."""
    usage = subprocess.run(
        [sys.executable, "-m", "lanchat", "--help"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    if re.search(r"^\s+chat\s", usage, re.MULTILINE):
        return ["-m", "lanchat", "chat"]
    return ["-m", "lanchat.client"]


class ChatProcess:
    """``lanchat chat ARGS`` (see :func:`client_command`) in a pseudo-terminal with its own HOME."""

    def __init__(self, args: list[str], home: Path, timeout: float = 15) -> None:
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "TERM": "xterm-256color",
            "PROMPT_TOOLKIT_NO_CPR": "1",
            "TZ": "UTC",
        }
        self.log = io.StringIO()
        self.child = pexpect.spawn(
            sys.executable,
            [*client_command(), *args],
            env=env,
            encoding="utf-8",
            codec_errors="replace",
            timeout=timeout,
            dimensions=(50, 220),
        )
        self.child.delaybeforesend = None
        self.child.logfile_read = self.log

    @property
    def output(self) -> str:
        """Everything shown so far, without terminal control sequences."""
        return _ANSI.sub("", self.log.getvalue())

    def expect(self, text: str, timeout: float | None = None) -> None:
        """Wait until ``text`` is shown."""
        self.child.expect_exact(text, timeout=timeout if timeout is not None else -1)

    def expect_line(self, pattern: str, timeout: float | None = None) -> str:
        """Wait for a regular expression; return what it matched."""
        self.child.expect(pattern, timeout=timeout if timeout is not None else -1)
        return str(self.child.after)

    def send(self, line: str) -> None:
        """Type a line and Enter."""
        self.child.sendline(line)

    def login(self, name: str, password: str | None = None, *, prompted: bool = False) -> None:
        """Answer ``username:`` (already shown when ``prompted``) and ``Password:``; wait until
        in #general."""
        if not prompted:
            self.expect("username:")
        self.send(name)
        self.expect("Password:")
        self.send(password if password is not None else PASSWORDS[name])
        self.expect(f"Logged in as {name}")
        self.expect("In #general:")

    def sync(self) -> None:
        """Wait until everything typed before was handled (``/help`` is answered locally)."""
        self.send("/help quit")
        self.expect("leave the chat")

    def exit_status(self, timeout: float = 15) -> int:
        """Wait for the process to end; its exit status."""
        self.child.expect(pexpect.EOF, timeout=timeout)
        self.child.close()
        status = self.child.exitstatus
        assert status is not None, f"killed by signal {self.child.signalstatus}"
        return int(status)

    def close(self) -> None:
        """Make sure the process is gone."""
        if self.child.isalive():
            self.child.terminate(force=True)


def said_by(nick: str, target: str) -> Callable[[Message], bool]:
    """Matches a message from ``nick`` to ``target`` (the other user sees its own echoes too)."""
    return lambda m: m.params[:1] == [target] and (m.source or "").startswith(nick + "!")


@dataclass
class Lan:
    """A running server and where a client keeps its files."""

    tmp: Path
    config: Path
    data: Path
    server: ServerProcess
    home: Path

    @property
    def port(self) -> int:
        """The server's plaintext IRC port."""
        return self.server.port

    def client(self, *args: str) -> ChatProcess:
        """A terminal client (plaintext to this server unless ``args`` say otherwise)."""
        chat = ChatProcess(list(args) or [f"127.0.0.1:{self.port}", "--insecure-plaintext"], self.home)
        self._clients.append(chat)
        return chat

    async def user(self, name: str) -> IrcTestClient:
        """Another user, on a raw IRC connection with server-time and echo-message."""
        irc = await IrcTestClient.connect(self.port)
        await irc.register(name, account=name, password=PASSWORDS[name], caps=["server-time", "echo-message"])
        self._irc.append(irc)
        return irc

    def restart(self) -> None:
        """Stop the server cleanly and start it again on the same port."""
        port = self.port
        self.server.signal(signal.SIGTERM)
        self.server.wait()
        self.server = ServerProcess(self.data, self.config, "--irc-port", str(port))

    def __post_init__(self) -> None:
        self._clients: list[ChatProcess] = []
        self._irc: list[IrcTestClient] = []


async def create_accounts(config: Path, data: Path, passwords: dict[str, str]) -> None:
    """Accounts in the server's database (before it starts)."""
    cfg = load_config(config, environ={}, overrides={"data_dir": data})
    store = make_store(cfg)
    await store.open()
    try:
        accounts = make_accounts(cfg, store, None)
        for name, password in passwords.items():
            await accounts.create(name, password)
    finally:
        await store.close()


async def start_lan(tmp_path: Path, limits: str = "") -> Lan:
    """A plaintext server with the accounts alice and bob (and extra ``[limits]`` lines), and a
    HOME for the client."""
    config = tmp_path / "lanchat.toml"
    config.write_text(SERVER_CONFIG.replace("[limits]\n", f"[limits]\n{limits}\n"), encoding="utf-8")
    data = tmp_path / "data"
    await create_accounts(config, data, PASSWORDS)
    home = tmp_path / "home"
    home.mkdir()
    return Lan(tmp_path, config, data, ServerProcess(data, config), home)


async def stop_lan(setup: Lan) -> None:
    """Stop the clients and the server of a :func:`start_lan`."""
    for chat in setup._clients:
        chat.close()
    for irc in setup._irc:
        await irc.close()
    setup.server.stop()


@pytest_asyncio.fixture
async def lan(tmp_path: Path) -> AsyncIterator[Lan]:
    """A plaintext server with the accounts alice and bob, and a HOME for the client."""
    setup = await start_lan(tmp_path)
    yield setup
    await stop_lan(setup)


def free_port() -> int:
    """A loopback port nobody listens on (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME for a client that needs no server."""
    path = tmp_path / "home"
    path.mkdir()
    return path


# -- the report's flow -----------------------------------------------------------------------


async def test_wrong_password_then_login_then_chat_both_ways(lan: Lan) -> None:
    bob = await lan.user("bob")
    alice = lan.client()
    alice.expect("WITHOUT encryption")
    alice.expect("username:")
    alice.send("alice")
    alice.expect("Password:")
    alice.send("not-her-password")
    alice.expect("Username and Password are not valid.")
    alice.login("alice")

    await bob.send("PRIVMSG #general :hello alice")
    alice.expect_line(_TIME + "bob : hello alice")

    alice.send("hi bob, how are you?")
    got = await bob.expect("PRIVMSG", said_by("alice", "#general"))
    assert got.params[1] == "hi bob, how are you?"
    alice.expect_line(_TIME + "alice : hi bob, how are you\\?")
    alice.sync()
    assert alice.output.count("alice : hi bob, how are you?") == 1  # echo-message: shown once

    alice.send("/quit see you")
    assert alice.exit_status() == 0
    quit_line = await bob.expect("QUIT")
    assert "see you" in quit_line.params[0]
    out = alice.output
    assert "not-her-password" not in out
    assert PASSWORDS["alice"] not in out
    assert "Traceback" not in out


async def test_a_connection_dropped_while_typing_the_password_is_made_again(tmp_path: Path) -> None:
    lan = await start_lan(tmp_path, "registration_timeout = 0.5")
    try:
        alice = lan.client()
        alice.expect("username:")
        await asyncio.sleep(1.0)  # the server drops connections that do not register within 0.5 s
        alice.login("alice", prompted=True)
    finally:
        await stop_lan(lan)


async def test_input_line_stays_intact_while_messages_arrive(lan: Lan) -> None:
    bob = await lan.user("bob")
    alice = lan.client()
    alice.login("alice")
    alice.child.send("half of a sen")
    alice.expect("half of a sen")
    await bob.send("PRIVMSG #general :interrupting you")
    alice.expect("bob : interrupting you")
    alice.child.send("tence\r")
    got = await bob.expect("PRIVMSG", said_by("alice", "#general"))
    assert got.params[1] == "half of a sentence"
    alice.expect_line(_TIME + "alice : half of a sentence")


async def test_history_and_missed_direct_messages_are_shown_after_login(lan: Lan) -> None:
    bob = await lan.user("bob")
    await bob.send("PRIVMSG #general :said before alice came")
    await bob.send("PRIVMSG alice :a direct message while you were away")
    await bob.sync()
    alice = lan.client()
    alice.login("alice")
    alice.expect("You have 1 message sent to you while you were away")
    alice.expect_line(_TIME + r"\[DM\] bob : a direct message while you were away")
    alice.expect("--- recent messages in #general ---")
    alice.expect_line(_TIME + "bob : said before alice came")
    alice.expect("--- end of recent messages in #general ---")
    alice.send("/history 5")
    alice.expect("--- last 1 message in #general ---")
    alice.expect_line(_TIME + "bob : said before alice came")
    alice.sync()
    assert alice.output.count("bob : said before alice came") == 2  # at login, then asked for


# -- slash commands --------------------------------------------------------------------------


async def test_slash_commands(lan: Lan) -> None:
    bob = await lan.user("bob")
    alice = lan.client()
    alice.login("alice")

    alice.send("/who")
    alice.expect_line(r"Users in #general \(2\): [^\n]*bob")

    alice.send("/msg bob psst, a secret")
    dm = await bob.expect("PRIVMSG", said_by("alice", "bob"))
    assert dm.params[1] == "psst, a secret"
    alice.expect_line(_TIME + r"\[DM to bob\] alice : psst, a secret")
    await bob.send("PRIVMSG alice :secret received")
    alice.expect_line(_TIME + r"\[DM\] bob : secret received")

    alice.send("/me waves")
    action = await bob.expect("PRIVMSG", said_by("alice", "#general"))
    assert action.params[1] == "\x01ACTION waves\x01"
    alice.expect_line(_TIME + r"\* alice waves")

    alice.send("/topic Lunch at noon")
    alice.expect("!!! #general: You're not channel operator")

    alice.send("/away gone for lunch")
    alice.expect("You have been marked as being away")
    alice.send("/away")
    alice.expect("You are no longer marked as being away")

    alice.send("/join #dev")
    alice.expect("You joined #dev")
    alice.expect("Now talking in #dev")
    await bob.send("JOIN #dev")
    alice.expect("bob joined #dev")
    alice.send("/topic Release on Friday")
    topic = await bob.expect("TOPIC")
    assert topic.params == ["#dev", "Release on Friday"]
    alice.expect("alice changed the topic of #dev to: Release on Friday")
    alice.send("/topic")
    alice.expect("Topic of #dev: Release on Friday")
    alice.send("only for dev")
    in_dev = await bob.expect("PRIVMSG", said_by("alice", "#dev"))
    assert in_dev.params[1] == "only for dev"
    await bob.send("PRIVMSG #general :meanwhile in general")
    alice.expect_line(_TIME + r"\[#general\] bob : meanwhile in general")

    alice.send("/switch")
    alice.expect_line(r"1\) #general")
    alice.expect_line(r"2\) bob \(direct\)")
    alice.expect_line(r"\* 3\) #dev")
    alice.send("/switch 1")
    alice.expect("Now talking in #general")
    alice.child.sendcontrol("n")
    alice.expect("Now talking in a direct conversation with bob")
    alice.send("just between us")
    private = await bob.expect("PRIVMSG", said_by("alice", "bob"))
    assert private.params[1] == "just between us"
    alice.child.sendcontrol("n")
    alice.expect("Now talking in #dev")
    alice.send("/part")
    alice.expect("You left #dev")
    await bob.expect("PART", lambda m: m.params[0] == "#dev")

    alice.send("/history 2")
    alice.expect("--- last 2 messages in #general ---")
    alice.expect("--- end of history ---")

    alice.send("/frobnicate now")
    alice.expect("Unknown command /frobnicate. Type /help for the list of commands.")
    alice.send("/jion #x")
    alice.expect("Unknown command /jion. Did you mean /join?")
    alice.send("/msg bob")
    alice.expect("Usage: /msg NICK text")
    alice.send("/help")
    alice.expect("/switch [NUMBER|#channel|NICK]")
    alice.expect("Ctrl-N / Ctrl-P")

    alice.child.sendcontrol("d")
    assert alice.exit_status() == 0


async def test_joins_parts_and_quits_of_others_are_shown(lan: Lan) -> None:
    alice = lan.client()
    alice.login("alice")
    bob = await lan.user("bob")
    alice.expect("bob joined #general")
    await bob.send("PART #general :back soon")
    alice.expect("bob left #general (back soon)")
    await bob.send("JOIN #general")
    alice.expect("bob joined #general")
    await bob.send("QUIT :off home")
    alice.expect("bob quit (Quit: off home)")


# -- reconnecting ----------------------------------------------------------------------------


async def test_reconnects_by_itself_when_the_server_restarts(lan: Lan) -> None:
    bob = await lan.user("bob")
    alice = lan.client()
    alice.login("alice")
    await bob.send("PRIVMSG #general :before the restart")
    alice.expect("bob : before the restart")
    await bob.close()

    lan.restart()
    alice.expect("Lost the connection to 127.0.0.1")
    alice.expect(f"Reconnected to 127.0.0.1:{lan.port}.", timeout=20)
    alice.expect("You joined #general")

    bob = await lan.user("bob")
    await bob.send("PRIVMSG #general :after the restart")
    alice.expect_line(_TIME + "bob : after the restart")
    alice.send("glad you are back")
    got = await bob.expect("PRIVMSG", said_by("alice", "#general"))
    assert got.params[1] == "glad you are back"
    alice.sync()
    assert alice.output.count("bob : before the restart") == 1  # history after reconnect: no repeats


async def test_typing_while_the_server_is_away_is_refused_politely(lan: Lan) -> None:
    alice = lan.client()
    alice.login("alice")
    lan.server.signal(signal.SIGTERM)
    lan.server.wait()
    alice.expect("Lost the connection")
    alice.send("anyone there?")
    alice.expect("Not connected (reconnecting); nothing was sent.")
    alice.expect("Cannot reach 127.0.0.1")
    alice.send("/quit")
    assert alice.exit_status() == 0


# -- no server -------------------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", [True, False], ids=["plaintext", "tls"])
def test_no_server_says_it_is_unavailable(home: Path, plaintext: bool) -> None:
    port = free_port()
    args = [f"127.0.0.1:{port}", *(["--insecure-plaintext"] if plaintext else [])]
    chat = ChatProcess(args, home)
    try:
        status = chat.exit_status()
    finally:
        chat.close()
    lines = [line for line in chat.output.splitlines() if line.strip()]
    assert status == 1
    assert len(lines) == 1, lines
    assert "Server is currently unavailable" in lines[0]
    assert f"127.0.0.1:{port}" in lines[0]
    assert "Traceback" not in chat.output


def test_a_bad_address_is_a_usage_error(home: Path) -> None:
    chat = ChatProcess(["127.0.0.1:99999"], home)
    try:
        status = chat.exit_status()
    finally:
        chat.close()
    assert status == 2
    assert "bad port '99999'" in chat.output
