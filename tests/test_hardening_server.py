"""Hardening of the server against input and timing that used to hurt it: values SQLite cannot
store, non-ASCII digits, clients that vanish in the middle of a command, WebSocket clients that
stop reading, clients that half-close their connection, and read markers for any target."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import sqlite3
import ssl
import struct
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvloop

import lanchat.core.messaging
import lanchat.net.websocket
from lanchat.app import App
from lanchat.proto.message import Message, parse
from tests.conftest import RunningServer, ServerFactory
from tests.conftest import test_config as config_for_tests
from tests.ircclient import IrcTestClient, find, released, wait_offline

STAMP = "2019-01-04T14:33:26.123Z"


def _cut(client: IrcTestClient) -> None:
    """Reset the connection (RST): the server sees it gone at once, without an EOF first."""
    sock = client.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.writer.transport.abort()


class Gate:
    """Holds every call of an async function until released, and says when one arrived."""

    def __init__(self, original: Callable[..., Awaitable[Any]]) -> None:
        self.original = original
        self.entered = asyncio.Event()
        self.released = asyncio.Event()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        await self.released.wait()
        return await self.original(*args, **kwargs)


async def _settle(observer: IrcTestClient) -> None:
    """Give the server's pending coroutines time to run to their end."""
    for _ in range(5):
        await asyncio.sleep(0.02)
        await observer.sync()


# -- one bad value does not take down a commit; +l takes ASCII digits only --------------------


async def test_a_huge_channel_limit_is_refused_and_messages_sent_with_it_are_kept(server: RunningServer) -> None:
    op = await server.user("op")
    talkers = [await server.user(f"talker{i}") for i in range(3)]
    watcher = await server.user("watcher")
    for client in (op, *talkers, watcher):
        await client.request("JOIN #c")
    await op.sync()
    await watcher.sync()

    # All at once, so that the writes land in the same commits.
    await op.send("MODE #c +l 99999999999999999999999999")
    for i, talker in enumerate(talkers):
        await talker.send(f"PRIVMSG #c :said at the same moment {i}")
    reply = await op.sync()

    assert [(m.command, m.params[1:3]) for m in find(reply, "696")] == [("696", ["#c", "l"])]
    got = sorted([(await watcher.expect("PRIVMSG")).params[1] for _ in talkers])
    assert got == [f"said at the same moment {i}" for i in range(3)]
    assert not find(await watcher.sync(), "MODE")
    mode = find(await op.request("MODE #c"), "324")[0]
    assert "l" not in mode.params[2]
    stored = await server.app.store.query("#c", after=None, before=None, limit=10, newest_first=False)
    assert sorted(m.text for m in stored if m.kind == "PRIVMSG") == got


# -- "²".isdigit() is true, int("²") raises -----------------------------------------------------


async def test_superscript_digits_get_a_proper_answer_and_log_no_error(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    fresh = await server.connect()  # before registration
    reply = await fresh.request("CAP LS ²")
    assert [m.command for m in reply] == ["CAP"]
    assert reply[0].params[1] == "LS"

    alice = await server.user("alice", caps=["draft/chathistory", "batch"])
    await alice.request("JOIN #c")
    await alice.request("PRIVMSG #c :hello")
    answers: dict[str, list[Message]] = {}
    for line in (
        "CHATHISTORY LATEST #c * ²",
        "LIST >²",
        "LIST <²",
        "LIST C>²",
        "LIST T<²",
        "MODE #c +l ²",
        "MODE #c +l 1234567890",
        "WHOWAS alice ²",
        "SEARCH in=#c;text=hello;limit=²",
    ):
        answers[line] = await alice.request(line)

    everything = [m for messages in answers.values() for m in messages] + reply
    assert not [m for m in everything if m.command == "400"], everything
    assert [m.params[:2] for m in answers["CHATHISTORY LATEST #c * ²"]] == [["CHATHISTORY", "INVALID_PARAMS"]]
    for line in ("LIST >²", "LIST <²", "LIST C>²", "LIST T<²"):
        assert [m.command for m in answers[line]] == ["321", "323"], line  # no channel matches
    assert [m.command for m in answers["MODE #c +l ²"]] == ["696"]
    assert [m.command for m in answers["MODE #c +l 1234567890"]] == ["696"]
    assert [m.params[:2] for m in answers["SEARCH in=#c;text=hello;limit=²"]] == [["SEARCH", "INVALID_PARAMS"]]
    assert [m.command for m in answers["WHOWAS alice ²"]] == ["406", "369"]  # alice is still online
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.records


# -- a client that disconnects in the middle of a command leaves no ghost ----------------------


async def test_disconnecting_during_a_join_leaves_no_ghost_member(make_server: ServerFactory) -> None:
    server = await make_server(history_replay=5)  # joining reads history first: an await
    observer = await server.user("observer")
    ghost = await server.user("ghost")
    gate = Gate(server.app.store.query)
    server.app.store.query = gate  # type: ignore[method-assign]

    await ghost.send("JOIN #a,#b,#c,#d")
    await asyncio.wait_for(gate.entered.wait(), 5)
    _cut(ghost)
    await wait_offline(observer, "ghost")
    gate.released.set()
    await _settle(observer)

    for channel in ("#a", "#b", "#c", "#d"):
        reply = await observer.request(f"NAMES {channel}")
        assert not find(reply, "353"), reply
    assert not server.app.irc.state.channels
    again = await server.connect()
    assert (await again.register("ghost"))[0].params[0] == "ghost"  # the nick is free


async def test_disconnecting_during_registration_leaves_no_ghost_member(make_server: ServerFactory) -> None:
    server = await make_server(history_replay=5, default_channel="#lobby")
    observer = await server.user("observer")
    gate = Gate(server.app.store.query)
    server.app.store.query = gate  # type: ignore[method-assign]

    ghost = await server.connect()
    await ghost.send("NICK ghost")
    await ghost.send("USER ghost 0 * :Ghost")
    await asyncio.wait_for(gate.entered.wait(), 5)  # welcomed, reading #lobby's history
    _cut(ghost)
    await wait_offline(observer, "ghost")
    gate.released.set()
    await _settle(observer)

    names = find(await observer.request("NAMES #lobby"), "353")
    assert [entry for m in names for entry in m.params[-1].split()] == ["observer"]


async def test_disconnecting_during_sasl_after_registration_logs_nobody_in(server: RunningServer) -> None:
    await server.add_account("acct", "long enough")
    observer = await server.user("observer")
    ghost = await server.user("ghost", caps=["sasl"])
    irc = server.app.irc
    gate = Gate(irc.accounts.authenticate)
    irc.accounts.authenticate = gate  # type: ignore[method-assign]

    await ghost.send("AUTHENTICATE PLAIN")
    await ghost.expect("AUTHENTICATE")
    await ghost.send("AUTHENTICATE " + base64.b64encode(b"\0acct\0long enough").decode())
    await asyncio.wait_for(gate.entered.wait(), 5)
    _cut(ghost)
    await wait_offline(observer, "ghost")
    gate.released.set()
    await _settle(observer)

    assert "acct" not in irc.state.by_account
    assert not irc.state.sessions.keys() - {"observer"}


# -- a WebSocket client that stops reading is dropped ------------------------------------------


def _small_receive_buffer(addr_info: Any) -> socket.socket:
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family, type_, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def _stuck_websocket_is_dropped(server: RunningServer) -> Message:
    """A WebSocket client in #busy and #side stops reading while #busy is flooded; returns
    the QUIT the watcher in #side sees (20 s at most), and checks it left #busy."""
    speaker = await server.user("speaker")
    watcher = await server.user("watcher")
    await speaker.request("JOIN #busy")
    await watcher.request("JOIN #side")
    url = f"ws://127.0.0.1:{server.app.web_addresses[0][1]}/irc"
    connector = aiohttp.TCPConnector(socket_factory=_small_receive_buffer)
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.ws_connect(url, protocols=("text.ircv3.net",)) as ws,
    ):
        for line in ("NICK stuck", "USER stuck 0 * :Stuck", "JOIN #busy", "JOIN #side", "PING :ready"):
            await ws.send_str(line)
        while parse((await ws.receive(timeout=5)).data).command != "PONG":
            pass
        await watcher.expect("JOIN")
        # From here on the WebSocket client reads nothing: its buffers fill up, then the server's.
        text = "z" * 400
        for start in range(0, 12000, 100):
            await speaker.send("".join(f"PRIVMSG #busy :{start + i} {text}\r\n" for i in range(100)).encode())
        quit_ = await watcher.expect("QUIT", timeout=20)
    assert (quit_.source or "").startswith("stuck!")
    names = find(await speaker.request("NAMES #busy"), "353")
    assert [entry for m in names for entry in m.params[-1].split()] == ["@speaker"]
    return quit_


async def test_a_websocket_client_that_stops_reading_is_dropped_past_its_sendq(make_server: ServerFactory) -> None:
    server = await make_server(web_enabled=True, web_port=0, sendq_bytes=64 * 1024)
    quit_ = await _stuck_websocket_is_dropped(server)
    assert quit_.params == ["SendQ exceeded"]


async def test_a_websocket_client_that_takes_nothing_for_the_grace_period_is_dropped(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lanchat.net.websocket, "CLOSE_GRACE", 0.5)
    server = await make_server(web_enabled=True, web_port=0, sendq_bytes=256 << 20)  # never reached
    quit_ = await _stuck_websocket_is_dropped(server)
    assert quit_.params == ["Send timeout"]


# -- a client that half-closes still has its lines handled -------------------------------------


async def _raw_session(port: int, lines: list[str]) -> bytes:
    """Send the lines, shut down the sending side (like ``nc -N``), read until EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write("".join(line + "\r\n" for line in lines).encode())
    await writer.drain()
    writer.write_eof()
    received = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return received


async def test_lines_sent_before_a_half_close_are_handled(server: RunningServer) -> None:
    watcher = await server.user("watcher")
    await watcher.request("JOIN #ci")

    received = await _raw_session(
        server.port, ["NICK bot", "USER b 0 * :b", "JOIN #ci", "PRIVMSG #ci :build passed", "QUIT :done"]
    )

    got = await watcher.expect("PRIVMSG")
    assert (got.source or "").startswith("bot!")
    assert got.params == ["#ci", "build passed"]
    assert (await watcher.expect("QUIT")).params == ["Quit: done"]
    lines = received.decode().splitlines()
    assert lines[-1].startswith("ERROR :Closing Link")  # then EOF: read() returned


async def test_a_half_close_without_quit_handles_the_lines_then_closes(server: RunningServer) -> None:
    watcher = await server.user("watcher")
    await watcher.request("JOIN #ci")

    received = await _raw_session(server.port, ["NICK bot", "USER b 0 * :b", "JOIN #ci", "PRIVMSG #ci :build passed"])

    assert (await watcher.expect("PRIVMSG")).params == ["#ci", "build passed"]
    assert (await watcher.expect("QUIT")).params == ["Remote host closed the connection"]
    lines = received.decode().splitlines()
    assert any(line.split(" ")[1:2] == ["001"] for line in lines)
    assert lines[-1].startswith("ERROR :Closing Link")
    await wait_offline(watcher, "bot")


async def test_lines_sent_before_a_websocket_close_are_handled(make_server: ServerFactory) -> None:
    server = await make_server(web_enabled=True, web_port=0)
    watcher = await server.user("watcher")
    await watcher.request("JOIN #ci")
    url = f"ws://127.0.0.1:{server.app.web_addresses[0][1]}/irc"
    async with aiohttp.ClientSession() as http, http.ws_connect(url, protocols=("text.ircv3.net",)) as ws:
        for line in ("NICK bot", "USER b 0 * :b", "JOIN #ci", "PRIVMSG #ci :build passed"):
            await ws.send_str(line)
        await ws.close()

    got = await watcher.expect("PRIVMSG")
    assert got.params == ["#ci", "build passed"]
    await wait_offline(watcher, "bot")


def test_a_websocket_connection_closed_by_quit_is_let_go_at_once(tmp_path: Path) -> None:
    """The timer that would cut a peer not taking the last lines goes once the WebSocket is
    closed, so the connection is not held in memory for the grace period (on uvloop, as
    ``lanchat serve`` runs)."""

    async def scenario() -> bool:
        app = App(config_for_tests(tmp_path / "data", web_enabled=True, web_port=0))
        await app.start()
        try:
            url = f"ws://127.0.0.1:{app.web_addresses[0][1]}/irc"
            async with aiohttp.ClientSession() as http, http.ws_connect(url, protocols=("text.ircv3.net",)) as ws:
                for line in ("NICK bot", "USER b 0 * :b"):
                    await ws.send_str(line)
                while "001" not in (await ws.receive_str(timeout=10)).split(" ")[:2]:
                    pass
                (client,) = app.irc.clients.values()
                link = weakref.ref(client.link)
                del client
                await ws.send_str("QUIT :bye")
                async for _ in ws:
                    pass
            return await released(link)
        finally:
            await app.stop()

    assert uvloop.run(scenario()), "the closed WebSocket connection is still held"


# -- read markers only for conversations the user has ------------------------------------------


async def test_markread_refuses_targets_the_user_has_no_conversation_with(server: RunningServer) -> None:
    await server.add_account("alice", "pw-alice")
    await server.add_account("offline", "pw-offline")
    alice = await server.user("alice", caps=["draft/read-marker"], account="alice", password="pw-alice")
    await server.user("bob")
    await alice.request("JOIN #mine")
    other = await server.user("other")
    await other.request("JOIN #theirs")

    for target in ("#theirs", "#nowhere", "nobody", "bad,nick"):
        reply = await alice.request(f"MARKREAD {target} timestamp={STAMP}")
        assert [(m.command, m.params[:3]) for m in reply] == [("FAIL", ["MARKREAD", "INVALID_PARAMS", target])]
        # Reading stores nothing: it answers "no marker" (as irctest's read_marker expects).
        reply = await alice.request(f"MARKREAD {target}")
        assert [(m.command, m.params) for m in reply] == [("MARKREAD", [target, "*"])]
    for target in ("#mine", "bob", "offline"):
        reply = await alice.request(f"MARKREAD {target} timestamp={STAMP}")
        assert [(m.command, m.params) for m in reply] == [("MARKREAD", [target, f"timestamp={STAMP}"])]

    store = server.app.store
    assert await store.get_marker("alice", "#theirs") is None
    assert await store.get_marker("alice", "nobody") is None
    assert await store.get_marker("alice", "#mine") is not None


async def test_markread_accepts_a_past_direct_message_peer(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["draft/read-marker"])
    peer = await server.user("peer")
    await peer.request("PRIVMSG alice :hi")
    await peer.close()
    await wait_offline(alice, "peer")

    reply = await alice.request(f"MARKREAD peer timestamp={STAMP}")

    assert [(m.command, m.params) for m in reply] == [("MARKREAD", ["peer", f"timestamp={STAMP}"])]


async def test_a_guest_keeps_a_bounded_number_of_read_markers(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lanchat.core.messaging, "MAX_GUEST_MARKERS", 3)
    guest = await server.user("guest", caps=["draft/read-marker"])
    for name in ("one", "two", "three", "four"):
        await server.user(name)
        await guest.request(f"MARKREAD {name} timestamp={STAMP}")

    answers = {name: (await guest.request(f"MARKREAD {name}"))[0].params[1] for name in ("one", "two", "four")}

    assert answers == {"one": "*", "two": f"timestamp={STAMP}", "four": f"timestamp={STAMP}"}


async def test_refused_markers_leave_the_marker_table_as_it_was(server: RunningServer) -> None:
    await server.add_account("alice", "pw-alice")
    alice = await server.user("alice", caps=["draft/read-marker"], account="alice", password="pw-alice")
    for i in range(50):
        await alice.send(f"MARKREAD #junk{i} timestamp={STAMP}")
        await alice.send(f"MARKREAD junk{i} timestamp={STAMP}")
    replies = await alice.sync()
    assert len(replies) == 100
    assert {(m.command, m.params[1]) for m in replies} == {("FAIL", "INVALID_PARAMS")}
    await server.app.store.flush()
    conn = sqlite3.connect(server.app.store.path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM read_markers").fetchone()[0] == 0
    finally:
        conn.close()


async def test_lines_sent_before_a_tls_close_are_handled(make_server: ServerFactory) -> None:
    """TLS cannot stay half-open: the lines are still handled after the connection is gone."""
    server = await make_server(tls_enabled=True, tls_port=0)
    watcher = await server.user("watcher")
    await watcher.request("JOIN #ci")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection("127.0.0.1", server.app.tls_addresses[0][1], ssl=context)
    writer.write(b"NICK bot\r\nUSER b 0 * :b\r\nJOIN #ci\r\nPRIVMSG #ci :build passed\r\n")
    await writer.drain()
    writer.close()  # close_notify, then the TCP close

    got = await watcher.expect("PRIVMSG")
    assert got.params == ["#ci", "build passed"]
    await wait_offline(watcher, "bot")
