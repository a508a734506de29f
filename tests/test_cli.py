"""The command line: serve (start, addresses, clean shutdown, bad config), user management,
hash-password, --version and --help."""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import resource
import select
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lanchat import __version__, cli
from lanchat.core.passwords import PasswordHasher
from tests.ircclient import IrcTestClient, find
from tests.process import FAST_CONFIG, ServerProcess, lanchat, lanchat_bytes


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "lanchat.toml"
    path.write_text(FAST_CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def running(tmp_path: Path, config_file: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "data", config_file)
    yield server
    server.stop()


def test_version_and_help() -> None:
    result = lanchat("--version")
    assert result.stdout.strip() == f"lanchat {__version__}"
    for command in (["serve"], ["user", "add"], ["user", "list"], ["import-seed"], ["hash-password"], []):
        result = lanchat(*command, "--help")
        assert result.returncode == 0, command
        assert "usage: lanchat" in result.stdout
        if command:
            assert "--config" in result.stdout
            assert "--data" in result.stdout


async def test_serve_prints_its_address_and_stops_cleanly_on_sigterm(running: ServerProcess) -> None:
    assert f"IRC listening on 127.0.0.1:{running.port}" in "".join(running.output)
    client = await IrcTestClient.connect(running.port)
    await client.register("watcher", caps=["echo-message"])
    await client.send("PRIVMSG #general :kept for later")
    await client.expect("PRIVMSG")
    running.signal(signal.SIGTERM)
    tail = await client.closed(timeout=10)
    assert tail[-1].command == "ERROR"
    assert "shutting down" in tail[-1].params[0]
    status, out, err = running.wait()
    assert status == 0, err
    assert "watcher is connected" in out
    assert out.count("watcher is disconnected") == 1
    assert "Traceback" not in err


async def test_history_is_there_after_a_clean_restart(tmp_path: Path, config_file: Path) -> None:
    first = ServerProcess(tmp_path / "data", config_file)
    try:
        client = await IrcTestClient.connect(first.port)
        await client.register("keeper", caps=["echo-message"])
        for i in range(20):
            await client.send(f"PRIVMSG #general :message {i}")
        for _ in range(20):
            await client.expect("PRIVMSG")
        first.signal(signal.SIGINT)
        assert first.wait()[0] == 0
    finally:
        first.stop()
    second = ServerProcess(tmp_path / "data", config_file)
    try:
        client = await IrcTestClient.connect(second.port)
        await client.register("reader", caps=["draft/chathistory", "batch"])
        reply = await client.request("CHATHISTORY LATEST #general * 50")
        assert [m.params[1] for m in find(reply, "PRIVMSG")] == [f"message {i}" for i in range(20)]
    finally:
        second.stop()


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[irc]\nport = "lots"\n', "irc.port"),
        ("[irc]\nport = 70000\n", "irc.port"),
        ('[server]\nallow_guests = "maybe"\n', "server.allow_guests"),
        ('[server]\ncolour = "blue"\n', "server.colour"),
        ('[server]\nname = "no spaces allowed"\n', "server.name"),
        ("[limits]\nsendq_bytes = 10\n", "limits.sendq_bytes"),
    ],
)
def test_a_bad_config_value_is_refused_with_one_line_naming_the_key(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    result = lanchat("serve", "--config", str(path), "--data", str(tmp_path / "d"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert key in lines[0]


def test_a_bad_environment_value_names_its_key(tmp_path: Path) -> None:
    result = lanchat("serve", "--data", str(tmp_path / "d"), env={"LANCHAT_IRC_PORT": "ten"})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("lanchat: irc.port:")


def test_a_port_in_use_is_one_clear_line(running: ServerProcess, tmp_path: Path, config_file: Path) -> None:
    result = lanchat(
        "serve",
        "--config",
        str(config_file),
        "--data",
        str(tmp_path / "other"),
        "--host",
        "127.0.0.1",
        "--irc-port",
        str(running.port),
    )
    assert result.returncode == 1
    assert "cannot start" in result.stderr
    assert "Traceback" not in result.stderr


async def test_user_management_while_the_server_runs(running: ServerProcess, tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "data")]
    assert lanchat("user", "add", "dora", "--password-stdin", *data, stdin="explorer\n").returncode == 0
    client = await IrcTestClient.connect(running.port)
    await client.register("dora", account="dora", password="explorer")
    await client.close()

    duplicate = lanchat("user", "add", "Dora", "--password-stdin", *data, stdin="x\n")
    assert duplicate.returncode == 1
    assert "exists" in duplicate.stderr
    invalid = lanchat("user", "add", "bad name", "--password-stdin", *data, stdin="x\n")
    assert invalid.returncode == 1
    empty = lanchat("user", "add", "emma", "--password-stdin", *data, stdin="\n")
    assert empty.returncode == 2

    assert lanchat("user", "passwd", "dora", "--password-stdin", *data, stdin="map\n").returncode == 0
    client = await IrcTestClient.connect(running.port)
    await client.register("dora", account="dora", password="map")
    await client.close()

    assert lanchat("user", "admin", "dora", "on", *data).returncode == 0
    listing = lanchat("user", "list", *data)
    assert "dora (admin)" in listing.stdout
    assert lanchat("user", "admin", "dora", "off", *data).returncode == 0
    assert "(admin)" not in lanchat("user", "list", *data).stdout
    assert lanchat("user", "del", "dora", *data).returncode == 0
    assert "dora" not in lanchat("user", "list", *data).stdout
    missing = lanchat("user", "del", "dora", *data)
    assert missing.returncode == 1
    assert "no such account" in missing.stderr


def test_a_data_folder_that_cannot_be_made_is_named_in_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    data = str(blocker / "data")
    commands = (
        ["user", "list"],
        ["user", "add", "dora", "--password-stdin"],
        ["serve", "--host", "127.0.0.1", "--irc-port", "0"],
    )
    for args in commands:
        result = lanchat(*args, "--data", data, stdin="pw\n")
        assert result.returncode == 1, result.stderr
        assert f"{data}: Not a directory" in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_hash_password_prints_a_verifiable_argon2id_hash() -> None:
    result = lanchat("hash-password", "--password-stdin", stdin="operpassword\n")
    hashed = result.stdout.strip()
    assert hashed.startswith("$argon2id$")
    assert PasswordHasher().verify(hashed, "operpassword") == (True, False)


#: The C locale: standard input is not UTF-8 for Python there.
C_LOCALE = {"LC_ALL": "C", "LANG": "C"}


def test_a_password_that_is_not_utf8_is_refused_with_a_message(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "data")]
    latin1 = "pässword\n".encode("latin-1")
    for args in (["hash-password"], ["user", "add", "dora", *data]):
        result = lanchat_bytes(*args, "--password-stdin", stdin=latin1, env=C_LOCALE)
        assert result.returncode == 2, result.stderr
        assert b"the password is not UTF-8 text" in result.stderr
        assert b"Traceback" not in result.stderr
    assert b"dora" not in lanchat_bytes("user", "list", *data, env=C_LOCALE).stdout

    # The same password in UTF-8 (a Windows line ending too) works under the same locale.
    added = lanchat_bytes("user", "add", "dora", *data, "--password-stdin", stdin="pässword\r\n".encode(), env=C_LOCALE)
    assert added.returncode == 0, added.stderr
    hashed = lanchat_bytes("hash-password", "--password-stdin", stdin="pässword\n".encode(), env=C_LOCALE)
    assert hashed.returncode == 0, hashed.stderr
    assert PasswordHasher().verify(hashed.stdout.decode().strip(), "pässword") == (True, False)


def _talk(args: list[str], answers: list[str | bytes]) -> tuple[int, str]:
    """Run a command on a pseudo-terminal, typing each answer at each prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execv(sys.executable, [sys.executable, "-m", "lanchat", *args])
    output = b""
    pending = list(answers)
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if pending and output.endswith(b": "):
            answer = pending.pop(0)
            os.write(fd, (answer if isinstance(answer, bytes) else answer.encode()) + b"\n")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_a_typed_password_that_is_not_utf8_is_refused_with_a_message(tmp_path: Path) -> None:
    typed = "pässword".encode("latin-1")
    code, output = _talk(["user", "add", "pat", "--data", str(tmp_path / "d")], [typed, typed])
    assert code == 2, output
    assert "the password is not valid text in the terminal's encoding" in output
    assert "Traceback" not in output


def test_user_add_prompts_twice_without_echo(tmp_path: Path) -> None:
    code, output = _talk(["user", "add", "pat", "--data", str(tmp_path / "d")], ["s3cret-word", "s3cret-word"])
    assert code == 0, output
    assert "Password:" in output
    assert "Again:" in output
    assert "s3cret-word" not in output
    assert "account pat created" in output
    code, output = _talk(["user", "add", "quin", "--data", str(tmp_path / "d")], ["one", "two"])
    assert code == 2
    assert "do not match" in output


def test_a_sigterm_as_soon_as_serve_prints_its_address_stops_it_cleanly(tmp_path: Path) -> None:
    # TLS and the web client on: more lines follow the first address, and the signal comes
    # while they are printed. Before the fix the handlers came after them (killed: -15).
    config = tmp_path / "lanchat.toml"
    config.write_text(
        FAST_CONFIG.replace("[tls]\nenabled = false", "[tls]\nenabled = true\nport = 0").replace(
            "[web]\nenabled = false", "[web]\nenabled = true\nport = 0"
        ),
        encoding="utf-8",
    )
    for _ in range(8):  # the race this guards against was lost about one time in three
        server = ServerProcess(tmp_path / "data", config)
        try:
            server.signal(signal.SIGTERM)
            status, out, err = server.wait()
        finally:
            server.stop()  # only if it still runs
        assert status == 0, err
        assert "lanchat: shutting down" in out
        assert "Traceback" not in err
    assert (tmp_path / "data" / "tls" / "cert.pem").is_file()  # TLS was on


def test_serve_raises_its_open_file_limit_to_the_hard_limit(tmp_path: Path, config_file: Path) -> None:
    hard = min(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    if hard <= 256:
        pytest.skip(f"the hard open-file limit ({hard}) leaves nothing to raise")
    server = ServerProcess(tmp_path / "data", config_file, file_limit=(256, hard))
    try:
        limits = Path(f"/proc/{server.proc.pid}/limits").read_text()
        [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
        assert line.split()[3:5] == [str(hard), str(hard)]  # soft raised from 256
    finally:
        server.signal(signal.SIGTERM)
        status, _, err = server.wait()
    assert status == 0
    assert "open-file limit" not in err


def test_an_open_file_limit_a_sandbox_will_not_raise_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As in a sandbox whose seccomp filter refuses setrlimit/prlimit64 with EPERM.
    def refuse(resource_id: int, limits: tuple[int, int]) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(resource, "getrlimit", lambda resource_id: (1024, 65536))
    monkeypatch.setattr(resource, "setrlimit", refuse)
    with caplog.at_level(logging.WARNING):
        cli._raise_file_limit()
    assert "cannot raise the open-file limit from 1024 to 65536" in caplog.text
    assert "at most ~1024 connections" in caplog.text


async def test_running_out_of_file_descriptors_does_not_kill_the_server(tmp_path: Path, config_file: Path) -> None:
    # The report's server died at the descriptor limit; here extra connections wait.
    server = ServerProcess(tmp_path / "data", config_file, file_limit=64)
    try:
        first = await IrcTestClient.connect(server.port)
        await first.register("first")
        crowd = [await IrcTestClient.connect(server.port) for _ in range(100)]
        assert await first.request("PING :still serving")
        for client in crowd:
            await client.close()
        # While descriptors are short, new connections may be closed at once (libuv accepts
        # and drops them); once the crowd is gone they are served again.
        for attempt in range(50):
            late = await IrcTestClient.connect(server.port)
            try:
                assert (await late.register(f"late{attempt}", timeout=5))[0].command == "001"
                break
            except (ConnectionError, TimeoutError):
                await asyncio.sleep(0.2)
            finally:
                await late.close()
        else:
            raise AssertionError("never served again")
        assert await first.request("PING :still the same connection")
        await first.close()
    finally:
        server.signal(signal.SIGTERM)
        status, _, err = server.wait()
    assert status == 0
    assert "Traceback" not in err
