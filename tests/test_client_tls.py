"""TLS and certificate pinning: against a local TLS server made in the test (certificates from
``cryptography``), then end to end against ``lanchat serve``'s TLS listener."""

from __future__ import annotations

import asyncio
import signal
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lanchat.client.app import show_connection
from lanchat.client.connection import ConnectError, Endpoint, connect
from lanchat.client.link import Connector, Unreachable
from lanchat.client.trust import CertificateChanged, KnownServers, Trust, fingerprint
from lanchat.client.ui import TerminalUI
from tests import certs
from tests.ircclient import IrcTestClient
from tests.process import ServerProcess
from tests.test_client_e2e import PASSWORDS, SERVER_CONFIG, ChatProcess, create_accounts, said_by
from tests.test_client_robustness import FakeIrc


def make_pair(folder: Path, name: str) -> tuple[Path, Path, str]:
    """A self-signed certificate and its key in ``folder``, and the certificate's fingerprint."""
    cert_path, key_path = certs.make_pair(folder, name)
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text(encoding="utf-8"))
    return cert_path, key_path, fingerprint(der)


@dataclass
class FakeTlsServer:
    """A TLS server that answers just enough of CAP negotiation, and records what it got."""

    server: asyncio.Server
    lines: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        """Its port on 127.0.0.1."""
        return int(self.server.sockets[0].getsockname()[1])


async def start_fake(cert: Path, key: Path, port: int = 0) -> FakeTlsServer:
    """Listen with TLS on 127.0.0.1 (any port, or ``port``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    fake: FakeTlsServer

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                text = line.decode().rstrip("\r\n")
                fake.lines.append(text)
                if text.startswith("CAP LS"):
                    writer.write(b":fake.test CAP * LS :sasl server-time\r\n")
                elif text.startswith("CAP REQ"):
                    writer.write(f":fake.test CAP * ACK :{text.partition(':')[2]}\r\n".encode())
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port, ssl=context)
    fake = FakeTlsServer(server)
    return fake


@pytest.fixture
def certificates(tmp_path: Path) -> tuple[tuple[Path, Path, str], tuple[Path, Path, str]]:
    """Two different certificate pairs."""
    return make_pair(tmp_path, "one"), make_pair(tmp_path, "two")


async def test_pinned_on_first_use_accepted_when_same_refused_when_changed(
    tmp_path: Path, certificates: tuple[tuple[Path, Path, str], tuple[Path, Path, str]]
) -> None:
    (cert1, key1, fp1), (cert2, key2, fp2) = certificates
    known = KnownServers(tmp_path / "config" / "known_servers")
    fake = await start_fake(cert1, key1)
    port = fake.port
    endpoint = Endpoint("127.0.0.1", port, tls=True)
    try:
        link, verdict = await Connector([endpoint], known).open()
        await link.close()
        assert verdict is not None
        assert (verdict.trust, verdict.fingerprint) == (Trust.FIRST_USE, fp1)
        assert known.lookup(f"127.0.0.1:{port}") is None  # pinned once the login worked:
        known.accept(verdict)
        assert known.lookup(f"127.0.0.1:{port}") == fp1
        assert f"127.0.0.1:{port} {fp1}" in known.path.read_text()

        link, verdict = await Connector([endpoint], known).open()
        await link.close()
        assert verdict is not None
        assert verdict.trust is Trust.KNOWN
    finally:
        fake.server.close()
        await fake.server.wait_closed()

    fake = await start_fake(cert2, key2, port)
    try:
        fake.lines.clear()
        with pytest.raises(CertificateChanged) as caught:
            await Connector([endpoint], known).open()
        await asyncio.sleep(0.05)
        assert fake.lines == []  # refused before saying anything
        warning = "\n".join(caught.value.explain())
        assert fp1 in warning
        assert fp2 in warning
        assert "--accept-new-certificate" in warning
        assert str(known.path) in warning
        assert known.lookup(f"127.0.0.1:{port}") == fp1

        link, verdict = await Connector([endpoint], known, accept_new=True).open()
        await link.close()
        assert verdict is not None
        assert (verdict.trust, verdict.fingerprint, verdict.previous) == (Trust.REPLACED, fp2, fp1)
        assert known.lookup(f"127.0.0.1:{port}") == fp1
        known.accept(verdict)
        assert known.lookup(f"127.0.0.1:{port}") == fp2
    finally:
        fake.server.close()
        await fake.server.wait_closed()


async def test_on_first_use_the_certificate_must_match_the_one_announced(
    tmp_path: Path,
    certificates: tuple[tuple[Path, Path, str], tuple[Path, Path, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    (cert1, key1, fp1), (_cert2, _key2, fp2) = certificates
    known = KnownServers(tmp_path / "known_servers")
    fake = await start_fake(cert1, key1)
    port = fake.port
    try:
        spoofed = Endpoint("127.0.0.1", port, tls=True, name="office.local", announced=fp2)
        with pytest.raises(CertificateChanged) as caught:
            await Connector([spoofed], known).open()
        assert caught.value.announced
        text = "\n".join(caught.value.explain())
        assert "not the one it announces on the LAN" in text
        assert fp1 in text
        assert fp2 in text
        assert known.lookup(f"office.local:{port}") is None

        honest = Endpoint("127.0.0.1", port, tls=True, name="office.local", announced=fp1)
        link, verdict = await Connector([honest], known).open()
        capsys.readouterr()
        show_connection(TerminalUI(), link, verdict, known)
        await link.close()
        assert verdict is not None
        assert verdict.trust is Trust.FIRST_USE
        shown = capsys.readouterr().out
        assert fp1 in shown
        assert "It should match the one `lanchat serve` printed when it started." in shown
        assert "The LAN announcement gives the same one, but that proves nothing" in shown
        assert "matches the one the server announces" not in shown
        assert known.lookup(f"office.local:{port}") is None
        known.accept(verdict)
        assert known.lookup(f"office.local:{port}") == fp1
    finally:
        fake.server.close()
        await fake.server.wait_closed()


async def test_a_pin_of_the_same_host_on_another_port_is_not_a_first_use(
    tmp_path: Path, certificates: tuple[tuple[Path, Path, str], tuple[Path, Path, str]]
) -> None:
    (cert1, key1, fp1), (_cert2, _key2, fp2) = certificates
    known = KnownServers(tmp_path / "known_servers")
    fake = await start_fake(cert1, key1)
    known.pin(f"office.local:{fake.port + 1}", fp2)
    spoofed = Endpoint("127.0.0.1", fake.port, tls=True, name="office.local", announced=fp1)
    try:
        with pytest.raises(CertificateChanged) as caught:
            await Connector([spoofed], known).open()
        await asyncio.sleep(0.05)
        assert fake.lines == []
        text = "\n".join(caught.value.explain())
        assert f"not the one trusted for office.local:{fake.port + 1}" in text
        assert fp1 in text
        assert fp2 in text
        assert "--accept-new-certificate" in text

        link, verdict = await Connector([spoofed], known, accept_new=True).open()
        await link.close()
        assert verdict is not None
        assert (verdict.trust, verdict.previous) == (Trust.REPLACED, fp2)
    finally:
        fake.server.close()
        await fake.server.wait_closed()


async def test_a_connector_trusts_the_certificate_of_its_first_link_only(
    tmp_path: Path, certificates: tuple[tuple[Path, Path, str], tuple[Path, Path, str]]
) -> None:
    (cert1, key1, fp1), (cert2, key2, fp2) = certificates
    known = KnownServers(tmp_path / "known_servers")
    fake = await start_fake(cert1, key1)
    port = fake.port
    connector = Connector([Endpoint("127.0.0.1", port, tls=True)], known, accept_new=True)
    try:
        link, verdict = await connector.open()
        await link.close()
        assert verdict is not None
        assert verdict.trust is Trust.FIRST_USE
        assert not connector.accept_new
        link, verdict = await connector.open()  # again (a reconnect): the same certificate
        await link.close()
        assert verdict is not None
        assert verdict.trust is Trust.KNOWN
    finally:
        fake.server.close()
        await fake.server.wait_closed()

    fake = await start_fake(cert2, key2, port)
    try:
        with pytest.raises(CertificateChanged) as caught:
            await connector.open()
        await asyncio.sleep(0.05)
        assert fake.lines == []
        text = "\n".join(caught.value.explain())
        assert f"the TLS certificate of 127.0.0.1:{port} has changed" in text
        assert fp1 in text
        assert fp2 in text
        assert known.lookup(f"127.0.0.1:{port}") is None
    finally:
        fake.server.close()
        await fake.server.wait_closed()


async def test_tls_to_a_plaintext_port_fails_cleanly() -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b":irc.test NOTICE * :*** plaintext here\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ConnectError) as caught:
            await connect(Endpoint("127.0.0.1", port, tls=True), within=5)
        assert caught.value.endpoint.port == port
        with pytest.raises(Unreachable) as unreachable:
            await Connector([Endpoint("127.0.0.1", port, tls=True)], KnownServers(Path("/nonexistent/x"))).open()
        assert f"127.0.0.1:{port} with TLS" in unreachable.value.summary
    finally:
        server.close()
        await server.wait_closed()


# -- against lanchat serve -------------------------------------------------------------------


async def test_end_to_end_over_lanchat_tls_with_a_pinned_certificate(tmp_path: Path) -> None:
    cert, key, first = make_pair(tmp_path, "first")
    config = tmp_path / "lanchat.toml"
    tls = f'[tls]\nenabled = true\nport = 0\ncert = "{cert}"\nkey = "{key}"'
    config.write_text(SERVER_CONFIG.replace("[tls]\nenabled = false", tls), encoding="utf-8")
    data = tmp_path / "data"
    await create_accounts(config, data, PASSWORDS)
    home = tmp_path / "home"
    server = ServerProcess(data, config)
    chats: list[ChatProcess] = []
    bob: IrcTestClient | None = None
    try:
        tls_port = int(server.wait_for_output("IRC over TLS listening on").rsplit(":", 1)[1])
        printed = server.wait_for_output("TLS certificate SHA-256 fingerprint").split()[-1]
        assert printed == first
        address = f"127.0.0.1:{tls_port}"

        alice = ChatProcess([address], home)
        chats.append(alice)
        alice.expect(f"Connected to {address} with TLS.")
        alice.expect("First connection to this server")
        alice.expect(printed)
        alice.login("alice")
        bob = await IrcTestClient.connect(server.port)
        await bob.register("bob", account="bob", password=PASSWORDS["bob"], caps=["server-time"])
        await bob.send("PRIVMSG #general :hello over plaintext")
        alice.expect("bob : hello over plaintext")
        alice.send("hello over TLS")
        got = await bob.expect("PRIVMSG", said_by("alice", "#general"))
        assert got.params[1] == "hello over TLS"
        alice.send("/quit")
        assert alice.exit_status() == 0
        known = (home / ".config" / "lanchat" / "known_servers").read_text()
        assert f"{address} {printed}" in known

        again = ChatProcess([address], home)
        chats.append(again)
        again.expect(f"The server's certificate is the one trusted before ({printed})")
        again.expect("username:")
        again.child.sendcontrol("c")
        assert again.exit_status() == 130

        new_cert, new_key, second = make_pair(tmp_path, "second")
        cert.write_bytes(new_cert.read_bytes())
        key.write_bytes(new_key.read_bytes())
        server.signal(signal.SIGHUP)
        assert second in server.wait_for_output("TLS certificate reloaded")

        refused = ChatProcess([address], home)
        chats.append(refused)
        assert refused.exit_status() == 3
        out = refused.output
        assert f"WARNING: the TLS certificate of {address} has changed" in out
        assert printed in out
        assert second in out
        assert "--accept-new-certificate" in out
        assert "known_servers" in out
        assert "username:" not in out

        accepted = ChatProcess([address, "--accept-new-certificate"], home)
        chats.append(accepted)
        accepted.expect(f"Trusting the server's new certificate (was {printed})")
        accepted.expect(second)
        accepted.login("alice")
        accepted.send("/quit")
        assert accepted.exit_status() == 0
        known = (home / ".config" / "lanchat" / "known_servers").read_text()
        assert f"{address} {second}" in known
        assert printed not in known
    finally:
        for chat in chats:
            chat.close()
        if bob is not None:
            await bob.close()
        server.stop()


# -- against a fake server: when the certificate is trusted ----------------------------------


def pin_file(home: Path) -> Path:
    """The client's ``known_servers`` under ``home``."""
    return home / ".config" / "lanchat" / "known_servers"


def test_nothing_is_pinned_until_the_login_works(
    tmp_path: Path, certificates: tuple[tuple[Path, Path, str], tuple[Path, Path, str]]
) -> None:
    (cert1, key1, fp1), (cert2, key2, fp2) = certificates
    home = tmp_path / "home"
    fake = FakeIrc(cert=(cert1, key1))
    address, port = fake.address, fake.port
    chats: list[ChatProcess] = []
    try:
        first = ChatProcess([address], home)
        chats.append(first)
        first.expect("First connection to this server")
        first.expect(fp1)
        first.expect("username:")
        first.child.sendcontrol("c")
        assert first.exit_status() == 130
        assert not pin_file(home).exists()

        second = ChatProcess([address], home)
        chats.append(second)
        second.expect("First connection to this server")
        second.login("alice")
        assert pin_file(home).read_text().splitlines()[-1] == f"{address} {fp1}"
        second.send("/quit")
        assert second.exit_status() == 0
        fake.stop()

        fake = FakeIrc(cert=(cert2, key2), port=port)
        third = ChatProcess([address, "--accept-new-certificate"], home)
        chats.append(third)
        third.expect(f"Trusting the server's new certificate (was {fp1})")
        third.expect("username:")
        third.child.sendcontrol("c")
        assert third.exit_status() == 130
        assert pin_file(home).read_text().splitlines()[-1] == f"{address} {fp1}"
        assert fp2 not in pin_file(home).read_text()
    finally:
        for chat in chats:
            chat.close()
        fake.stop()


def test_accepting_a_new_certificate_does_not_last_beyond_the_first_connection(
    tmp_path: Path, certificates: tuple[tuple[Path, Path, str], tuple[Path, Path, str]]
) -> None:
    (cert1, key1, fp1), (cert2, key2, fp2) = certificates
    home = tmp_path / "home"
    old = ":".join(["AA"] * 32)
    fake = FakeIrc(cert=(cert1, key1))
    address, port = fake.address, fake.port
    pin_file(home).parent.mkdir(parents=True)
    pin_file(home).write_text(f"{address} {old}\n", encoding="utf-8")
    chat = ChatProcess([address, "--accept-new-certificate"], home)
    try:
        chat.expect(f"Trusting the server's new certificate (was {old})")
        chat.login("alice")
        assert pin_file(home).read_text().splitlines()[-1] == f"{address} {fp1}"
        fake.stop()
        chat.expect("Lost the connection")
        fake = FakeIrc(cert=(cert2, key2), port=port)
        assert chat.exit_status() == 3
        out = chat.output
        warning = out[out.index(f"WARNING: the TLS certificate of {address} has changed") :]
        assert fp1 in warning
        assert fp2 in warning
        assert "Reconnected" not in out
        assert fake.received == []  # not a word to the new certificate, let alone the password
        assert pin_file(home).read_text().splitlines()[-1] == f"{address} {fp1}"
    finally:
        chat.close()
        fake.stop()


@pytest.mark.parametrize("accept_new", [True, False], ids=["accept-new", "first-use"])
def test_a_certificate_changed_while_the_password_is_typed_is_refused(
    tmp_path: Path, certificates: tuple[tuple[Path, Path, str], tuple[Path, Path, str]], accept_new: bool
) -> None:
    (cert1, key1, fp1), (cert2, key2, fp2) = certificates
    home = tmp_path / "home"
    fake = FakeIrc(cert=(cert1, key1))
    address, port = fake.address, fake.port
    chat = ChatProcess([address, *(["--accept-new-certificate"] if accept_new else [])], home)
    try:
        chat.expect(fp1)
        chat.expect("username:")
        fake.stop()  # the server goes; another one with another certificate takes its port
        fake = FakeIrc(cert=(cert2, key2), port=port)
        chat.send("alice")
        chat.expect("Password:")
        chat.send(PASSWORDS["alice"])
        assert chat.exit_status() == 3
        warning = chat.output[chat.output.index("WARNING") :]
        assert fp1 in warning
        assert fp2 in warning
        assert fake.received == []
        assert not pin_file(home).exists()
    finally:
        chat.close()
        fake.stop()
