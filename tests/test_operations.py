"""Operations: /metrics, JSON logs with connection ids, backup while running and restore,
one server per data folder."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sqlite3
from pathlib import Path
from typing import TextIO

import aiohttp
import pytest

from lanchat.logs import PresenceLog
from tests.certs import trust_any
from tests.conftest import ServerFactory
from tests.ircclient import IrcTestClient, find
from tests.process import FAST_CONFIG, ServerProcess, lanchat, python_output
from tests.seed_client import ReportClient


async def test_metrics_count_what_happens(make_server: ServerFactory) -> None:
    server = await make_server(
        web_enabled=True,
        web_port=0,
        web_https=False,
        tls_enabled=True,
        tls_port=0,
        seed_compat=True,
        allow_guests=False,
    )
    await server.add_account("meter", "pw")
    await server.add_account("reporter", "pw2")
    client = await server.user("meter", account="meter", password="pw")
    await client.request("JOIN #m")
    listener = await server.user("listener2", account="meter", password="pw")
    await listener.request("JOIN #m")
    second = await server.user("meter", account="meter", password="pw")  # attached to meter's user
    await second.sync()
    for i in range(5):
        await client.send(f"PRIVMSG #m :tick {i}")
    await listener.sync()
    bad = await server.connect()
    await bad.send("PASS :meter:wrong")
    await bad.send("NICK nope")
    await bad.send("USER n 0 * :n")
    await bad.sync()
    secure = await IrcTestClient.connect(server.app.tls_addresses[0][1], tls=trust_any())
    server.clients.append(secure)
    await secure.sync()
    report = ReportClient(server.port)  # the report's own client, on the plaintext port
    web = f"127.0.0.1:{server.app.web_addresses[0][1]}"
    try:
        assert await asyncio.to_thread(report.login, "reporter", "pw2") == "authenticated"
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://{web}/irc", protocols=("text.ircv3.net",)) as ws,
        ):
            await ws.send_str("PING :counted")
            assert "PONG" in (await ws.receive(timeout=5)).data
            async with http.get(f"http://{web}/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
                text = await r.text()
    finally:
        report.close()
    values = {
        line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line and not line.startswith("#")
    }
    assert values['lanchat_connections{transport="tcp"}'] == 4
    assert values['lanchat_connections{transport="tls"}'] == 1
    assert values['lanchat_connections{transport="websocket"}'] == 1
    assert values['lanchat_connections{transport="seed"}'] == 1
    assert values["lanchat_registrations_total"] == 4
    assert values["lanchat_logins_failed_total"] == 1
    assert values["lanchat_deliveries_total"] >= 5
    assert values["lanchat_messages_in_total"] >= 10
    assert values["lanchat_messages_out_total"] > values["lanchat_messages_in_total"]  # welcomes, echoes
    assert values["lanchat_history_write_batch_size_count"] >= 1
    assert values["lanchat_history_write_seconds_count"] >= 1
    assert "lanchat_event_loop_lag_seconds_bucket" in text
    assert values["lanchat_sendq_disconnects_total"] == 0


@pytest.mark.parametrize("json_format", [False, True], ids=["human by default", "json"])
async def test_logs_carry_the_connection_id(tmp_path: Path, json_format: bool) -> None:
    config = tmp_path / "lanchat.toml"
    config.write_text(FAST_CONFIG, encoding="utf-8")
    server = ServerProcess(tmp_path / "data", config, *(["--log-format", "json"] if json_format else []))
    try:
        client = await IrcTestClient.connect(server.port)
        await client.send("CAP REQ :sasl")
        await client.send("AUTHENTICATE PLAIN")
        await client.expect("AUTHENTICATE")
        await client.send("AUTHENTICATE AG5vYm9keQBzZWNyZXQtd29yZA==")  # \0nobody\0secret-word
        await client.expect("904")
        await client.close()
    finally:
        server.signal(signal.SIGTERM)
        status, _, err = server.wait()
    assert status == 0
    assert "secret-word" not in err
    if json_format:
        entries = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        failed = [e for e in entries if "login failed" in e["message"]]
        assert len(failed) == 1
        assert failed[0]["conn"].startswith("c")
        assert failed[0]["level"] == "warning"
    else:
        # time, level, logger, [connection id], message: one line per record, no JSON.
        assert not any(line.startswith("{") for line in err.splitlines())
        lines = [line for line in err.splitlines() if "login failed" in line]
        assert len(lines) == 1
        stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
        pattern = stamp + r" WARNING lanchat\.accounts \[c\d+\] login failed for account 'nobody' from 127\.0\.0\.1"
        assert re.match(pattern, lines[0]), lines[0]


def _pipe() -> tuple[int, TextIO]:
    """A pipe: its read end (non-blocking) and a buffered text stream on its write end."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    return read_fd, open(write_fd, "w", encoding="utf-8")


def _drain(read_fd: int) -> bytes:
    try:
        return os.read(read_fd, 65536)
    except BlockingIOError:
        return b""


async def test_presence_lines_are_flushed_once_per_loop_iteration_in_order() -> None:
    read_fd, stream = _pipe()
    presence = PresenceLog(stream)
    try:
        for name in ("ann", "bob", "cat"):
            presence.line(f"{name} is connected")
        assert _drain(read_fd) == b""  # still in the stream's buffer: no write per line
        await asyncio.sleep(0)
        assert _drain(read_fd) == b"ann is connected\nbob is connected\ncat is connected\n"
    finally:
        stream.close()
        os.close(read_fd)


def test_presence_lines_outside_the_event_loop_are_flushed_at_once() -> None:
    read_fd, stream = _pipe()
    presence = PresenceLog(stream)
    loop = asyncio.new_event_loop()

    def log_then_stop() -> None:
        presence.line("ann is disconnected")
        loop.stop()  # the loop ends before the flush it scheduled runs (as at shutdown)

    try:
        loop.call_soon(log_then_stop)
        loop.run_forever()
        assert _drain(read_fd) == b""
        presence.flush()  # what the interpreter does to stdout at exit
        assert _drain(read_fd) == b"ann is disconnected\n"
        presence.line("bob is connected")
        assert _drain(read_fd) == b"bob is connected\n"

        async def log_in_another_loop() -> bytes:
            presence.line("cat is connected")
            await asyncio.sleep(0)
            return _drain(read_fd)

        assert asyncio.run(log_in_another_loop()) == b"cat is connected\n"
    finally:
        loop.close()
        stream.close()
        os.close(read_fd)


async def test_presence_lines_stop_cleanly_when_stdout_is_gone(caplog: pytest.LogCaptureFixture) -> None:
    read_fd, stream = _pipe()
    presence = PresenceLog(stream)
    os.close(read_fd)  # the reader went away (lanchat serve | head, a closed terminal)
    presence.line("ann is connected")
    with caplog.at_level(logging.WARNING, logger="lanchat"):
        await asyncio.sleep(0)  # the flush meets the broken pipe
    assert presence.stream is None
    assert any("no longer printed" in r.getMessage() for r in caplog.records)
    presence.line("bob is connected")  # nothing more is written, and nothing raises
    with contextlib.suppress(BrokenPipeError):
        stream.close()


def test_the_garbage_collector_is_tuned_once_the_server_has_started() -> None:
    code = (
        "import gc; from lanchat.app import GC_YOUNG_THRESHOLD, tune_garbage_collector;"
        "before = gc.get_freeze_count(); tune_garbage_collector();"
        "print(gc.get_threshold()[0] == GC_YOUNG_THRESHOLD, gc.get_freeze_count() > before + 1000)"
    )
    assert python_output(code).split() == ["True", "True"]


STACKS_CODE = """
import asyncio, pathlib, sys, tempfile
from tests.conftest import test_config
from lanchat.app import App
async def main():
    with tempfile.TemporaryDirectory() as folder:
        app = App(test_config(pathlib.Path(folder), {overrides}))
        await app.start()
        loaded = [m for m in ("aiohttp", "prometheus_client", "cryptography", "zeroconf") if m in sys.modules]
        print(len(app.addresses), len(app.web_addresses), len(app.tls_addresses), *loaded)
        await app.stop()
asyncio.run(main())
"""


def test_a_server_loads_the_web_and_tls_stacks_only_when_they_are_on() -> None:
    # IRC only: aiohttp, prometheus-client and cryptography (~0.3 s of imports) stay unloaded.
    assert python_output(STACKS_CODE.format(overrides="")).split() == ["1", "0", "0"]
    both = "web_enabled=True, web_port=0, tls_enabled=True, tls_port=0"
    assert python_output(STACKS_CODE.format(overrides=both)).split() == [
        "1",
        "1",
        "1",
        "aiohttp",
        "prometheus_client",
        "cryptography",
    ]


async def test_backup_while_running_and_restore(tmp_path: Path) -> None:
    config = tmp_path / "lanchat.toml"
    config.write_text(FAST_CONFIG, encoding="utf-8")
    data = tmp_path / "data"
    server = ServerProcess(data, config)
    try:
        client = await IrcTestClient.connect(server.port)
        await client.register("archivist", caps=["echo-message"])
        for i in range(50):
            await client.send(f"PRIVMSG #general :before backup {i}")
        for _ in range(50):
            await client.expect("PRIVMSG")
        result = lanchat("backup", str(tmp_path), "--data", str(data))
        assert result.returncode == 0, result.stderr
        copy = Path(result.stdout.split("backup written to ")[1].split(" (")[0])
        assert os.stat(copy).st_mode & 0o777 == 0o600  # password hashes and DMs: owner only
        await client.send("PRIVMSG #general :after backup")
        await client.expect("PRIVMSG")
        refused = lanchat("restore", str(copy), "--data", str(data))
        assert refused.returncode == 1
        assert "stop it first" in refused.stderr
        second = lanchat("serve", "--config", str(config), "--data", str(data), "--irc-port", "0")
        assert second.returncode == 1
        assert "another lanchat server is using" in second.stderr
    finally:
        server.signal(signal.SIGTERM)
        server.wait()
    restored = lanchat("restore", str(copy), "--data", str(data))
    assert restored.returncode == 0, restored.stderr
    assert "is kept as" in restored.stdout
    again = ServerProcess(data, config)
    try:
        client = await IrcTestClient.connect(again.port)
        await client.register("reader", caps=["draft/chathistory", "batch"])
        reply = await client.request("CHATHISTORY LATEST #general * 100")
        texts = [m.params[1] for m in find(reply, "PRIVMSG")]
        assert texts == [f"before backup {i}" for i in range(50)]
    finally:
        again.stop()


async def test_a_backup_taken_while_messages_keep_coming_is_a_consistent_snapshot(tmp_path: Path) -> None:
    config = tmp_path / "lanchat.toml"
    config.write_text(FAST_CONFIG, encoding="utf-8")
    data = tmp_path / "data"
    server = ServerProcess(data, config)
    sent = 0
    busy = asyncio.Event()  # the writer is busy before the backup starts
    done = asyncio.Event()

    async def keep_sending(client: IrcTestClient) -> None:
        nonlocal sent
        while not done.is_set() and sent < 20_000:  # bounded, and stops once the backup is done
            await client.send(f"PRIVMSG #general :during {sent}")
            await client.expect("PRIVMSG")  # the echo: stored
            sent += 1
            if sent == 20:
                busy.set()

    try:
        client = await IrcTestClient.connect(server.port)
        await client.register("talker", caps=["echo-message"])
        sending = asyncio.create_task(keep_sending(client))
        await asyncio.wait_for(busy.wait(), 10)
        acked = sent  # stored (echoed) before the backup started
        result = await asyncio.to_thread(lanchat, "backup", str(tmp_path), "--data", str(data))
        done.set()
        await sending
        assert result.returncode == 0, result.stderr
        copy = Path(result.stdout.split("backup written to ")[1].split(" (")[0])
    finally:
        server.signal(signal.SIGTERM)
        server.wait()
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        texts = [row[0] for row in conn.execute("SELECT text FROM messages ORDER BY seq")]
    finally:
        conn.close()
    # Whole commits, in order, up to one moment: the first k messages for some k, with every
    # message acknowledged before the backup started among them.
    assert len(texts) >= acked >= 20
    assert texts == [f"during {i}" for i in range(len(texts))]


def test_restore_refuses_what_is_not_a_lanchat_backup(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    result = lanchat("restore", str(junk), "--data", str(tmp_path / "d"))
    assert result.returncode == 1
    assert "not a lanchat database" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_failed_backup_leaves_no_file_and_never_overwrites(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "lanchat.db").write_bytes(b"not a database at all" * 100)
    failed = lanchat("backup", str(tmp_path / "copy.db"), "--data", str(data))
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert not (tmp_path / "copy.db").exists()
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"keep me")
    refused = lanchat("backup", str(existing), "--data", str(data))
    assert refused.returncode == 1
    assert "exists: choose another name" in refused.stderr
    assert existing.read_bytes() == b"keep me"
