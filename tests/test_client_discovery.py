"""LAN discovery: merging DNS-SD records (pure), browsing services registered in the test over
loopback multicast, and ``lanchat chat`` without an address against real announcing servers —
the last ones inside a network namespace (tests/netns.py), so nothing leaks onto the LAN."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from lanchat.client.discovery import PLAIN_SERVICE, TLS_SERVICE, ServiceRecord, browse, merge_services
from tests import netns
from tests.process import ServerProcess
from tests.test_client_e2e import PASSWORDS, SERVER_CONFIG, ChatProcess, create_accounts

ANNOUNCING = SERVER_CONFIG.replace("[tls]\nenabled = false", "[tls]\nenabled = true\nport = 0").replace(
    "[discovery]\nenabled = false", "[discovery]\nenabled = true"
)
#: Seconds to browse: a responder that has just announced stays quiet for a second (RFC 6762
#: rate limit), so the browser's second query is the one answered.
BROWSE = 2.0


def test_the_announcing_config_really_announces() -> None:
    assert "[tls]\nenabled = true" in ANNOUNCING
    assert "[discovery]\nenabled = true" in ANNOUNCING


def record(kind: str, instance: str, port: int, host: str = "box.local.", **txt: str) -> ServiceRecord:
    """A resolved service as browse() would build it."""
    return ServiceRecord(kind, f"{instance}.{kind}", host, ("192.0.2.7",), port, {"software": "lanchat", **txt})


# -- merging records -------------------------------------------------------------------------


def test_a_servers_two_announcements_become_one_server() -> None:
    found = merge_services(
        [
            record(PLAIN_SERVICE, "office on box", 10000, tls_port="10001"),
            record(TLS_SERVICE, "office on box", 10001, tls_port="10001"),
        ]
    )
    assert len(found) == 1
    server = found[0]
    assert (server.name, server.host) == ("office on box", "box.local")
    assert (server.tls_port, server.plain_port) == (10001, 10000)
    [tls] = server.endpoints(plaintext=False)
    assert (tls.host, tls.port, tls.tls, tls.pin_key) == ("192.0.2.7", 10001, True, "box.local:10001")
    [plain] = server.endpoints(plaintext=True)
    assert (plain.port, plain.tls) == (10000, False)


def test_a_port_in_a_txt_record_that_is_not_ascii_digits_is_ignored() -> None:
    # "²".isdigit() is true but int("²") fails: a record from the LAN must not break the browse.
    [server] = merge_services([record(PLAIN_SERVICE, "office on box", 10000, tls_port="²")])
    assert (server.tls_port, server.plain_port) == (None, 10000)


def test_other_software_is_ignored_and_servers_stay_apart() -> None:
    other = ServiceRecord(PLAIN_SERVICE, f"ngircd.{PLAIN_SERVICE}", "box.local.", ("192.0.2.7",), 6667, {})
    found = merge_services(
        [
            other,
            record(TLS_SERVICE, "alpha on box", 20001),
            record(PLAIN_SERVICE, "beta on box", 30000, tls_port="30001"),
            record(TLS_SERVICE, "beta on box", 30001),
        ]
    )
    assert [(s.name, s.tls_port, s.plain_port) for s in found] == [
        ("alpha on box", 20001, None),
        ("beta on box", 30001, 30000),
    ]
    assert found[0].endpoints(plaintext=True) == []


def test_the_announced_fingerprint_goes_with_the_tls_endpoints() -> None:
    digest = "ab" * 32
    [server] = merge_services([record(TLS_SERVICE, "office on box", 10001, fp=digest, tls_port="10001")])
    expected = ":".join(["AB"] * 32)
    assert server.fingerprint == expected
    assert [e.announced for e in server.endpoints(plaintext=False)] == [expected]
    [bad] = merge_services([record(TLS_SERVICE, "x", 1, fp="not-hex")])
    assert bad.fingerprint == ""


def test_a_plaintext_announcement_merges_by_its_tls_port_when_names_differ() -> None:
    found = merge_services(
        [record(TLS_SERVICE, "chat (2)", 10001), record(PLAIN_SERVICE, "chat", 10000, tls_port="10001")]
    )
    assert [(s.tls_port, s.plain_port) for s in found] == [(10001, 10000)]


def test_what_an_announcement_says_is_made_safe_to_print() -> None:
    hostile = ServiceRecord(
        TLS_SERVICE,
        f"office\x1b]0;PWNED\x07.{TLS_SERVICE}",
        "box\x9b2J.local.",
        ("192.0.2.7\x08\x08",),
        10001,
        {"software": "lanchat"},
    )
    [server] = merge_services([hostile])
    line = server.describe()
    for control in ("\x1b", "\x07", "\x9b", "\x08"):
        assert control not in line
    assert line == "office\ufffd]0;PWNED\ufffd — box\ufffd2j.local (192.0.2.7\ufffd\ufffd; TLS port 10001)"


# -- browsing over multicast -----------------------------------------------------------------


def test_a_namespace_has_only_a_multicast_loopback_and_is_cleaned_up() -> None:
    reason = netns.unavailable()
    if reason is not None:
        pytest.skip(reason)
    probe = "from tests import netns; print(netns.loopback_multicast_works())"
    with netns.namespace() as ns:
        links = ns.run(["ip", "-o", "link"], capture_output=True, timeout=10).stdout.splitlines()
        assert [line.split(":")[1].strip() for line in links] == ["lo"]
        assert "MULTICAST" in links[0]
        inside = ns.run(
            [sys.executable, "-c", probe], capture_output=True, timeout=30, cwd=Path(__file__).parent.parent
        )
        assert inside.stdout.strip() == "True", inside.stderr
        left_behind = ns.popen(["sleep", "60"])
        for _ in range(200):  # until it is inside: deleting the namespace first fails its setns
            if left_behind.pid in ns.pids() or left_behind.poll() is not None:
                break
            time.sleep(0.05)
        assert left_behind.pid in ns.pids()
    assert left_behind.wait(timeout=10) == -signal.SIGKILL
    assert ns.name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


def _info(kind: str, instance: str, port: int, txt: dict[str, str]) -> AsyncServiceInfo:
    return AsyncServiceInfo(
        kind,
        f"{instance}.{kind}",
        addresses=[socket.inet_aton("127.0.0.1")],
        port=port,
        properties=txt,
        server=f"{instance.replace(' ', '-')}.local.",
    )


async def test_browse_finds_lanchat_services_registered_here(request: pytest.FixtureRequest) -> None:
    if not netns.multicast_here_or_isolated(request):
        return
    tag = uuid.uuid4().hex[:8]
    mine = f"test {tag}"
    infos = [
        _info(TLS_SERVICE, mine, 41001, {"software": "lanchat", "tls_port": "41001"}),
        _info(PLAIN_SERVICE, mine, 41000, {"software": "lanchat", "tls_port": "41001"}),
        _info(PLAIN_SERVICE, f"other {tag}", 6667, {"software": "ngircd"}),
    ]
    announcer = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    try:
        pending = [await announcer.async_register_service(i, cooperating_responders=True) for i in infos]
        await asyncio.gather(*pending)
        servers = await browse(BROWSE, interfaces=["127.0.0.1"])
    finally:
        await announcer.async_unregister_all_services()
        await announcer.async_close()
    ours = [s for s in servers if tag in s.name or tag in s.host]
    assert [(s.name, s.tls_port, s.plain_port, s.addresses) for s in ours] == [
        (mine, 41001, 41000, ("127.0.0.1",)),
    ]


# -- lanchat chat without an address ---------------------------------------------------------


async def _announcing_server(tmp_path: Path, network: str) -> ServerProcess:
    folder = tmp_path / network
    folder.mkdir()
    config = folder / "lanchat.toml"
    config.write_text(ANNOUNCING.replace("[server]", f'[server]\nnetwork = "{network}"'), encoding="utf-8")
    await create_accounts(config, folder / "data", PASSWORDS)
    return await asyncio.to_thread(ServerProcess, folder / "data", config)


def _tls_port(server: ServerProcess) -> int:
    return int(server.wait_for_output("IRC over TLS listening on").rsplit(":", 1)[1])


async def test_without_an_address_it_finds_the_only_server(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if not netns.isolated(request):
        return
    server = await _announcing_server(tmp_path, "office")
    chat = ChatProcess(["--browse-seconds", str(BROWSE)], tmp_path / "home")
    try:
        tls_port = _tls_port(server)
        chat.expect("Looking for lanchat servers on the local network")
        chat.expect("Found office on ")
        chat.expect(f"Connected to 127.0.0.1:{tls_port} with TLS.")
        chat.expect("First connection to this server")
        chat.expect("The LAN announcement gives the same one, but that proves nothing")
        chat.login("alice")
        chat.send("/quit")
        assert chat.exit_status() == 0
    finally:
        chat.close()
        server.stop()
    pins = (tmp_path / "home" / ".config" / "lanchat" / "known_servers").read_text()
    assert re.search(rf"^\S+\.local:{tls_port} [0-9A-F:]{{95}}$", pins, re.MULTILINE), pins


async def test_without_an_address_the_user_picks_among_servers(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if not netns.isolated(request):
        return
    started = await asyncio.gather(
        _announcing_server(tmp_path, "alpha"), _announcing_server(tmp_path, "beta"), return_exceptions=True
    )
    alpha, beta = started
    if not isinstance(alpha, ServerProcess) or not isinstance(beta, ServerProcess):
        for server in started:
            if isinstance(server, ServerProcess):
                server.stop()
        raise AssertionError(f"a server did not start: {started}")
    chat = ChatProcess(["--browse-seconds", str(BROWSE)], tmp_path / "home")
    try:
        beta_port = _tls_port(beta)
        chat.expect("lanchat servers on the local network:")
        chat.expect_line(r"1\) alpha on ")
        chat.expect_line(r"2\) beta on ")
        chat.expect("Which server? [1-2]")
        chat.send("7")
        chat.expect("Type a number from 1 to 2.")
        chat.send("2")
        chat.expect(f"Connected to 127.0.0.1:{beta_port} with TLS.")
        chat.login("bob")
        chat.send("/quit")
        assert chat.exit_status() == 0
    finally:
        chat.close()
        alpha.stop()
        beta.stop()


async def test_without_an_address_and_no_server_it_says_so(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if not netns.isolated(request):
        return
    chat = ChatProcess(["--browse-seconds", "0.5"], tmp_path / "home")
    try:
        assert chat.exit_status() == 1
    finally:
        chat.close()
    assert "Server is currently unavailable: no lanchat server answered on the local network" in chat.output
    assert "Traceback" not in chat.output
