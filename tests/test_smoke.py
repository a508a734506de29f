"""Two users in the report's room: each sees the other's messages under the right name."""

from __future__ import annotations

from tests.conftest import RunningServer, ServerFactory
from tests.ircclient import find


async def test_two_users_see_each_others_messages_under_the_right_sender(make_server: ServerFactory) -> None:
    server = await make_server(default_channel="#general", allow_guests=False)
    await server.add_account("Admin", "pw-admin")
    await server.add_account("Admin_sec", "pw-sec")
    admin = await server.user("Admin", account="Admin", password="pw-admin")
    second = await server.user("Admin_sec", account="Admin_sec", password="pw-sec")
    await admin.expect("JOIN", lambda m: m.source.startswith("Admin_sec!"))

    await second.send("PRIVMSG #general :hi")
    got = await admin.expect("PRIVMSG")
    assert got.source is not None
    assert got.source.startswith("Admin_sec!")
    assert got.params == ["#general", "hi"]

    await admin.send("PRIVMSG #general :Hello")
    got = await second.expect("PRIVMSG")
    assert got.source is not None
    assert got.source.startswith("Admin!")
    assert got.params == ["#general", "Hello"]
    # Neither sees its own message echoed without echo-message.
    assert not find(await admin.sync(), "PRIVMSG")
    assert not find(await second.sync(), "PRIVMSG")


async def test_server_answers_ping(server: RunningServer) -> None:
    client = await server.user("pinger")
    reply = await client.request("PING :hello there")
    assert [(m.command, m.params) for m in reply] == [("PONG", [server.config.server_name, "hello there"])]
    await client.send("PING abc")
    pong = await client.expect("PONG")
    assert pong.params == [server.config.server_name, "abc"]
