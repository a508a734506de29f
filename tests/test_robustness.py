"""Bad input gets an error or a clean disconnect with a reason; nothing hangs or crashes, and
one slow or hostile client does not hold up anybody else."""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from pathlib import Path

import pytest
import uvloop

from lanchat.app import App
from lanchat.irc.commands import COMMANDS, Command
from tests.conftest import RunningServer, ServerFactory
from tests.conftest import test_config as config_for_tests
from tests.ircclient import IrcTestClient, commands, find, released


async def _pair(server: RunningServer) -> tuple[IrcTestClient, IrcTestClient]:
    a = await server.user("alpha")
    b = await server.user("beta")
    await a.request("JOIN #room")
    await b.request("JOIN #room")
    await a.sync()
    return a, b


async def test_overlong_body_gets_417_and_the_connection_goes_on(server: RunningServer) -> None:
    a, b = await _pair(server)
    reply = await a.request("PRIVMSG #room :" + "x" * 600)
    assert [(m.command, m.params[-1]) for m in reply] == [("417", "Input line was too long")]
    assert not find(await b.sync(), "PRIVMSG")
    await a.send("PRIVMSG #room :short one")
    assert (await b.expect("PRIVMSG")).params == ["#room", "short one"]


async def test_a_line_longer_than_any_valid_one_is_dropped_with_one_417(server: RunningServer) -> None:
    client = await server.user("flooder")
    await client.send(b"PRIVMSG flooder :" + b"y" * 20000)
    await client.send(b"z" * 20000 + b"\r\n")
    reply = await client.sync()
    assert commands(reply) == ["417"]


async def test_oversized_client_tags_get_417_and_are_not_relayed(server: RunningServer) -> None:
    a, b = await _pair(server)
    reply = await a.request("@+big=" + "a" * 4095 + " PRIVMSG #room :hi")
    assert commands(reply) == ["417"]
    assert not find(await b.sync(), "PRIVMSG")


async def test_invalid_utf8_is_refused_with_fail_and_not_relayed(server: RunningServer) -> None:
    a, b = await _pair(server)
    await a.send(b"@label=x PRIVMSG #room :bad \xff\xfe bytes\r\n")
    reply = await a.sync()
    assert [(m.command, m.params[:2]) for m in reply] == [("FAIL", ["PRIVMSG", "INVALID_UTF8"])]
    assert not find(await b.sync(), "PRIVMSG")


async def test_malformed_tags_get_an_error(server: RunningServer) -> None:
    client = await server.user("tagger")
    reply = await client.request("@=novalue;+ok=1 PRIVMSG tagger :x")
    assert [(m.command, m.params[1]) for m in reply] == [("400", "*")]


async def test_random_bytes_never_crash_the_server(server: RunningServer) -> None:
    observer = await server.user("observer")
    rng = os.urandom
    for _ in range(20):
        noisy = await server.connect()
        await noisy.send(rng(3000) + b"\r\n" + rng(500))
        await noisy.close()
    hostile = await server.user("hostile")
    await hostile.send(rng(8000).replace(b"\n", b"") + b"\r\n" + b"PING :after\r\n")
    await hostile.expect("PONG", timeout=5)
    assert await observer.request("PING :fine")


async def test_an_exception_in_a_handler_answers_that_client_and_is_logged(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setitem(COMMANDS, "BROKEN", Command("BROKEN", broken))
    client = await server.user("victim")
    with caplog.at_level(logging.ERROR, logger="lanchat.irc"):
        reply = await client.request("BROKEN now")
    assert [(m.command, m.params[1]) for m in reply] == [("400", "BROKEN")]
    assert any("BROKEN failed" in r.getMessage() and r.exc_info for r in caplog.records)
    assert "simulated bug" not in str([m.params for m in reply])  # no traceback to the user
    assert await client.request("PING :still here")


async def test_a_client_that_stops_reading_is_dropped_and_nobody_else_slows_down(make_server: ServerFactory) -> None:
    server = await make_server(sendq_bytes=64 * 1024)
    speaker = await server.user("speaker")
    reader = await server.user("reader")
    await speaker.request("JOIN #busy")
    await reader.request("JOIN #busy")
    stuck = await IrcTestClient.connect(server.port, receive_buffer=4096)
    server.clients.append(stuck)
    await stuck.register("stuck")
    await stuck.request("JOIN #busy")
    stuck.writer.transport.pause_reading()  # type: ignore[attr-defined]  # stops reading
    await speaker.sync()
    await reader.sync()
    text = "z" * 400
    total = 12000  # ~5 MB: more than the kernel buffers on both sides hold
    for start in range(0, total, 100):
        await speaker.send("".join(f"PRIVMSG #busy :{start + i} {text}\r\n" for i in range(100)).encode())
    got = 0
    quit_reason = None
    while got < total:
        msg = await reader.recv(timeout=10)
        if msg.command == "PRIVMSG":
            assert msg.params[1].startswith(f"{got} ")
            got += 1
        elif msg.command == "QUIT":
            quit_reason = msg.params[0]
    if quit_reason is None:
        quit_reason = (await reader.expect("QUIT", timeout=10)).params[0]
    assert quit_reason == "SendQ exceeded"
    assert server.app.irc.sendq_disconnects == 1  # what /metrics reports as lanchat_sendq_disconnects


async def test_flood_control_delays_lines_but_loses_none(make_server: ServerFactory) -> None:
    server = await make_server(flood_burst=10, flood_rate=50.0)
    sender = await server.user("sender")
    receiver = await server.user("receiver")
    await sender.send("".join(f"PRIVMSG receiver :{i}\r\n" for i in range(60)).encode())
    received = [(await receiver.expect("PRIVMSG", timeout=10)).params[1] for _ in range(60)]
    assert received == [str(i) for i in range(60)]


async def test_a_burst_of_connections_all_register(server: RunningServer) -> None:
    async def one(i: int) -> str:
        client = await IrcTestClient.connect(server.port)
        server.clients.append(client)
        burst = await client.register(f"storm{i}")
        return burst[0].command

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert results == ["001"] * 200
    assert len(server.app.irc.state.sessions) == 200


async def test_unknown_commands_and_missing_parameters(server: RunningServer) -> None:
    client = await server.user("typo")
    assert [(m.command, m.params[1]) for m in await client.request("FROBNICATE x")] == [("421", "FROBNICATE")]
    assert [(m.command, m.params[1]) for m in await client.request("JOIN")] == [("461", "JOIN")]
    assert [(m.command, m.params[1]) for m in await client.request("USER a b c d")] == [
        ("462", "You may not reregister")
    ]


async def test_a_line_that_would_not_fit_when_relayed_is_refused_not_cut(server: RunningServer) -> None:
    a, b = await _pair(server)
    head = "PRIVMSG #room :"
    fits = 510 - len(f":alpha!~alpha@127.0.0.1 {head}")
    reply = await a.request(head + "x" * (fits + 1))
    assert [(m.command, m.params[0]) for m in reply] == [("417", "alpha")]
    assert not find(await b.sync(), "PRIVMSG")
    await a.send(head + "y" * fits)
    got = await b.expect("PRIVMSG")
    assert got.params[1] == "y" * fits  # whole, not truncated


def test_a_closed_connection_is_let_go_at_once(tmp_path: Path) -> None:
    """A connection the server closes (QUIT here) gets a timer that cuts it should the peer
    not take the last lines; once it is gone that timer goes too, so nothing holds the closed
    connection in memory for the grace period. Run on uvloop, as ``lanchat serve`` is, where
    the pending timer kept the whole connection (protocol, client, user) alive."""

    async def scenario() -> bool:
        app = App(config_for_tests(tmp_path / "data"))
        await app.start()
        try:
            alice = await IrcTestClient.connect(app.addresses[0][1])
            await alice.register("alice")
            (client,) = app.irc.clients.values()
            link = weakref.ref(client.link)
            await alice.send("QUIT :bye")
            await alice.closed()
            await alice.close()
            del client
            return await released(link)
        finally:
            await app.stop()

    assert uvloop.run(scenario()), "the closed connection is still held"


async def test_labeled_lusers_is_one_batch_of_seven_tagged_lines(server: RunningServer) -> None:
    alice = await server.user("alice", caps=["batch", "labeled-response"])

    start, *inner, end = await alice.request("@label=l1 LUSERS")

    assert (start.command, start.tags) == ("BATCH", {"label": "l1"})
    ref = start.params[0][1:]
    assert commands(inner) == ["251", "252", "253", "254", "255", "265", "266"]
    assert all(m.tags == {"batch": ref} and m.params[0] == "alice" for m in inner)
    assert inner[0].params[1] == "There are 1 users and 0 invisible on 1 servers"
    assert inner[-1].params[1:] == ["1", "1", "Current global users 1, max 1"]
    assert (end.command, end.params) == ("BATCH", [f"-{ref}"])
