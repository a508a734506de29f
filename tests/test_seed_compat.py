"""The report's own client on the plaintext port (--seed-compat), chatting with IRC users."""

from __future__ import annotations

import asyncio
import socket

import pytest_asyncio

from lanchat.net.seedcompat import MAX_PENDING_BYTES, split_text
from tests.conftest import RunningServer, ServerFactory
from tests.ircclient import IrcTestClient
from tests.seed_client import ReportClient


@pytest_asyncio.fixture
async def room(make_server: ServerFactory) -> RunningServer:
    server = await make_server(seed_compat=True, default_channel="#general", allow_guests=False)
    await server.add_account("Admin", "adminpw")
    await server.add_account("Admin_sec", "secpw")
    return server


async def _irc_user(server: RunningServer, name: str, password: str) -> IrcTestClient:
    client = await server.user(name, account=name, password=password)
    await client.sync()
    return client


async def test_the_reports_client_logs_in_and_chats_with_an_irc_user(room: RunningServer) -> None:
    irc = await _irc_user(room, "Admin_sec", "secpw")
    report = ReportClient(room.port)
    try:
        assert await asyncio.to_thread(report.login, "Admin", "adminpw") == "authenticated"
        await irc.expect("JOIN", lambda m: (m.source or "").startswith("Admin!"))
        await irc.send("PRIVMSG #general :hi")
        assert await asyncio.to_thread(report.receive) == "Admin_sec : hi\n"
        await asyncio.to_thread(report.send, "Hello")
        got = await irc.expect("PRIVMSG")
        assert (got.source or "").startswith("Admin!")
        assert got.params == ["#general", "Hello"]
    finally:
        report.close()


async def test_wrong_password_then_retry_and_unknown_user(room: RunningServer) -> None:
    report = ReportClient(room.port)
    try:
        assert await asyncio.to_thread(report.login, "nobody", "x") == "notverified"
        assert await asyncio.to_thread(report.login, "Admin", "wrong") == "Username and Password are not valid."
        assert await asyncio.to_thread(report.login, "Admin", "adminpw") == "authenticated"
    finally:
        report.close()


async def test_login_in_pieces_and_several_messages_in_one_segment(room: RunningServer) -> None:
    irc = await _irc_user(room, "Admin_sec", "secpw")
    reader, writer = await asyncio.open_connection("127.0.0.1", room.port)
    for piece in (b"user", b"name:_Ad", b"min"):
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.03)
    assert await asyncio.wait_for(reader.read(1024), 5) == b"verifieduser"
    for piece in (b"password:_", b"admin", b"pw"):
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.03)
    assert await asyncio.wait_for(reader.read(1024), 5) == b"authenticated"
    writer.write(b"one\ntwo\nthree")
    await writer.drain()
    texts = [(await irc.expect("PRIVMSG")).params[1] for _ in range(3)]
    assert texts == ["one", "two", "three"]
    await irc.send("PRIVMSG #general :first")
    await irc.send("PRIVMSG #general :second")
    received = b""
    while received.count(b"\n") < 2:
        received += await asyncio.wait_for(reader.read(1024), 5)
    assert received.decode() == "Admin_sec : first\nAdmin_sec : second\n"
    writer.close()


async def test_direct_messages_are_marked_private(room: RunningServer) -> None:
    irc = await _irc_user(room, "Admin_sec", "secpw")
    report = ReportClient(room.port)
    try:
        assert await asyncio.to_thread(report.login, "Admin", "adminpw") == "authenticated"
        await irc.expect("JOIN", lambda m: (m.source or "").startswith("Admin!"))
        await irc.send("PRIVMSG Admin :just for you")
        assert await asyncio.to_thread(report.receive) == "Admin_sec (private) : just for you\n"
    finally:
        report.close()


async def test_irc_clients_still_work_on_the_same_port(room: RunningServer) -> None:
    for first in ("CAP LS 302", "NICK early", "USER u 0 * :u"):
        client = await room.connect()
        await client.send(first)
        await client.send("PASS :Admin_sec:secpw")
        await client.send("NICK nick" + str(len(first)))
        await client.send("USER u 0 * :u")
        await client.send("CAP END")
        await client.expect("001")
        await client.close()


async def test_off_by_default(make_server: ServerFactory) -> None:
    server = await make_server(default_channel="#general")
    await server.add_account("Admin", "adminpw")
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(1.0)
    sock.send(b"username:_Admin")
    try:
        reply = await asyncio.to_thread(sock.recv, 1024)
    except TimeoutError:
        reply = b""
    sock.close()
    assert reply != b"verifieduser"


async def test_a_silent_report_user_is_not_dropped_by_ping_timeouts(make_server: ServerFactory) -> None:
    server = await make_server(seed_compat=True, default_channel="#general", ping_interval=0.2, ping_timeout=0.2)
    await server.add_account("Admin", "adminpw")
    report = ReportClient(server.port)
    try:
        assert await asyncio.to_thread(report.login, "Admin", "adminpw") == "authenticated"
        await asyncio.sleep(1.0)  # several ping intervals; the adapter answers for the client
        talker = await server.user("talker")
        await talker.send("PRIVMSG #general :still there?")
        assert await asyncio.to_thread(report.receive) == "talker : still there?\n"
    finally:
        report.close()


def test_long_text_is_cut_between_words_and_never_inside_a_character() -> None:
    text = "word " * 100 + "é" * 400
    pieces = split_text(text, 300)
    assert all(len(p.encode()) <= 300 for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    # No word is cut; the run of é has no space, so it is cut between characters.
    assert all(w == "word" or set(w) == {"é"} for p in pieces for w in p.split())
    assert len(pieces) >= 5


async def test_a_long_message_arrives_whole_in_several_lines(room: RunningServer) -> None:
    irc = await _irc_user(room, "Admin_sec", "secpw")
    reader, writer = await asyncio.open_connection("127.0.0.1", room.port)
    writer.write(b"username:_Admin")
    assert await asyncio.wait_for(reader.read(1024), 5) == b"verifieduser"
    writer.write(b"password:_adminpw")
    assert await asyncio.wait_for(reader.read(1024), 5) == b"authenticated"
    long_line = " ".join(f"w{i}" for i in range(300))  # about 1.4 kB: over IRC's 512
    # And a message with no line break, streamed without a pause: sent once it passes 16 kB.
    endless = "x" * (MAX_PENDING_BYTES + 10)
    writer.write(long_line.encode() + b"\n" + endless.encode())
    await writer.drain()
    texts: list[str] = []
    while len(" ".join(texts)) < len(long_line):
        texts.append((await irc.expect("PRIVMSG")).params[1])
    assert " ".join(texts) == long_line
    rest = ""
    while len(rest) < len(endless):
        rest += (await irc.expect("PRIVMSG")).params[1]
    assert rest == endless
    writer.close()
