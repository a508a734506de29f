"""Named regressions against the report's system (../shared/seed): what it got wrong, done right."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import RunningServer, ServerFactory
from tests.ircclient import commands, find


async def _room(make_server: ServerFactory, **overrides: object) -> RunningServer:
    server = await make_server(default_channel="#general", allow_guests=False, **overrides)
    await server.add_account("Admin", "pw-admin")
    await server.add_account("Admin_sec", "pw-sec")
    return server


async def test_two_users_see_each_others_messages_under_the_right_sender(make_server: ServerFactory) -> None:
    # Figure 3.3 of the report: with a global "username", both lines showed as Admin_sec.
    server = await _room(make_server)
    admin = await server.user("Admin", account="Admin", password="pw-admin")
    second = await server.user("Admin_sec", account="Admin_sec", password="pw-sec")
    await admin.expect("JOIN", lambda m: (m.source or "").startswith("Admin_sec!"))
    await second.send("PRIVMSG #general :hi")
    got = await admin.expect("PRIVMSG")
    assert (got.source or "").startswith("Admin_sec!")
    assert got.params == ["#general", "hi"]
    await admin.send("PRIVMSG #general :Hello")
    got = await second.expect("PRIVMSG")
    assert (got.source or "").startswith("Admin!")
    assert got.params == ["#general", "Hello"]
    assert not find(await admin.sync(), "PRIVMSG")  # no echo to the sender without echo-message


async def test_100_lines_back_to_back_arrive_intact_and_in_order(make_server: ServerFactory) -> None:
    # The report treated each recv(1024) as one message: long ones split, quick ones merged.
    server = await _room(make_server, flood_burst=100, flood_rate=20.0)  # the default flood control
    admin = await server.user("Admin", account="Admin", password="pw-admin")
    second = await server.user("Admin_sec", account="Admin_sec", password="pw-sec")
    await admin.expect("JOIN", lambda m: (m.source or "").startswith("Admin_sec!"))
    texts = [f"line {i:03d} " + "é" * (i * 2) for i in range(100)]  # up to 420 bytes each
    burst = "".join(f"PRIVMSG #general :{t}\r\n" for t in texts).encode()
    await second.send(burst)
    received = [(await admin.expect("PRIVMSG", timeout=10)).params[1] for _ in texts]
    assert received == texts


async def test_a_message_right_after_a_login_is_not_lost(make_server: ServerFactory) -> None:
    # The report answered "authenticated" before adding the socket to its list.
    server = await _room(make_server)
    admin = await server.user("Admin", account="Admin", password="pw-admin")
    second = await server.connect()
    registering = asyncio.create_task(second.register("Admin_sec", account="Admin_sec", password="pw-sec"))
    await admin.expect("JOIN", lambda m: (m.source or "").startswith("Admin_sec!"))
    await admin.send("PRIVMSG #general :welcome!")
    burst = await registering  # the message may arrive while the burst is read
    got = find(burst, "PRIVMSG") or [await second.expect("PRIVMSG")]
    assert [m.params for m in got] == [["#general", "welcome!"]]


async def test_sql_injection_names_cannot_log_in(make_server: ServerFactory) -> None:
    # The report built SQL by concatenation: x' OR '1'='1 logged in with Admin's password.
    server = await _room(make_server)
    for name in ("x' OR '1'='1", "' UNION SELECT 'Admin', 'x' --", "Admin'--"):
        client = await server.connect()
        await client.send("CAP REQ :sasl")
        await client.send("AUTHENTICATE PLAIN")
        await client.expect("AUTHENTICATE")
        payload = base64.b64encode(f"\0{name}\0pw-admin".encode()).decode()
        await client.send(f"AUTHENTICATE {payload}")
        assert (await client.expect(where=lambda m: m.command in ("903", "904"))).command == "904"
        await client.send(f"PASS :{name}:pw-admin")
        await client.send("NICK intruder")
        await client.send("USER i 0 * :i")
        await client.send("CAP END")
        reply = await client.sync()
        assert "001" not in commands(reply)
        assert "464" in commands(reply)
    names = [r.name for r in await server.app.store.list_accounts()]
    assert names == ["Admin", "Admin_sec"]


async def test_a_quote_in_a_nick_or_a_bad_byte_gets_an_error_not_a_dead_connection(server: RunningServer) -> None:
    client = await server.user("quoter")
    assert commands(await client.request("NICK x'y")) == ["432"]
    await client.send(b"PRIVMSG quoter :caf\xe9\r\n")
    fail = await client.expect("FAIL")
    assert fail.params[:2] == ["PRIVMSG", "INVALID_UTF8"]
    assert await client.request("PING :alive")


def _make_seed_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (Username TEXT, Password TEXT)")
    rows = [
        # A row as the report's server actually stored it: "_" + name, digest of "_" + password.
        ("_Admin", hashlib.sha512(b"_adminpw").hexdigest()),
        # A row of the report's intended shape: plain name, digest of the password.
        ("Admin_sec", hashlib.sha512(b"secpw").hexdigest()),
        ("bad name", hashlib.sha512(b"x").hexdigest()),
    ]
    conn.executemany("INSERT INTO users VALUES (?, ?)", rows)
    conn.commit()
    conn.close()


def _lanchat(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lanchat", *args, "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_import_seed_logs_in_with_old_passwords_and_upgrades_to_argon2id(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    seed = tmp_path / "chat_users.db"
    _make_seed_db(seed)
    data = tmp_path / "data"
    first = _lanchat("import-seed", str(seed), data=data)
    assert first.returncode == 0, first.stderr
    assert "imported 2 account(s); 0 already existed; 1 skipped" in first.stdout
    assert "bad name" in first.stderr
    again = _lanchat("import-seed", str(seed), data=data)
    assert "imported 0 account(s); 2 already existed" in again.stdout

    server = await make_server(data_dir=data, allow_guests=False)
    stored = {r.name: r.password_hash for r in await server.app.store.list_accounts()}
    assert stored["Admin"].startswith("sha512u:")
    assert stored["Admin_sec"].startswith("sha512:")
    await server.user("Admin", account="Admin", password="adminpw")
    await server.user("Admin_sec", account="Admin_sec", password="secpw")
    upgraded = {r.name: r.password_hash for r in await server.app.store.list_accounts()}
    assert all(h.startswith("$argon2id$") for h in upgraded.values())
    # The upgraded hashes still accept the same passwords (and only them).
    await server.user("Admin_", account="Admin", password="adminpw")
    wrong = await server.connect()
    await wrong.send("PASS :Admin:_adminpw")
    await wrong.send("NICK Admin__")
    await wrong.send("USER a 0 * :a")
    assert "464" in commands(await wrong.sync())


def test_import_seed_refuses_a_file_that_is_not_a_report_database(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE things (a)")
    conn.close()
    result = _lanchat("import-seed", str(other), data=tmp_path / "data")
    assert result.returncode == 1
    assert "no users(Username, Password) table" in result.stderr
    missing = _lanchat("import-seed", str(tmp_path / "nope.db"), data=tmp_path / "data")
    assert missing.returncode == 1
    assert "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr + result.stderr
