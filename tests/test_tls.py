"""TLS beside plaintext: the self-signed certificate made on first start, a configured pair,
reload on SIGHUP, the fingerprint, STS, and switching plaintext off."""

from __future__ import annotations

import asyncio
import hashlib
import signal
from pathlib import Path

from lanchat.net.tls import fingerprint
from tests.certs import make_pair, trust_any
from tests.conftest import RunningServer, ServerFactory
from tests.ircclient import IrcTestClient, find
from tests.process import FAST_CONFIG, ServerProcess, lanchat


async def _tls_client(port: int) -> tuple[IrcTestClient, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=trust_any())
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    digest = hashlib.sha256(der).hexdigest().upper()
    return IrcTestClient(reader, writer), ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


async def _tls_server(make_server: ServerFactory, **overrides: object) -> RunningServer:
    return await make_server(tls_enabled=True, tls_port=0, **overrides)


async def test_self_signed_certificate_is_made_once_and_kept(make_server: ServerFactory, tmp_path: Path) -> None:
    server = await _tls_server(make_server)
    tls_port = server.app.tls_addresses[0][1]
    cert = tmp_path / "data" / "tls" / "cert.pem"
    key = tmp_path / "data" / "tls" / "key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    client, seen = await _tls_client(tls_port)
    server.clients.append(client)
    assert seen == fingerprint(cert) == server.app.fingerprint
    await client.register("secure")
    assert find(await client.request("WHOIS secure"), "671")
    plain = await server.user("plain")
    assert not find(await plain.request("WHOIS plain"), "671")
    await server.stop()
    again = await _tls_server(make_server)
    assert again.app.fingerprint == seen  # the same certificate after a restart


async def test_a_configured_certificate_is_used_as_is(make_server: ServerFactory, tmp_path: Path) -> None:
    cert, key = make_pair(tmp_path, "chat.office.lan")
    server = await _tls_server(make_server, tls_cert=cert, tls_key=key)
    client, seen = await _tls_client(server.app.tls_addresses[0][1])
    server.clients.append(client)
    assert seen == fingerprint(cert)
    assert not (tmp_path / "data" / "tls").exists()


async def test_sighup_reloads_the_configured_certificate(tmp_path: Path) -> None:
    cert, key = make_pair(tmp_path, "old")
    config = tmp_path / "lanchat.toml"
    config.write_text(
        FAST_CONFIG.replace(
            "[tls]\nenabled = false", f'[tls]\nenabled = true\nport = 0\ncert = "{cert}"\nkey = "{key}"'
        ),
        encoding="utf-8",
    )
    server = ServerProcess(tmp_path / "data", config)
    try:
        tls_line = server.wait_for_output("IRC over TLS listening on")
        tls_port = int(tls_line.rsplit(":", 1)[1])
        assert fingerprint(cert) in server.wait_for_output("TLS certificate SHA-256 fingerprint")
        before, seen = await _tls_client(tls_port)
        await before.register("early")
        assert seen == fingerprint(cert)
        new_cert, new_key = make_pair(tmp_path, "new")
        cert.write_bytes(new_cert.read_bytes())
        key.write_bytes(new_key.read_bytes())
        server.signal(signal.SIGHUP)
        for _ in range(50):
            _, seen = await _tls_client(tls_port)
            if seen == fingerprint(cert):
                break
            await asyncio.sleep(0.1)
        assert seen == fingerprint(cert)
        assert await before.request("PING :still connected")  # the old connection goes on
        await before.close()
    finally:
        server.signal(signal.SIGTERM)
        status, out, err = server.wait()
    assert status == 0, err
    assert f"TLS certificate reloaded, SHA-256 fingerprint {fingerprint(cert)}" in out


async def test_a_reload_with_a_mismatched_pair_keeps_the_old_certificate_working(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    cert, key = make_pair(tmp_path, "chat.office.lan")
    old = fingerprint(cert)
    server = await _tls_server(make_server, tls_cert=cert, tls_key=key)
    port = server.app.tls_addresses[0][1]
    # The new certificate is copied in, its key not yet: the pair does not match.
    new_cert, _ = make_pair(tmp_path, "renewed")
    cert.write_bytes(new_cert.read_bytes())
    server.app.reload_tls()
    client, seen = await _tls_client(port)
    server.clients.append(client)
    assert seen == old
    assert server.app.fingerprint == old
    await client.register("after")


async def test_sts_policy_on_each_transport(make_server: ServerFactory) -> None:
    server = await _tls_server(make_server, sts_duration=86400)
    tls_port = server.app.tls_addresses[0][1]
    plain = await server.connect()
    ls = await plain.request("CAP LS 302")
    assert f"sts=port={tls_port}" in " ".join(m.params[-1] for m in ls)
    nak = await plain.request("CAP REQ :sts")
    assert nak[0].params[1] == "NAK"
    secure, _ = await _tls_client(tls_port)
    server.clients.append(secure)
    ls = await secure.request("CAP LS 302")
    assert "sts=duration=86400" in " ".join(m.params[-1] for m in ls)


async def test_plaintext_can_be_switched_off(make_server: ServerFactory) -> None:
    server = await _tls_server(make_server, irc_plaintext=False)
    assert server.app.addresses == []
    client, _ = await _tls_client(server.app.tls_addresses[0][1])
    server.clients.append(client)
    await client.register("only-tls")


async def test_plaintext_bytes_on_the_tls_port_do_not_hurt(make_server: ServerFactory) -> None:
    server = await _tls_server(make_server)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.app.tls_addresses[0][1])
    writer.write(b"NICK confused\r\nUSER c 0 * :c\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 20) in (b"", b"\x15\x03\x01\x00\x02\x02\x16")
    writer.close()
    client, _ = await _tls_client(server.app.tls_addresses[0][1])
    server.clients.append(client)
    await client.register("fine")


def test_an_unusable_certificate_stops_the_start_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate", encoding="utf-8")
    config = tmp_path / "lanchat.toml"
    config.write_text(f'[tls]\ncert = "{bad}"\nkey = "{bad}"\n[discovery]\nenabled = false\n', encoding="utf-8")
    result = lanchat(
        "serve", "--config", str(config), "--data", str(tmp_path / "d"), "--irc-port", "0", "--tls-port", "0"
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "cannot use certificate" in lines[0]
