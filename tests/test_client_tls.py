"""TLS and certificate pinning: against a local TLS server made in the test (certificates from
``cryptography``), then end to end against ``lanchat serve``'s TLS listener."""

from __future__ import annotations

import asyncio
import signal
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lanchat.client.connection import ConnectError, Endpoint, connect
from lanchat.client.link import Connector, Unreachable
from lanchat.client.trust import CertificateChanged, KnownServers, Trust, fingerprint
from tests import certs
from tests.ircclient import IrcTestClient
from tests.process import ServerProcess
from tests.test_client_e2e import PASSWORDS, SERVER_CONFIG, ChatProcess, create_accounts, said_by


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
        assert known.lookup(f"127.0.0.1:{port}") == fp2
    finally:
        fake.server.close()
        await fake.server.wait_closed()


async def test_on_first_use_the_certificate_must_match_the_one_announced(
    tmp_path: Path, certificates: tuple[tuple[Path, Path, str], tuple[Path, Path, str]]
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
        await link.close()
        assert verdict is not None
        assert verdict.trust is Trust.FIRST_USE
        assert known.lookup(f"office.local:{port}") == fp1
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
