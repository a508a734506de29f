"""Logging in: SASL PLAIN, PASS, retries on the same connection, guests, server password,
nick ownership, throttling, several connections of one account, timeouts."""

from __future__ import annotations

import base64
import io
import logging
import time

import pytest

from lanchat.core.throttle import LoginThrottle
from lanchat.logs import PresenceLog
from tests.conftest import RunningServer, ServerFactory
from tests.ircclient import IrcTestClient, commands, find


def _plain(account: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{account}\0{password}".encode()).decode()


async def _start_sasl(client: IrcTestClient) -> None:
    await client.send("CAP LS 302")
    await client.send("CAP REQ :sasl")
    await client.expect("CAP", lambda m: m.params[1] == "ACK")
    await client.send("AUTHENTICATE PLAIN")
    assert (await client.expect("AUTHENTICATE")).params == ["+"]


@pytest.fixture
async def accounts_only(make_server: ServerFactory) -> RunningServer:
    server = await make_server(allow_guests=False)
    await server.add_account("alice", "correct horse")
    return server


async def test_sasl_plain_logs_in_and_whois_shows_the_account(accounts_only: RunningServer) -> None:
    client = await accounts_only.connect()
    burst = await client.register("alice", account="alice", password="correct horse")
    assert burst[0].command == "001"
    whois = await client.request("WHOIS alice")
    assert find(whois, "330")[0].params[1:3] == ["alice", "alice"]


async def test_sasl_failure_then_retry_on_the_same_connection(accounts_only: RunningServer) -> None:
    client = await accounts_only.connect()
    await _start_sasl(client)
    await client.send(f"AUTHENTICATE {_plain('alice', 'wrong')}")
    fail = await client.expect("904")
    assert fail.params[0] == "*"
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send(f"AUTHENTICATE {_plain('alice', 'correct horse')}")
    logged_in = await client.expect("900")
    assert logged_in.params[2] == "alice"
    await client.expect("903")
    await client.send("NICK alice")
    await client.send("USER alice 0 * :Alice")
    await client.send("CAP END")
    await client.expect("001")


async def test_sasl_chunked_payload_of_exactly_400_bytes_needs_a_plus(accounts_only: RunningServer) -> None:
    password = "p" * 295  # base64 of "\0bob\0" + 295 bytes is exactly 400 characters
    await accounts_only.add_account("bob", password)
    payload = _plain("bob", password)
    assert len(payload) == 400
    client = await accounts_only.connect()
    await _start_sasl(client)
    await client.send(f"AUTHENTICATE {payload}")
    assert await client.sync() == []  # waits for more
    await client.send("AUTHENTICATE +")
    await client.expect("903")


async def test_sasl_errors(accounts_only: RunningServer) -> None:
    client = await accounts_only.connect()
    await client.send("CAP REQ :sasl")
    await client.send("AUTHENTICATE EXTERNAL")
    mechs = await client.expect("908")
    assert mechs.params[1] == "PLAIN"
    await client.expect("904")
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE " + "A" * 401)
    await client.expect("905")
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE *")
    await client.expect("906")
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send("AUTHENTICATE !!!notbase64")
    await client.expect("904")


async def test_cap_end_during_sasl_aborts_it_and_registers_as_guest(server: RunningServer) -> None:
    client = await server.connect()
    await _start_sasl(client)
    await client.send("NICK midway")
    await client.send("USER midway 0 * :x")
    await client.send("CAP END")
    await client.expect("906")
    await client.expect("001")


async def test_pass_account_colon_password(accounts_only: RunningServer) -> None:
    client = await accounts_only.connect()
    await client.register("alice", account="alice", password="correct horse", use_pass=True)
    whois = await client.request("WHOIS alice")
    assert find(whois, "330")


async def test_pass_alone_uses_the_nick_as_account(accounts_only: RunningServer) -> None:
    client = await accounts_only.connect()
    await client.register("alice", password="correct horse", use_pass=True)
    assert find(await client.request("WHOIS alice"), "330")


async def test_wrong_pass_gets_464_and_may_try_again(accounts_only: RunningServer) -> None:
    client = await accounts_only.connect()
    await client.send("PASS alice:nope")
    await client.send("NICK alice")
    await client.send("USER alice 0 * :Alice")
    reply = await client.sync()
    assert "464" in commands(reply)
    assert "001" not in commands(reply)
    await client.send("PASS :alice:correct horse")
    await client.expect("001")


async def test_without_credentials_and_no_guests_nothing_but_464(accounts_only: RunningServer) -> None:
    client = await accounts_only.connect()
    await client.send("NICK someone")
    await client.send("USER someone 0 * :Someone")
    reply = await client.sync()
    assert commands(reply) == ["464"]
    for line in ("PRIVMSG alice :hi", "JOIN #x"):
        assert commands(await client.request(line)) == ["451"]


async def test_unregistered_connections_cannot_chat(server: RunningServer) -> None:
    client = await server.connect()
    reply = await client.request("PRIVMSG #general :hello")
    assert [(m.command, m.params[0]) for m in reply] == [("451", "*")]


async def test_guests_cannot_take_an_accounts_nick(make_server: ServerFactory) -> None:
    server = await make_server(allow_guests=True)
    await server.add_account("alice", "pw")
    guest = await server.connect()
    await guest.send("NICK alice")
    await guest.send("USER x 0 * :x")
    reply = await guest.sync()
    assert commands(reply) == ["433"]
    other = await server.user("mallory")
    assert commands(await other.request("NICK Alice")) == ["433"]


async def test_nick_in_use_by_another_user(server: RunningServer) -> None:
    await server.user("first")
    second = await server.connect()
    await second.send("NICK first")
    assert commands(await second.sync()) == ["433"]
    await second.send("NICK second")
    await second.send("USER s 0 * :s")
    await second.expect("001")


async def test_server_password_for_guests(make_server: ServerFactory) -> None:
    server = await make_server(server_password="letmein")
    nopass = await server.connect()
    await nopass.send("NICK a1")
    await nopass.send("USER a 0 * :a")
    assert commands(await nopass.sync()) == ["464"]
    wrong = await server.connect()
    await wrong.send("PASS nope")
    await wrong.send("NICK a2")
    await wrong.send("USER a 0 * :a")
    assert "001" not in commands(await wrong.sync())
    right = await server.connect()
    await right.register("a3", password="letmein", use_pass=True)


async def test_account_added_while_running_logs_in_at_once(accounts_only: RunningServer) -> None:
    await accounts_only.add_account("newcomer", "fresh")
    await accounts_only.user("newcomer", account="newcomer", password="fresh")


async def test_repeated_failures_are_slowed_down_and_logged(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server(allow_guests=False, login_throttle_free=2)
    await server.add_account("carol", "right password")
    client = await server.connect()
    await _start_sasl(client)
    caplog.set_level(logging.WARNING, logger="lanchat.accounts")
    for _ in range(2):
        await client.send(f"AUTHENTICATE {_plain('carol', 'guess')}")
        await client.expect("904")
        await client.send("AUTHENTICATE PLAIN")
        await client.expect("AUTHENTICATE")
    started = time.monotonic()
    await client.send(f"AUTHENTICATE {_plain('carol', 'right password')}")
    await client.expect("903", timeout=10)
    assert time.monotonic() - started >= 0.9  # the third attempt waited its turn
    failures = [r.getMessage() for r in caplog.records if "login failed" in r.getMessage()]
    assert len(failures) == 2
    assert all("carol" in line and "guess" not in line for line in failures)


def test_throttle_doubles_the_wait_and_forgets_after_success() -> None:
    throttle = LoginThrottle(free=2, base_delay=1.0, max_delay=8.0, window=100.0)
    keys = ["ip:1", "account:x"]
    assert throttle.reserve(keys, now=0.0) == 0
    for _ in range(4):
        throttle.failed(keys, now=0.0)
    assert throttle.reserve(keys, now=0.0) == 4.0  # 2 ** (4 - 2)
    assert throttle.reserve(keys, now=0.0) == 12.0  # queues behind, waiting as if that one failed: 4 + 2 ** 3
    throttle.failed(keys, now=0.0)
    throttle.failed(keys, now=0.0)
    assert throttle.reserve(["account:x"], now=100.0) == 8.0  # capped: not 2 ** (6 - 2)
    throttle.succeeded(keys)
    assert throttle.reserve(keys, now=200.0) == 0
    throttle.failed(["ip:2"], now=0.0)
    throttle.failed(["ip:2"], now=0.0)
    throttle.failed(["ip:2"], now=0.0)
    assert throttle.reserve(["ip:2"], now=1000.0) == 0  # forgotten after the window


def test_throttle_counts_attempts_in_flight_against_the_free_tries() -> None:
    throttle = LoginThrottle(free=2, base_delay=1.0, max_delay=8.0, window=100.0)
    keys = ["ip:1", "account:x"]
    assert throttle.reserve(keys, now=0.0) == 0
    assert throttle.reserve(keys, now=0.0) == 0
    assert throttle.reserve(keys, now=0.0) is None  # both free tries are being checked: wait
    assert throttle.reserve(["ip:2", "account:x"], now=0.0) is None  # per account, from anywhere
    assert throttle.reserve(["ip:1", "account:y"], now=0.0) is None  # and per address
    throttle.release(keys)  # one went away undecided
    assert throttle.reserve(keys, now=0.0) == 0
    throttle.failed(keys, now=0.0)
    assert throttle.reserve(keys, now=0.0) is None  # one failure, one still being checked
    throttle.failed(keys, now=0.0)
    assert throttle.reserve(keys, now=0.0) == 1.0  # the free tries are used up: wait, in turn
    throttle.succeeded(keys)
    assert throttle.reserve(keys, now=1.0) == 0


async def test_same_account_twice_with_the_same_nick_shares_the_user(accounts_only: RunningServer) -> None:
    laptop = await accounts_only.user("alice", account="alice", password="correct horse")
    await laptop.request("JOIN #team")
    phone = await accounts_only.connect()
    burst = await phone.register("alice", account="alice", password="correct horse")
    joins = [m for m in burst if m.command == "JOIN"]
    assert [m.params[0] for m in joins] == ["#team"]
    await accounts_only.add_account("bob", "pw")
    bob = await accounts_only.user("bob", account="bob", password="pw")
    await bob.request("JOIN #team")
    await bob.send("PRIVMSG #team :hello both")
    for device in (laptop, phone):
        got = await device.expect("PRIVMSG")
        assert got.params == ["#team", "hello both"]
    await phone.send("QUIT :phone off")
    await phone.closed()
    assert not find(await bob.sync(), "QUIT")
    await bob.send("PRIVMSG alice :still there?")
    assert (await laptop.expect("PRIVMSG")).params == ["alice", "still there?"]


async def test_connected_and_disconnected_printed_once_each(server: RunningServer) -> None:
    printed = io.StringIO()
    server.app.irc.presence_log = PresenceLog(printed)
    client = await server.user("Admin_sec")
    await client.send("QUIT")
    await client.closed()
    await server.app.irc.shutdown("test", 1.0)
    assert printed.getvalue() == "Admin_sec is connected\nAdmin_sec is disconnected\n"


async def test_registration_times_out(make_server: ServerFactory) -> None:
    server = await make_server(registration_timeout=0.3)
    client = await server.connect()
    await client.send("NICK slow")
    got = await client.closed(timeout=5)
    assert got[-1].command == "ERROR"
    assert "Registration timed out" in got[-1].params[0]


async def test_ping_timeout_closes_silent_clients_only(make_server: ServerFactory) -> None:
    server = await make_server(ping_interval=0.3, ping_timeout=0.3)
    silent = await server.user("silent")
    alive = await server.user("alive")
    ping = await alive.expect("PING", timeout=5)
    await alive.send(f"PONG :{ping.params[0]}")
    got = await silent.closed(timeout=5)
    assert got[-1].command == "ERROR"
    assert "Ping timeout" in got[-1].params[0]
    assert await alive.request("PING :still") != []


async def test_the_welcome_burst_is_in_order_and_addressed_to_each_nick(server: RunningServer) -> None:
    # Most of the burst is rendered once for everyone: each client must still get it with its
    # own nick, and the same text as the MOTD and VERSION commands give.
    bursts = {}
    for nick in ("alice", "Bob[away]"):
        client = await server.connect()
        bursts[nick] = [m for m in await client.register(nick) if m.command.isdigit()]
        burst = bursts[nick]
        codes = [m.command for m in burst]
        isupport = codes.count("005")
        motd = codes.count("372")
        assert isupport >= 2
        assert motd >= 1
        expected = ["001", "002", "003", "004", *["005"] * isupport]
        expected += ["251", "252", "253", "254", "255", "265", "266", "375", *["372"] * motd, "376"]
        assert codes == expected
        assert all(m.params[0] == nick for m in burst)
        assert nick in burst[0].params[-1]  # 001 names the full mask
        assert [m.params[1:] for m in await client.request("MOTD")] == [
            m.params[1:] for m in burst if m.command in ("375", "372", "376")
        ]
        version = await client.request("VERSION")
        assert [m.params[1:] for m in version if m.command == "005"] == [
            m.params[1:] for m in burst if m.command == "005"
        ]
    static = ("002", "003", "004", "005", "375", "372", "376")
    alice = [m.params[1:] for m in bursts["alice"] if m.command in static]
    bob = [m.params[1:] for m in bursts["Bob[away]"] if m.command in static]
    assert alice == bob
