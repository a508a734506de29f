"""The web port's server side: sessions, registration, uploads, admin API, IRC over
WebSocket, search — over real HTTP and WebSocket connections on loopback."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from yarl import URL

from lanchat.proto.message import Message, parse
from tests.conftest import RunningServer, ServerFactory
from tests.ircclient import find


@pytest_asyncio.fixture
async def web(make_server: ServerFactory) -> RunningServer:
    return await make_server(web_enabled=True, web_port=0, allow_guests=False, default_channel="#general")


def base(server: RunningServer) -> str:
    return f"http://127.0.0.1:{server.app.web_addresses[0][1]}"


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def _register(http: aiohttp.ClientSession, server: RunningServer, name: str, password: str) -> dict[str, object]:
    async with http.post(f"{base(server)}/api/register", json={"username": name, "password": password}) as r:
        assert r.status == 201, await r.text()
        data: dict[str, object] = await r.json()
        return data


async def test_first_account_is_admin_then_others_are_not(web: RunningServer, browser: aiohttp.ClientSession) -> None:
    async with browser.get(f"{base(web)}/api/info") as r:
        info = await r.json()
    assert info["first_account"] is True
    assert info["registration"] == "open"
    first = await _register(browser, web, "founder", "long enough")
    assert first["admin"] is True
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        second = await _register(other, web, "second", "long enough")
        assert second["admin"] is False
        async with other.post(f"{base(web)}/api/register", json={"username": "Second", "password": "long enough"}) as r:
            assert r.status == 409
        async with other.post(f"{base(web)}/api/register", json={"username": "short", "password": "pw"}) as r:
            assert r.status == 400
        async with other.post(
            f"{base(web)}/api/register", json={"username": "1bad name", "password": "long enough"}
        ) as r:
            assert r.status == 400


async def test_text_that_is_not_unicode_gets_a_clear_refusal(
    web: RunningServer, browser: aiohttp.ClientSession
) -> None:
    # JSON can carry a lone surrogate ("\ud800"), which no password hash or name can hold.
    await web.add_account("alice", "correct horse")
    for path, body, field in (
        ("/api/register", {"username": "bob", "password": "long enough\ud800"}, "password"),
        ("/api/register", {"username": "b\udc80b", "password": "long enough"}, "username"),
        ("/api/login", {"username": "alice", "password": "correct horse\ud800"}, "password"),
    ):
        async with browser.post(f"{base(web)}{path}", json=body) as r:
            assert r.status == 400, (path, r.status)
            assert (await r.json())["error"] == f"{field} is not valid text"
    async with browser.post(f"{base(web)}/api/login", json={"username": "alice", "password": "correct horse"}) as r:
        assert r.status == 200


async def test_login_cookie_session_and_logout(web: RunningServer, browser: aiohttp.ClientSession) -> None:
    await web.add_account("alice", "correct horse")
    async with browser.post(f"{base(web)}/api/login", json={"username": "alice", "password": "wrong"}) as r:
        assert r.status == 401
        assert (await r.json())["error"] == "Wrong username or password"
    async with browser.post(f"{base(web)}/api/login", json={"username": "alice", "password": "correct horse"}) as r:
        assert r.status == 200
        cookie = r.headers["Set-Cookie"]
        body = await r.json()
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "correct horse" not in cookie
    async with browser.get(f"{base(web)}/api/session") as r:
        session = await r.json()
    assert session == {"account": "alice", "admin": False, "csrf": body["csrf"]}
    token = browser.cookie_jar.filter_cookies(URL(base(web)))["lanchat_session"].value
    async with browser.post(f"{base(web)}/api/logout") as r:
        assert r.status == 204
    async with (
        aiohttp.ClientSession(cookies={"lanchat_session": token}) as stale,
        stale.get(f"{base(web)}/api/session") as r,
    ):
        assert r.status == 401  # the token was revoked, not just forgotten by this browser


async def test_closed_registration(make_server: ServerFactory, browser: aiohttp.ClientSession) -> None:
    server = await make_server(web_enabled=True, web_port=0, web_registration="closed")
    await server.add_account("admin", "long enough", admin=True)
    async with browser.post(f"{base(server)}/api/register", json={"username": "x", "password": "long enough"}) as r:
        assert r.status == 403


async def test_security_headers(web: RunningServer, browser: aiohttp.ClientSession) -> None:
    async with browser.get(f"{base(web)}/api/info") as r:
        csp = r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp


async def _logged_in(browser: aiohttp.ClientSession, server: RunningServer, name: str, *, admin: bool = False) -> str:
    await server.add_account(name, "long enough", admin=admin)
    async with browser.post(f"{base(server)}/api/login", json={"username": name, "password": "long enough"}) as r:
        return str((await r.json())["csrf"])


async def test_upload_and_download_byte_identical(web: RunningServer, browser: aiohttp.ClientSession) -> None:
    csrf = await _logged_in(browser, web, "sharer")
    payload = os.urandom(300_000)
    async with browser.post(f"{base(web)}/api/upload", data=payload, headers={"X-Filename": "report%20v2.pdf"}) as r:
        assert r.status == 403  # no CSRF token: refused
    headers = {"X-Filename": "report%20v2.pdf", "Content-Type": "application/pdf", "X-CSRF-Token": csrf}
    async with browser.post(f"{base(web)}/api/upload", data=payload, headers=headers) as r:
        assert r.status == 201
        uploaded = await r.json()
    assert uploaded["name"] == "report v2.pdf"
    assert uploaded["size"] == len(payload)
    async with aiohttp.ClientSession() as anyone, anyone.get(uploaded["url"]) as r:
        assert r.status == 200
        assert await r.read() == payload
        assert r.headers["Content-Disposition"].startswith("attachment;")
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in r.headers["Content-Security-Policy"]


async def test_images_are_inline_and_multipart_works(web: RunningServer, browser: aiohttp.ClientSession) -> None:
    csrf = await _logged_in(browser, web, "painter")
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(1000)
    form = aiohttp.FormData()
    form.add_field("file", png, filename="../../etc/passwd.png", content_type="image/png")
    async with browser.post(f"{base(web)}/api/upload", data=form, headers={"X-CSRF-Token": csrf}) as r:
        uploaded = await r.json()
    assert uploaded["name"] == "passwd.png"  # no folders survive
    async with browser.get(uploaded["url"]) as r:
        assert r.headers["Content-Type"] == "image/png"
        assert r.headers["Content-Disposition"].startswith("inline;")
        assert await r.read() == png
    stored = list(web.config.uploads_dir.iterdir())
    assert len(stored) == 1
    assert stored[0].name == uploaded["url"].split("/")[-2]


async def test_upload_with_basic_auth_limits_and_bad_paths(make_server: ServerFactory) -> None:
    server = await make_server(web_enabled=True, web_port=0, web_max_upload_mb=1)
    await server.add_account("ircuser", "long enough")
    good = "Basic " + base64.b64encode(b"ircuser:long enough").decode()
    bad = "Basic " + base64.b64encode(b"ircuser:nope").decode()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base(server)}/api/upload", data=b"x", headers={"Authorization": bad}) as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"] == 'Basic realm="lanchat"'
        async with http.post(f"{base(server)}/api/upload", data=b"hello", headers={"Authorization": good}) as r:
            assert r.status == 201
        too_big = b"y" * (1024 * 1024 + 10)
        async with http.post(f"{base(server)}/api/upload", data=too_big, headers={"Authorization": good}) as r:
            assert r.status == 413
        for path in (
            "/files/../../lanchat.db/x",
            "/files/notanid/x",
            "/files/" + "0" * 32 + "/x",
            "/assets/../lanchat.db",
        ):
            async with http.get(base(server) + path) as r:
                assert r.status in (403, 404), path
    assert [p.suffix for p in server.config.uploads_dir.iterdir()] == [""]  # no partial files left


async def test_admin_api(web: RunningServer, browser: aiohttp.ClientSession) -> None:
    csrf = await _logged_in(browser, web, "boss", admin=True)
    url = f"{base(web)}/api/admin"
    h = {"X-CSRF-Token": csrf}
    async with browser.post(f"{url}/accounts", json={"username": "newbie", "password": "first pass"}, headers=h) as r:
        assert r.status == 201
    async with browser.post(f"{url}/accounts", json={"username": "x", "password": "first pass"}) as r:
        assert r.status == 403  # no CSRF token
    async with browser.get(f"{url}/accounts") as r:
        names = {a["name"]: a["admin"] for a in await r.json()}
    assert names == {"boss": True, "newbie": False}
    async with browser.post(f"{url}/accounts/newbie/admin", json={"admin": True}, headers=h) as r:
        assert r.status == 204
    async with browser.post(f"{url}/accounts/newbie/password", json={"password": "second pass"}, headers=h) as r:
        assert r.status == 204
    client = await web.user("newbie", account="newbie", password="second pass")
    async with browser.get(f"{url}/accounts") as r:
        newbie = next(a for a in await r.json() if a["name"] == "newbie")
    assert (newbie["online"], newbie["last_seen"]) == (True, None)
    await client.close()
    for _ in range(100):  # the server notices the close on its own time
        async with browser.get(f"{url}/accounts") as r:
            newbie = next(a for a in await r.json() if a["name"] == "newbie")
        if not newbie["online"] and newbie["last_seen"]:
            break
        await asyncio.sleep(0.02)
    assert newbie["online"] is False
    assert newbie["last_seen"] is not None
    async with browser.put(f"{url}/registration", json={"registration": "closed"}, headers=h) as r:
        assert r.status == 204
    async with browser.get(f"{base(web)}/api/info") as r:
        assert (await r.json())["registration"] == "closed"
    async with browser.post(f"{url}/accounts/boss/admin", json={"admin": False}, headers=h) as r:
        assert r.status == 400  # not yourself
    async with browser.delete(f"{url}/accounts/newbie", headers=h) as r:
        assert r.status == 204
    async with browser.delete(f"{url}/accounts/newbie", headers=h) as r:
        assert r.status == 404
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as plain:
        await _logged_in(plain, web, "pleb")
        async with plain.get(f"{url}/accounts") as r:
            assert r.status == 403


async def test_password_reset_logs_out_browser_sessions(web: RunningServer, browser: aiohttp.ClientSession) -> None:
    await _logged_in(browser, web, "victim")
    await web.app.accounts.set_password("victim", "brand new one")
    async with browser.get(f"{base(web)}/api/session") as r:
        assert r.status == 401


class WsIrc:
    """IRC lines over a WebSocket, for tests."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, line: str) -> None:
        await self.ws.send_str(line)

    async def expect(self, command: str, timeout: float = 5) -> Message:
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket ended: {msg}")
            assert "\r" not in msg.data
            assert "\n" not in msg.data
            line = parse(msg.data)
            if line.command == command:
                return line


async def test_websocket_logged_in_by_the_session_cookie(web: RunningServer, browser: aiohttp.ClientSession) -> None:
    await _logged_in(browser, web, "webby")
    await web.add_account("ircer", "long enough")
    irc = await web.user("ircer", account="ircer", password="long enough")
    await irc.sync()
    async with browser.ws_connect(
        f"ws://127.0.0.1:{web.app.web_addresses[0][1]}/irc", protocols=("text.ircv3.net",), origin=base(web)
    ) as ws:
        assert ws.protocol == "text.ircv3.net"
        client = WsIrc(ws)
        await client.send("NICK webby")
        await client.send("USER webby 0 * :Web User")
        await client.expect("001")
        await irc.expect("JOIN")
        await client.send("PRIVMSG #general :hello from the browser")
        got = await irc.expect("PRIVMSG")
        assert (got.source or "").startswith("webby!")
        await irc.send("PRIVMSG webby :and back")
        assert (await client.expect("PRIVMSG")).params == ["webby", "and back"]
        await client.send("WHOIS webby")
        assert (await client.expect("330")).params[2] == "webby"


async def test_websocket_without_cookie_is_plain_irc_and_binary_works(web: RunningServer) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"ws://127.0.0.1:{web.app.web_addresses[0][1]}/irc", protocols=("binary.ircv3.net",)) as ws,
    ):
        assert ws.protocol == "binary.ircv3.net"
        await ws.send_bytes(b"NICK anon")
        await ws.send_bytes(b"USER anon 0 * :x")
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.BINARY
        assert parse(msg.data.decode()).command == "464"  # guests are off: log in first


async def test_cross_site_websocket_is_refused(web: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await http.ws_connect(
                f"ws://127.0.0.1:{web.app.web_addresses[0][1]}/irc",
                protocols=("text.ircv3.net",),
                origin="http://evil.example",
            )
    assert caught.value.status == 403


async def test_filehost_is_advertised_and_search_finds_messages(web: RunningServer) -> None:
    await web.add_account("finder", "long enough")
    client = await web.connect()
    burst = await client.register("finder", account="finder", password="long enough", caps=["batch", "soju.im/search"])
    tokens = [t for m in find(burst, "005") for t in m.params[1:-1]]
    filehost = next(t for t in tokens if t.startswith("draft/FILEHOST="))
    assert filehost == f"draft/FILEHOST=http://127.0.0.1:{web.app.web_addresses[0][1]}/api/upload"
    for text in ("the build is green", "lunch at noon", "the build broke again", "Élan vital"):
        await client.send(f"PRIVMSG #general :{text}")
    await client.sync()
    reply = await client.request("SEARCH in=#general;text=build")
    assert [m.params[1] for m in find(reply, "PRIVMSG")] == ["the build is green", "the build broke again"]
    assert reply[0].command == "BATCH"
    assert reply[0].params[1] == "soju.im/search"
    reply = await client.request("SEARCH text=elan")  # every conversation; accents folded
    assert [m.params[1] for m in find(reply, "PRIVMSG")] == ["Élan vital"]
    reply = await client.request("SEARCH in=#elsewhere;text=x")
    assert reply[0].command == "FAIL"
    reply = await client.request('SEARCH in=#general;text=" OR *')
    assert reply[0].command == "FAIL"  # no words: nothing to search, and no query syntax gets through


def _basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


async def _upload(
    http: aiohttp.ClientSession, server: RunningServer, auth: dict[str, str], data: object
) -> tuple[int, dict[str, object]]:
    async with http.post(f"{base(server)}/api/upload", data=data, headers=auth) as r:
        answer: dict[str, object] = await r.json()
        return r.status, answer


async def _streamed(payload: bytes) -> AsyncIterator[bytes]:
    """A request body sent chunked, without a Content-Length."""
    for start in range(0, len(payload), 100_000):
        yield payload[start : start + 100_000]


async def test_json_bodies_are_small_but_uploads_stream_up_to_the_file_limit(make_server: ServerFactory) -> None:
    server = await make_server(web_enabled=True, web_port=0, web_max_upload_mb=1)
    await server.add_account("alice", "long enough")
    auth = _basic("alice", "long enough")
    async with aiohttp.ClientSession() as http:
        bloated = {"username": "alice", "password": "x" * 100_000}
        async with http.post(f"{base(server)}/api/login", json=bloated) as r:
            assert r.status == 413  # refused before any password check
            assert (await r.json())["error"] == "Request too large"
        assert server.app.accounts.failed_logins == 0
        async with http.post(f"{base(server)}/api/login", json={"username": "alice", "password": "long enough"}) as r:
            assert r.status == 200  # and the server keeps serving
        full = os.urandom(1024 * 1024)
        form = aiohttp.FormData()
        form.add_field("file", full, filename="full.bin", content_type="application/octet-stream")
        for body in (full, form, _streamed(full)):
            status, uploaded = await _upload(http, server, auth, body)
            assert status == 201, uploaded
            assert uploaded["size"] == len(full)
            async with http.get(str(uploaded["url"])) as r:
                assert await r.read() == full


async def test_each_account_has_an_upload_quota(make_server: ServerFactory) -> None:
    settings = {"web_enabled": True, "web_port": 0, "web_max_upload_mb": 1, "web_upload_quota_mb": 2}
    server = await make_server(**settings)
    await server.add_account("alice", "long enough")
    await server.add_account("bob", "long enough")
    alice, bob = _basic("alice", "long enough"), _basic("bob", "long enough")
    piece = os.urandom(900 * 1024)
    form = aiohttp.FormData()
    form.add_field("file", piece, filename="second.bin", content_type="application/octet-stream")
    async with aiohttp.ClientSession() as http:
        status, _ = await _upload(http, server, alice, piece)
        assert status == 201
        status, _ = await _upload(http, server, alice, form)
        assert status == 201
        over = os.urandom(400 * 1024)
        status, refused = await _upload(http, server, alice, over)  # refused from its Content-Length
        assert status == 413
        assert refused["error"] == "This file does not fit in your 2 MB for shared files (1.8 MB used)"
        status, refused = await _upload(http, server, alice, _streamed(over))  # refused while it streams
        assert status == 413
        status, _ = await _upload(http, server, bob, piece)
        assert status == 201  # a quota per account
    assert sorted(p.suffix for p in server.config.uploads_dir.iterdir()) == ["", "", ""]  # nothing partial kept

    await server.stop()  # what each account shared is remembered across a restart
    server = await make_server(**settings)
    async with aiohttp.ClientSession() as http:
        status, refused = await _upload(http, server, alice, over)
        assert status == 413
        assert refused["error"] == "This file does not fit in your 2 MB for shared files (1.8 MB used)"
        status, _ = await _upload(http, server, bob, over)
        assert status == 201


async def test_parallel_uploads_share_the_quota(make_server: ServerFactory) -> None:
    server = await make_server(web_enabled=True, web_port=0, web_max_upload_mb=1, web_upload_quota_mb=1)
    await server.add_account("alice", "long enough")
    alice = _basic("alice", "long enough")
    async with aiohttp.ClientSession() as http:
        answers = await asyncio.gather(*(_upload(http, server, alice, os.urandom(600 * 1024)) for _ in range(2)))
    assert sorted(status for status, _ in answers) == [201, 413]
    assert len(list(server.config.uploads_dir.iterdir())) == 1


async def test_uploads_pause_when_the_disk_is_nearly_full(make_server: ServerFactory) -> None:
    server = await make_server(web_enabled=True, web_port=0, web_upload_min_free_mb=1 << 30)  # a petabyte free
    await server.add_account("alice", "long enough")
    alice = _basic("alice", "long enough")
    async with aiohttp.ClientSession() as http:
        for body in (b"hello", _streamed(b"hello")):
            status, refused = await _upload(http, server, alice, body)
            assert status == 507
            assert refused["error"] == "The server is low on disk space: uploads are paused, tell an admin"
    assert list(server.config.uploads_dir.iterdir()) == []
