"""Messages a connection sends back to back: the connection goes on with its next message
while the last one is being stored, so that one commit carries several, and everything still
comes out in the order it was sent (deliveries, echoes, labels, errors, and the commands that
follow the messages)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3

import pytest

from lanchat.logs import ConnectionFilter
from lanchat.proto.message import Message
from tests.conftest import RunningServer
from tests.ircclient import IrcTestClient, canon, join_all, lines, mask

ECHO_CAPS = ["echo-message", "labeled-response", "batch", "message-tags"]


async def _burst(client: IrcTestClient, burst: list[str]) -> None:
    """Send many lines in one write, so the server reads them together."""
    await client.send("".join(line + "\r\n" for line in burst).encode())


async def test_back_to_back_messages_share_commits_and_every_reply_keeps_its_place(server: RunningServer) -> None:
    alice = await server.user("alice", caps=ECHO_CAPS)
    bob = await server.user("bob")
    await join_all("#chan", alice, bob)
    store = server.app.store
    commits_before = store.batch_stats.observations

    # 150 messages (more than a connection may have in flight at once), with a line that
    # fails at once in the middle: its error must come after the echoes of the lines before.
    burst = [f"@label=m{n} PRIVMSG #chan :line {n}" for n in range(150)]
    burst.insert(75, "@label=bad PRIVMSG #nowhere :lost")
    await _burst(alice, burst)
    replies = await alice.sync()

    labels = [m.tags.get("label") for m in replies]
    assert labels == [f"m{n}" for n in range(75)] + ["bad"] + [f"m{n}" for n in range(75, 150)]
    assert [m.command for m in replies if m.tags.get("label") != "bad"] == ["PRIVMSG"] * 150
    assert [m.params[-1] for m in replies if m.command == "PRIVMSG"] == [f"line {n}" for n in range(150)]
    assert [m.command for m in replies if m.tags.get("label") == "bad"] == ["403"]
    assert lines(await bob.sync()) == [canon(f":{mask('alice')} PRIVMSG #chan :line {n}") for n in range(150)]
    # One message per commit if each line waited for the last one to be stored.
    assert store.batch_stats.observations - commits_before < 100
    history = await store.query("#chan", after=None, before=None, limit=200, newest_first=False)
    assert [m.text for m in history if m.kind == "PRIVMSG"] == [f"line {n}" for n in range(150)]


async def test_a_command_after_messages_comes_after_them_for_everyone(server: RunningServer) -> None:
    alice = await server.user("alice")
    bob = await server.user("bob")
    await join_all("#chan", alice, bob)

    await _burst(alice, [*(f"PRIVMSG #chan :before {n}" for n in range(30)), "PART #chan :bye", "PRIVMSG bob :after"])

    expected = [canon(f":{mask('alice')} PRIVMSG #chan :before {n}") for n in range(30)]
    expected += [canon(f":{mask('alice')} PART #chan :bye"), canon(f":{mask('alice')} PRIVMSG bob :after")]
    got: list[Message] = []
    while len(got) < len(expected):
        got.append(await bob.recv())
    assert lines(got) == expected


async def test_direct_messages_keep_their_order_and_the_away_reply_follows_each_echo(server: RunningServer) -> None:
    alice = await server.user("alice", caps=ECHO_CAPS)
    bob = await server.user("bob")
    await bob.request("AWAY :at lunch")

    await _burst(alice, [f"@label=d{n} PRIVMSG bob :dm {n}" for n in range(20)])
    replies = await alice.sync()

    # Each labeled reply is a batch: BATCH +x, the echo, 301, BATCH -x.
    opened = [m for m in replies if m.command == "BATCH" and m.params[0].startswith("+")]
    assert [m.tags["label"] for m in opened] == [f"d{n}" for n in range(20)]
    inner = [m for m in replies if m.command != "BATCH"]
    assert [(m.command, m.params[-1]) for m in inner] == [
        pair for n in range(20) for pair in (("PRIVMSG", f"dm {n}"), ("301", "at lunch"))
    ]
    assert lines(await bob.sync()) == [canon(f":{mask('alice')} PRIVMSG bob :dm {n}") for n in range(20)]


async def test_messages_sent_just_before_hanging_up_are_delivered_before_the_quit(server: RunningServer) -> None:
    bob = await server.user("bob")
    alice = await server.user("alice")
    await join_all("#chan", alice, bob)

    await _burst(alice, [f"PRIVMSG #chan :last words {n}" for n in range(40)])
    sock = alice.writer.get_extra_info("socket")
    sock.shutdown(socket.SHUT_WR)  # the server reads EOF right behind the messages

    got: list[Message] = []
    while not got or got[-1].command != "QUIT":
        got.append(await bob.recv())
    assert [m.command for m in got] == ["PRIVMSG"] * 40 + ["QUIT"]
    assert [m.params[-1] for m in got[:-1]] == [f"last words {n}" for n in range(40)]
    history = await server.app.store.query("#chan", after=None, before=None, limit=100, newest_first=False)
    assert [m.text for m in history if m.kind == "PRIVMSG"] == [f"last words {n}" for n in range(40)]
    await asyncio.wait_for(alice.closed(), 5)


async def test_plain_channel_messages_keep_their_order_among_echoes_errors_and_replies(server: RunningServer) -> None:
    # Unlabeled lines to a channel take the server's hot path; the lines it does not take
    # (errors here) go the general way, and still answer in their place.
    alice = await server.user("alice", caps=["echo-message"])
    bob = await server.user("bob")
    await join_all("#chan", alice, bob)
    await join_all("#quiet", bob, alice)
    await bob.request("MODE #quiet +m")
    await alice.sync()

    burst = [f"PRIVMSG #chan :line {n}" for n in range(150)]
    burst[75:75] = ["PRIVMSG #nowhere :lost", "PRIVMSG #quiet :hush", "NOTICE #nowhere :silently lost"]
    await _burst(alice, [*burst, "PING :end"])
    replies = await alice.sync()

    shown = [(m.command, m.params[-1]) for m in replies]
    echoes = [("PRIVMSG", f"line {n}") for n in range(150)]
    assert shown[:75] == echoes[:75]
    assert [command for command, _ in shown[75:77]] == ["403", "404"]
    assert shown[77:152] == echoes[75:]
    assert shown[152] == ("PONG", "end")
    assert lines(await bob.sync()) == [canon(f":{mask('alice')} PRIVMSG #chan :line {n}") for n in range(150)]


async def test_a_message_the_store_refuses_is_answered_and_the_next_ones_go_on(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(ConnectionFilter())  # as the server's own log handlers do
    alice = await server.user("alice", caps=ECHO_CAPS)
    bob = await server.user("bob")
    await join_all("#chan", alice, bob)
    # A real SQLite failure for one message: a trigger on the server's own database file.
    with contextlib.closing(sqlite3.connect(server.app.store.path)) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.text LIKE 'poison%'"
            " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
        db.commit()

    await _burst(
        alice,
        [
            "PRIVMSG #chan :fine 1",
            "PRIVMSG #chan :poison plain",  # the hot path
            "PRIVMSG #chan :fine 2",
            "@label=p PRIVMSG #chan :poison labeled",  # the general path
            "PRIVMSG #chan :fine 3",
        ],
    )
    replies = await alice.sync()

    assert [(m.command, m.params[-1], m.tags.get("label")) for m in replies] == [
        ("PRIVMSG", "fine 1", None),
        ("400", "Internal error; the server logged it", None),
        ("PRIVMSG", "fine 2", None),
        ("400", "Internal error; the server logged it", "p"),
        ("PRIVMSG", "fine 3", None),
    ]
    assert [m.params[-1] for m in await bob.sync()] == ["fine 1", "fine 2", "fine 3"]
    history = await server.app.store.query("#chan", after=None, before=None, limit=10, newest_first=False)
    assert [m.text for m in history if m.kind == "PRIVMSG"] == ["fine 1", "fine 2", "fine 3"]
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == ["PRIVMSG failed"] * 2
    # Both name alice's connection (the first registered: c1).
    assert [getattr(r, "conn", None) for r in errors] == ["c1", "c1"]
