"""Logins and sign-ups under concurrency: parallel guesses get no more free tries than guesses
one after another, and parallel sign-ups on a fresh server make exactly one admin."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import threading
import time

import aiohttp
import argon2
import nacl.pwhash.argon2id as sodium_argon2id
import pytest

from lanchat.app import HASHING_NICENESS
from lanchat.core.errors import LoginFailed
from lanchat.core.passwords import HashParams, PasswordHasher
from lanchat.core.throttle import LoginThrottle
from tests.conftest import RunningServer, ServerFactory
from tests.process import python_output


def base(server: RunningServer) -> str:
    return f"http://127.0.0.1:{server.app.web_addresses[0][1]}"


class RecordingHasher(PasswordHasher):
    """The server's own hasher, noting when each password check starts and ends, and as slow as
    a production-strength argon2 (so a burst of requests is all in before the first check ends).
    """

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.events: list[str] = []
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        return self.real.hash(password)

    def verify(self, stored: str, password: str) -> tuple[bool, bool]:
        with self._lock:
            self.events.append("start")
        try:
            time.sleep(0.2)
            return self.real.verify(stored, password)
        finally:
            with self._lock:
                self.events.append("end")


async def test_parallel_wrong_passwords_get_only_the_free_tries(make_server: ServerFactory) -> None:
    free = 3
    server = await make_server(
        web_enabled=True, web_port=0, allow_guests=False, login_throttle_free=free, login_throttle_max_delay=0.05
    )
    await server.add_account("target", "the right password")
    hasher = RecordingHasher(server.app.accounts.hasher)
    server.app.accounts.hasher = hasher

    async def guess(http: aiohttp.ClientSession, n: int) -> int:
        body = {"username": "target", "password": f"guess {n}"}
        async with http.post(f"{base(server)}/api/login", json=body) as r:
            return r.status

    attempts = 12
    async with aiohttp.ClientSession() as http:
        statuses = await asyncio.gather(*(guess(http, n) for n in range(attempts)))
    assert statuses == [401] * attempts
    # Every guess was checked in the end, but only the free ones before the free tries were
    # used up: the next check started after the third one had failed.
    assert hasher.events.count("start") == attempts
    starts = [i for i, event in enumerate(hasher.events) if event == "start"]
    ends = [i for i, event in enumerate(hasher.events) if event == "end"]
    assert starts[free] > ends[free - 1], hasher.events
    assert server.app.accounts.failed_logins == attempts


async def test_an_attempt_that_leaves_while_waiting_frees_its_turn() -> None:
    throttle = LoginThrottle(free=1)
    keys = ["ip:1", "account:x"]
    await throttle.acquire(keys)  # in flight
    waiting = asyncio.create_task(throttle.acquire(keys))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # the free try is taken
    throttle.release(keys)  # the first one went away undecided
    await asyncio.wait_for(waiting, 1)
    gone = asyncio.create_task(throttle.acquire(keys))
    await asyncio.sleep(0.01)
    gone.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await gone
    throttle.succeeded(keys)
    assert throttle.reserve(keys) == 0  # neither the cancelled nor the decided one counts


async def test_parallel_sign_ups_on_a_fresh_closed_server_make_one_admin(make_server: ServerFactory) -> None:
    server = await make_server(web_enabled=True, web_port=0, allow_guests=False, web_registration="closed")

    async def sign_up(name: str) -> tuple[int, dict[str, object]]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{base(server)}/api/register", json={"username": name, "password": "long enough"}) as r,
        ):
            data: dict[str, object] = await r.json()
            return r.status, data

    answers = await asyncio.gather(*(sign_up(f"early{n}") for n in range(5)))
    created = [data for status, data in answers if status == 201]
    refused = [data for status, data in answers if status == 403]
    assert len(created) == 1, answers
    assert created[0]["admin"] is True
    assert len(refused) == 4, answers
    assert all(data["error"] == "Registration is closed: ask an admin for an account" for data in refused)
    accounts = await server.app.store.list_accounts()
    assert [(a.name, a.admin) for a in accounts] == [(created[0]["account"], True)]


async def test_parallel_sign_ups_with_open_registration_make_one_admin(make_server: ServerFactory) -> None:
    server = await make_server(web_enabled=True, web_port=0, allow_guests=False)

    async def sign_up(name: str) -> dict[str, object]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{base(server)}/api/register", json={"username": name, "password": "long enough"}) as r,
        ):
            assert r.status == 201
            data: dict[str, object] = await r.json()
            return data

    answers = await asyncio.gather(*(sign_up(f"early{n}") for n in range(5)))
    assert sorted(bool(a["admin"]) for a in answers) == [False, False, False, False, True]
    accounts = await server.app.store.list_accounts()
    assert sum(a.admin for a in accounts) == 1
    assert len(accounts) == 5


async def test_a_storm_of_good_logins_from_one_address_is_not_woken_all_at_once() -> None:
    # 300 logins from one address (a SASL storm behind one NAT): 5 are checked at a time, and
    # each decision lets exactly one more in, rather than waking every waiter to try again.
    throttle = LoginThrottle(free=5)
    calls = 0
    reserve = throttle.reserve

    def counting(keys: list[str], now: float | None = None) -> float | None:
        nonlocal calls
        calls += 1
        return reserve(keys, now)

    throttle.reserve = counting  # type: ignore[method-assign]
    in_flight = most = 0

    async def login(n: int) -> None:
        nonlocal in_flight, most
        keys = ["ip:10.0.0.1", f"account:user{n}"]
        await throttle.acquire(keys)
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0)
        in_flight -= 1
        throttle.succeeded(keys)

    await asyncio.wait_for(asyncio.gather(*(login(n) for n in range(300))), 10)
    assert most == 5
    assert calls < 3 * 300  # woken one by one: linear, not 300 x 300
    assert throttle._entries == {}
    assert throttle._waiters == {}


class CountingHasher(PasswordHasher):
    """The real hasher, counting the argon2 checks it makes."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.checks = 0

    def hash(self, password: str) -> str:
        return self.real.hash(password)

    def verify(self, stored: str, password: str) -> tuple[bool, bool]:
        self.checks += 1
        return self.real.verify(stored, password)


async def test_a_password_verified_recently_skips_argon2_until_it_changes(server: RunningServer) -> None:
    accounts = server.app.accounts
    counting = CountingHasher(accounts.hasher)
    accounts.hasher = counting
    await server.add_account("alice", "first password")
    await accounts.authenticate("alice", "first password", "10.0.0.1")
    assert counting.checks == 1
    await accounts.authenticate("alice", "first password", "10.0.0.2")  # a reconnect: no argon2
    assert counting.checks == 1
    with pytest.raises(LoginFailed):
        await accounts.authenticate("alice", "wrong password", "10.0.0.1")  # always the full check
    assert counting.checks == 2
    await accounts.set_password("alice", "second password")
    with pytest.raises(LoginFailed):
        await accounts.authenticate("alice", "first password", "10.0.0.1")
    await accounts.authenticate("alice", "second password", "10.0.0.1")
    assert counting.checks == 4
    # Changed behind the server's back (lanchat user passwd in another process): the cached
    # digest is bound to the stored hash, so the old password stops working at once.
    await server.app.store.set_password_hash("alice", accounts.hasher.hash("third password"))
    with pytest.raises(LoginFailed):
        await accounts.authenticate("alice", "second password", "10.0.0.1")
    assert counting.checks == 5


async def test_password_hashing_runs_below_the_event_loops_priority(server: RunningServer) -> None:
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop_niceness = niceness()
    hashing = await asyncio.get_running_loop().run_in_executor(server.app.accounts.executor, niceness)
    assert hashing == min(19, loop_niceness + HASHING_NICENESS)


def test_password_checks_run_two_at_a_time_or_one_on_a_single_cpu() -> None:
    one_cpu = python_output(
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from lanchat.app import hashing_threads; print(hashing_threads())"
    )
    assert one_cpu == "1"
    unpinned = python_output("from lanchat.app import hashing_threads; print(hashing_threads())")
    assert unpinned == str(min(2, len(os.sched_getaffinity(0))))


def test_new_hashes_use_the_documented_default_cost() -> None:
    stored = PasswordHasher().hash("correct horse")
    assert stored.startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    assert PasswordHasher().verify(stored, "correct horse") == (True, False)
    # A hash made with the former default (19 MiB, 2 passes) still works and is upgraded.
    old = PasswordHasher(HashParams(time_cost=2, memory_kib=19456, parallelism=1)).hash("correct horse")
    assert PasswordHasher().verify(old, "correct horse") == (True, True)


def test_default_hashes_are_libsodiums_and_each_library_verifies_the_others() -> None:
    ours = PasswordHasher().hash("correct horse")
    assert argon2.PasswordHasher().verify(ours, "correct horse")  # argon2-cffi reads libsodium's
    assert sodium_argon2id.verify(ours.encode(), b"correct horse")
    theirs = argon2.PasswordHasher(time_cost=5, memory_cost=7168, parallelism=1).hash("correct horse")
    assert PasswordHasher().verify(theirs, "correct horse") == (True, False)  # and the other way
    assert PasswordHasher().verify(theirs, "correct horsE") == (False, False)
    assert PasswordHasher().verify(ours, "") == (False, False)


def test_other_argon2_hashes_are_checked_by_argon2_cffi() -> None:
    two_lanes = PasswordHasher(HashParams(time_cost=2, memory_kib=8192, parallelism=2))
    stored = two_lanes.hash("correct horse")  # libsodium makes and checks one lane only
    assert stored.startswith("$argon2id$v=19$m=8192,t=2,p=2$")
    assert two_lanes.verify(stored, "correct horse") == (True, False)
    assert two_lanes.verify(stored, "wrong") == (False, False)
    assert PasswordHasher().verify(stored, "correct horse") == (True, True)  # upgraded at login
    older_kind = argon2.PasswordHasher(time_cost=3, memory_cost=8192, parallelism=1, type=argon2.Type.I)
    assert PasswordHasher().verify(older_kind.hash("pw"), "pw") == (True, True)
    longer = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=64, salt_len=32).hash("pw")
    assert len(longer) > 127  # past what libsodium reads
    assert PasswordHasher().verify(longer, "pw") == (True, True)
    truncated = PasswordHasher(HashParams(time_cost=1, memory_kib=8, parallelism=1)).hash("pw")[:-5]
    not_ascii = "$argon2id$v=19$m=7168,t=5,p=1$säältsäältsäält$aGFzaA"
    for broken in ("", "garbage", "$argon2id$v=19$m=7168,t=5,p=1$c2FsdA", truncated, not_ascii):
        assert PasswordHasher().verify(broken, "pw") == (False, False)
    for stored in (PasswordHasher(HashParams(time_cost=1, memory_kib=8, parallelism=1)).hash("pw"), "sha512:00"):
        assert PasswordHasher().verify(stored, "pw\ud800") == (False, False)  # not text: no match


def test_a_password_check_lets_the_event_loop_thread_run() -> None:
    # The server checks passwords in worker threads: that only keeps chat flowing if the
    # library lets go of the interpreter (the GIL) while it hashes.
    slow = PasswordHasher(HashParams(time_cost=30, memory_kib=7168, parallelism=1))
    stored = slow.hash("pw")
    started = time.perf_counter()
    assert slow.verify(stored, "pw") == (True, False)
    one_check = time.perf_counter() - started
    worker = threading.Thread(target=lambda: [slow.verify(stored, "pw") for _ in range(3)])
    gaps: list[float] = []
    last = time.perf_counter()
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    assert len(gaps) > 100
    assert max(gaps) < one_check / 2, (max(gaps), one_check)


async def test_time_spent_waiting_for_a_login_check_does_not_count_against_registration(
    make_server: ServerFactory,
) -> None:
    # One free try per address: after a failure, the next attempt waits a second, well over
    # the registration timeout, as a login queued behind a storm would.
    server = await make_server(allow_guests=False, registration_timeout=0.4, login_throttle_free=1)
    await server.add_account("patient", "the right password")
    wrong = await server.connect()
    with pytest.raises(AssertionError, match="SASL failed"):
        await wrong.register("patient", account="patient", password="a wrong one")
    late = await server.connect()
    started = time.monotonic()
    burst = await late.register("patient", account="patient", password="the right password")
    assert time.monotonic() - started >= 0.9
    assert burst[0].command == "001"


async def test_a_login_kept_waiting_past_the_allowance_is_cut(make_server: ServerFactory) -> None:
    # Two failures: the next attempt waits 2 s, over 5 registration timeouts of 0.3 s.
    server = await make_server(allow_guests=False, registration_timeout=0.3, login_throttle_free=1)
    await server.add_account("patient", "the right password")
    for _ in range(2):
        wrong = await server.connect()
        with pytest.raises(AssertionError, match="SASL failed"):
            await wrong.register("patient", account="patient", password="a wrong one")
    late = await server.connect()
    await late.send("CAP LS 302")
    await late.send("CAP REQ sasl")
    await late.send("AUTHENTICATE PLAIN")
    await late.expect("AUTHENTICATE")
    await late.send("AUTHENTICATE " + base64.b64encode(b"\0patient\0the right password").decode())
    got = await late.closed(timeout=5)
    assert got[-1].command == "ERROR"
    assert "Registration timed out" in got[-1].params[0]
    assert "903" not in [m.command for m in got]


async def test_waiting_for_login_checks_is_forgiven_only_up_to_the_allowance_in_all(
    make_server: ServerFactory,
) -> None:
    # Every attempt after the first waits 0.3 s in the throttle, over the 0.2 s timeout: each
    # wait alone is forgiven, but an unregistered connection may not stay past 5 timeouts in all
    # (1 s) by trying again and again, long before its 20 SASL attempts are used up.
    server = await make_server(
        allow_guests=False, registration_timeout=0.2, login_throttle_free=1, login_throttle_max_delay=0.3
    )
    await server.add_account("patient", "the right password")
    pest = await server.connect()
    await pest.send("CAP LS 302")
    await pest.send("CAP REQ sasl")
    await pest.expect("CAP", lambda m: m.params[1] == "ACK")
    payload = base64.b64encode(b"\0patient\0a wrong one").decode()
    failures = 0
    reason = ""
    while not reason:
        await pest.send("AUTHENTICATE PLAIN")
        await pest.send(f"AUTHENTICATE {payload}")
        while (msg := await pest.recv(timeout=5)).command not in ("904", "ERROR"):
            pass
        if msg.command == "904":
            failures += 1
        else:
            reason = msg.params[0]
    assert "Registration timed out" in reason
    assert 2 <= failures < 10
