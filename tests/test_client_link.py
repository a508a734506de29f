"""A link over a real socket to small in-process servers: keepalive, and servers that misbehave."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from lanchat.client import link as link_module
from lanchat.client.connection import Endpoint, connect
from lanchat.client.link import ConnectionLost, Connector, Link, Unreachable
from lanchat.client.trust import KnownServers

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> tuple[asyncio.Server, Endpoint]:
    """A plaintext server on a loopback port."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, Endpoint("127.0.0.1", server.sockets[0].getsockname()[1], tls=False)


async def test_a_silent_server_is_pinged_then_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(link_module, "KEEPALIVE", 0.2)
    monkeypatch.setattr(link_module, "PING_GRACE", 0.2)
    received: list[bytes] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            received.append(line)

    server, endpoint = await serve(silent)
    try:
        link = Link(await connect(endpoint))
        assert await link.receive() == []  # a silence: we PING
        with pytest.raises(ConnectionLost, match="stopped answering"):
            await link.receive()
        assert received == [b"PING lanchat-keepalive\r\n"]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_server_that_hangs_up_during_negotiation_is_unreachable(tmp_path: Path) -> None:
    async def rude(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"ERROR :Go away\r\n")
        await writer.drain()
        writer.close()

    server, endpoint = await serve(rude)
    try:
        with pytest.raises(Unreachable) as caught:
            await Connector([endpoint], KnownServers(tmp_path / "k")).open()
        assert caught.value.summary == f"cannot connect to {endpoint.address} (Go away)"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_server_without_sasl_cannot_log_anyone_in() -> None:
    async def old(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            if line.startswith(b"CAP LS"):
                writer.write(b":old.server CAP * LS :multi-prefix\r\n")
            elif line.startswith(b"CAP REQ"):
                writer.write(b":old.server CAP * ACK :multi-prefix\r\n")
            await writer.drain()

    server, endpoint = await serve(old)
    try:
        link = Link(await connect(endpoint))
        negotiated = await link.negotiate()
        assert not negotiated.sasl
        outcome = await link.login("alice", "pw")
        assert outcome.__class__.__name__ == "LoginFailed"
        assert getattr(outcome, "final", False)
        await link.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_the_next_address_is_tried_when_one_fails(tmp_path: Path) -> None:
    async def fine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            if line.startswith(b"CAP LS"):
                writer.write(b":srv CAP * LS :sasl\r\n")
            elif line.startswith(b"CAP REQ"):
                writer.write(b":srv CAP * ACK :sasl\r\n")
            await writer.drain()

    closed = await asyncio.start_server(fine, "127.0.0.1", 0)
    dead_port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    server, endpoint = await serve(fine)
    try:
        dead = Endpoint("127.0.0.1", dead_port, tls=False)
        link, verdict = await Connector([dead, endpoint], KnownServers(tmp_path / "k")).open()
        assert verdict is None
        assert link.endpoint == endpoint
        assert "sasl" in link.session.caps
        await link.close()
    finally:
        server.close()
        await server.wait_closed()
