"""lanchat driven by ircrobots, a third-party IRCv3 client library: its own CAP/SASL handshake,
its own tag parser, and ircstates' model of channels built from what lanchat sends."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from irctokens.line import Line

from tests.conftest import RunningServer, ServerFactory
from tests.robots import Robot, connect_robot


@pytest_asyncio.fixture
async def office(make_server: ServerFactory) -> AsyncIterator[RunningServer]:
    server = await make_server(allow_guests=False, default_channel="#general")
    for name in ("alice", "bob", "carol"):
        await server.add_account(name, f"{name}-pw")
    yield server


@pytest_asyncio.fixture
async def robots() -> AsyncIterator[list[Robot]]:
    started: list[Robot] = []
    yield started
    for robot in started:
        await robot.quit()


async def _login(server: RunningServer, robots: list[Robot], name: str) -> Robot:
    """Log in and wait until the automatic join of the default channel is complete."""
    robot = await connect_robot(server.port, name, sasl=(name, f"{name}-pw"))
    robots.append(robot)
    await robot.expect(lambda line: line.command == "366" and line.params[1] == "#general")
    return robot


async def test_sasl_login_and_channel_message_with_tags(office: RunningServer, robots: list[Robot]) -> None:
    alice = await _login(office, robots, "alice")
    bob = await _login(office, robots, "bob")
    assert alice.sasl_ok
    assert bob.sasl_ok
    assert {"message-tags", "server-time", "echo-message", "account-tag"} <= set(alice.conn.agreed_caps)

    await alice.send("PRIVMSG", "#general", "hello bob", tags={"+draft/reply": "a b;c\\d"})
    got = await bob.expect(lambda line: line.command == "PRIVMSG" and line.params == ["#general", "hello bob"])
    assert got.hostmask.nickname == "alice"
    assert got.tags is not None
    assert got.tags["+draft/reply"] == "a b;c\\d"
    assert got.tags["account"] == "alice"
    sent = dt.datetime.fromisoformat(got.tags["time"])
    assert abs((dt.datetime.now(dt.UTC) - sent).total_seconds()) < 5
    echo = await alice.expect(lambda line: line.command == "PRIVMSG" and line.params[-1] == "hello bob")
    assert echo.tags is not None
    assert echo.tags["msgid"] == got.tags["msgid"]


async def test_ircstates_sees_the_channel_as_lanchat_describes_it(office: RunningServer, robots: list[Robot]) -> None:
    alice = await _login(office, robots, "alice")
    await alice.join("#project")
    bob = await _login(office, robots, "bob")
    await bob.join("#project")
    await alice.send("TOPIC", "#project", "ship it friday")
    await bob.expect(lambda line: line.command == "TOPIC")
    await alice.send("MODE", "#project", "+v", "bob")
    await bob.expect(lambda line: line.command == "MODE" and line.params[-1] == "bob")
    # ircrobots queries WHO and MODE by itself after a join; wait for its state to settle.
    await bob.send("PING", "settled")
    await bob.expect(lambda line: line.command == "PONG" and line.params[-1] == "settled")
    channel = bob.conn.channels[bob.conn.casefold("#project")]
    assert channel.topic == "ship it friday"
    members = {bob.conn.users[key].nickname: sorted(user.modes) for key, user in channel.users.items()}
    assert members == {"alice": ["o"], "bob": ["v"]}
    assert bob.conn.users[bob.conn.casefold("alice")].account == "alice"


async def test_direct_messages_and_offline_delivery(office: RunningServer, robots: list[Robot]) -> None:
    alice = await _login(office, robots, "alice")
    bob = await _login(office, robots, "bob")
    await alice.send("PRIVMSG", "bob", "are you there?")
    got = await bob.expect(lambda line: line.command == "PRIVMSG" and line.params[0] == "bob")
    assert got.params[1] == "are you there?"

    await alice.send("PRIVMSG", "carol", "see this when you are back")
    await alice.expect(lambda line: line.command == "PRIVMSG" and line.params[0] == "carol")  # the echo: stored
    carol = await _login(office, robots, "carol")
    missed = await carol.expect(lambda line: line.command == "PRIVMSG" and line.params[0] == "carol")
    assert missed.params[1] == "see this when you are back"
    assert missed.hostmask.nickname == "alice"
    assert missed.tags is not None
    assert "time" in missed.tags


async def test_wrong_password_is_refused(make_server: ServerFactory, robots: list[Robot]) -> None:
    server = await make_server(allow_guests=True)
    await server.add_account("alice", "alice-pw")
    guest = await connect_robot(server.port, "visitor", sasl=("alice", "not-it"), caps=())
    robots.append(guest)
    assert not guest.sasl_ok
    await guest.send("WHOIS", "visitor")
    end = await guest.expect(lambda line: line.command in ("330", "318"))
    assert end.command == "318"  # registered as a guest: no account line


def _echo_of(text: str) -> Callable[[Line], bool]:
    return lambda line: line.command == "PRIVMSG" and line.params[-1] == text


async def test_chathistory_batch_parsed_by_irctokens(office: RunningServer, robots: list[Robot]) -> None:
    alice = await _login(office, robots, "alice")
    for i in range(5):
        await alice.send("PRIVMSG", "#general", f"note {i}")
        await alice.expect(_echo_of(f"note {i}"))
    await alice.send("CAP", "REQ", "draft/chathistory batch")
    await alice.expect(lambda line: line.command == "CAP" and line.params[1] == "ACK")
    await alice.send("CHATHISTORY", "LATEST", "#general", "*", "3")
    start = await alice.expect(lambda line: line.command == "BATCH" and line.params[0].startswith("+"))
    assert start.params[1:] == ["chathistory", "#general"]
    ref = start.params[0][1:]
    lines = []
    while True:
        line = await alice.expect(lambda _line: True)
        if line.command == "BATCH":
            assert line.params == ["-" + ref]
            break
        assert line.tags is not None
        assert line.tags["batch"] == ref
        lines.append(line.params[-1])
    assert lines == ["note 2", "note 3", "note 4"]


@pytest.mark.parametrize("caps", [(), ("server-time", "echo-message", "labeled-response")])
async def test_a_minimal_and_a_rich_client_talk(
    office: RunningServer, robots: list[Robot], caps: tuple[str, ...]
) -> None:
    alice = await connect_robot(office.port, "alice", sasl=("alice", "alice-pw"), caps=caps)
    robots.append(alice)
    await alice.expect(lambda line: line.command == "366" and line.params[1] == "#general")
    bob = await _login(office, robots, "bob")
    await bob.send("PRIVMSG", "#general", "ping from bob")
    got = await alice.expect(lambda line: line.command == "PRIVMSG")
    assert got.params == ["#general", "ping from bob"]
    await alice.send("PRIVMSG", "#general", "pong from alice")
    back = await bob.expect(lambda line: line.command == "PRIVMSG" and line.hostmask.nickname == "alice")
    assert back.params == ["#general", "pong from alice"]
