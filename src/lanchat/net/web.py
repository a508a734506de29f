"""The web port: the browser client, its JSON API, IRC over WebSocket, and shared files.

See docs/web-api.md for the contract the browser client codes against.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web

from lanchat import __version__
from lanchat.config import Config
from lanchat.core.accounts import AccountService, RegistrationClosed
from lanchat.core.errors import AccountExists, InvalidAccountName, LoginFailed
from lanchat.core.ports import AccountRecord, Store, UploadRecord
from lanchat.core.websessions import WebSessionService, csrf_for
from lanchat.irc.server import IrcServer
from lanchat.net.pipeline import ConnectionLimits
from lanchat.net.websocket import serve_irc
from lanchat.store.files import LowDiskSpace, QuotaExceeded, TooLarge, UploadFolder, UploadRefused

log = logging.getLogger("lanchat.web")

COOKIE = "lanchat_session"
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
#: Files shown inline in the browser; everything else is a download.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MIN_PASSWORD = 8
#: The largest request body read whole (JSON API calls). Uploads are streamed instead, up to
#: ``[web] max_upload_mb``.
MAX_BODY = 64 * 1024
#: What a multipart upload may add to the file's own bytes (boundaries, part headers).
MULTIPART_SLACK = 64 * 1024
MIB = 1024 * 1024
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*\Z")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_unicode(text: str) -> bool:
    """False for a string that UTF-8 cannot encode (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


def _refuse(kind: type[web.HTTPException], text: str, **extra: Any) -> web.HTTPException:
    """An HTTP error to raise, with the JSON body every API error has."""
    return kind(text=json.dumps({"error": text}), content_type="application/json", **extra)


def clean_filename(raw: str) -> str:
    """A file name safe to show and to put in a header: no folders, no control characters."""
    name = PurePosixPath(raw.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"').strip(". ")
    return name[:200] or "file"


def clean_type(raw: str | None) -> str:
    """A plain ``type/subtype`` media type, or application/octet-stream."""
    media = (raw or "").split(";")[0].strip().lower()
    return media if _MIME.match(media) else "application/octet-stream"


class WebApp:
    """The aiohttp application and its handlers."""

    def __init__(
        self,
        config: Config,
        irc: IrcServer,
        store: Store,
        accounts: AccountService,
        sessions: WebSessionService,
        limits: ConnectionLimits,
        metrics: Callable[[], bytes],
    ) -> None:
        self.config = config
        self.irc = irc
        self.store = store
        self.accounts = accounts
        self.sessions = sessions
        self.limits = limits
        self.metrics = metrics
        self.files = UploadFolder(
            config.uploads_dir,
            quota=config.web_upload_quota_mb * MIB,
            min_free=config.web_upload_min_free_mb * MIB,
        )
        self.secure = config.web_uses_https
        self.max_upload = config.web_max_upload_mb * MIB

    def build(self) -> web.Application:
        """The application with every route."""
        app = web.Application(middlewares=[self._headers], client_max_size=MAX_BODY)
        app.router.add_get("/", self.index)
        app.router.add_static("/assets", STATIC, follow_symlinks=False, show_index=False)
        app.router.add_get("/irc", self.websocket)
        app.router.add_get("/api/info", self.info)
        app.router.add_post("/api/login", self.login)
        app.router.add_post("/api/register", self.register)
        app.router.add_get("/api/session", self.session)
        app.router.add_post("/api/logout", self.logout)
        app.router.add_post("/api/upload", self.upload)
        app.router.add_get("/files/{id}/{name}", self.download)
        app.router.add_get("/api/admin/accounts", self.admin_accounts)
        app.router.add_post("/api/admin/accounts", self.admin_create)
        app.router.add_post("/api/admin/accounts/{name}/password", self.admin_password)
        app.router.add_post("/api/admin/accounts/{name}/admin", self.admin_flag)
        app.router.add_delete("/api/admin/accounts/{name}", self.admin_delete)
        app.router.add_put("/api/admin/registration", self.admin_registration)
        app.router.add_get("/metrics", self.prometheus)
        return app

    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self._protect(request, exc)
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            response = _error(500, "Internal error; the server logged it")
        self._protect(request, response)
        return response

    @staticmethod
    def _protect(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        if request.path.startswith("/api/"):
            headers["Cache-Control"] = "no-store"

    # -- helpers ---------------------------------------------------------------------------

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except web.HTTPRequestEntityTooLarge:
            raise _refuse(web.HTTPRequestEntityTooLarge, "Request too large", max_size=MAX_BODY) from None
        except ValueError:
            raise _refuse(web.HTTPBadRequest, "expected a JSON object") from None
        if not isinstance(data, dict):
            raise _refuse(web.HTTPBadRequest, "expected a JSON object")
        return data

    @staticmethod
    def _text(data: dict[str, Any], key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str):
            raise _refuse(web.HTTPBadRequest, f"{key} is missing")
        if not _is_unicode(value):  # JSON may carry lone surrogates ("\ud800")
            raise _refuse(web.HTTPBadRequest, f"{key} is not valid text")
        return value

    def _peer(self, request: web.Request) -> str:
        return request.remote or "0.0.0.0"

    async def _account(self, request: web.Request) -> tuple[AccountRecord | None, str | None]:
        token = request.cookies.get(COOKIE)
        return await self.sessions.resolve(token), token

    async def _require(self, request: web.Request, *, admin: bool = False, csrf: bool = True) -> AccountRecord:
        account, token = await self._account(request)
        if account is None or token is None:
            raise _refuse(web.HTTPUnauthorized, "please log in")
        if csrf and not hmac.compare_digest(request.headers.get("X-CSRF-Token", ""), csrf_for(token)):
            raise _refuse(web.HTTPForbidden, "missing or wrong X-CSRF-Token")
        if admin and not account.admin:
            raise _refuse(web.HTTPForbidden, "only admins may do this")
        return account

    def _logged_in(self, account: AccountRecord, token: str, status: int = 200) -> web.Response:
        response = web.json_response(
            {"account": account.name, "admin": account.admin, "csrf": csrf_for(token)}, status=status
        )
        response.set_cookie(
            COOKIE,
            token,
            max_age=self.config.web_session_days * 86400,
            httponly=True,
            samesite="Strict",
            secure=self.secure,
            path="/",
        )
        return response

    async def registration_mode(self) -> str:
        """``open`` or ``closed``: the admins' choice if they made one, else the config's."""
        return await self.store.get_setting("registration") or self.config.web_registration

    # -- pages -----------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        """The web client (or IRC, for WebSocket clients that connect to the bare address)."""
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.websocket(request)
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """IRC over WebSocket; a session cookie logs the connection in."""
        account, _ = await self._account(request)
        return await serve_irc(request, self.irc, self.limits, account, self.secure)

    async def prometheus(self, request: web.Request) -> web.StreamResponse:
        """Metrics in the Prometheus text format."""
        return web.Response(body=self.metrics(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    # -- sessions --------------------------------------------------------------------------

    async def info(self, request: web.Request) -> web.StreamResponse:
        """What the login page needs to know."""
        return web.json_response(
            {
                "server": self.config.server_name,
                "network": self.config.network,
                "registration": await self.registration_mode(),
                "first_account": await self.store.count_accounts() == 0,
                "max_upload_bytes": self.max_upload,
                "version": __version__,
            }
        )

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Username and password -> a session cookie."""
        data = await self._json(request)
        try:
            account = await self.accounts.authenticate(
                self._text(data, "username"), self._text(data, "password"), self._peer(request)
            )
        except LoginFailed:
            return _error(401, "Wrong username or password")
        return self._logged_in(account, await self.sessions.open(account))

    async def register(self, request: web.Request) -> web.StreamResponse:
        """Create an account (when registration is open; the first account is an admin)."""
        data = await self._json(request)
        username, password = self._text(data, "username"), self._text(data, "password")
        closed = "Registration is closed: ask an admin for an account"
        registration_open = await self.registration_mode() == "open"
        if not registration_open and await self.store.count_accounts() > 0:
            return _error(403, closed)  # early, before hashing; register() decides for good
        if len(password) < MIN_PASSWORD:
            return _error(400, f"Choose a password of at least {MIN_PASSWORD} characters")
        try:
            account = await self.accounts.register(username, password, registration_open=registration_open)
        except RegistrationClosed:
            return _error(403, closed)
        except InvalidAccountName:
            return _error(400, "Names use letters, digits and - _ [ ] { } \\ | ^ `, not starting with a digit")
        except AccountExists:
            return _error(409, "That name is taken")
        log.info("account %s created from the web%s", account.name, " (first account: admin)" if account.admin else "")
        return self._logged_in(account, await self.sessions.open(account), status=201)

    async def session(self, request: web.Request) -> web.StreamResponse:
        """The logged-in account, or 401."""
        account, token = await self._account(request)
        if account is None or token is None:
            return _error(401, "not logged in")
        return web.json_response({"account": account.name, "admin": account.admin, "csrf": csrf_for(token)})

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """Revoke the session and clear the cookie."""
        await self.sessions.close(request.cookies.get(COOKIE))
        response = web.Response(status=204)
        response.del_cookie(COOKIE, path="/")
        return response

    # -- files -----------------------------------------------------------------------------

    async def _uploader(self, request: web.Request) -> AccountRecord:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                name, _, password = base64.b64decode(auth[6:], validate=True).decode("utf-8").partition(":")
                return await self.accounts.authenticate(name, password, self._peer(request))
            except (binascii.Error, UnicodeDecodeError, LoginFailed):
                raise _refuse(
                    web.HTTPUnauthorized,
                    "wrong account or password",
                    headers={"WWW-Authenticate": 'Basic realm="lanchat"'},
                ) from None
        return await self._require(request)

    async def upload(self, request: web.Request) -> web.StreamResponse:
        """Store a file; answer with its URL."""
        account = await self._uploader(request)
        if self.files.quota and not self.files.knows_usage(account.key):
            self.files.remember_usage(account.key, await self.store.upload_usage(account.key))
        multipart = request.content_type == "multipart/form-data"
        if request.content_length is not None:
            size = max(0, request.content_length - (MULTIPART_SLACK if multipart else 0))
            try:
                if size > self.max_upload:
                    raise TooLarge(size)
                self.files.check(account.key, size)
            except UploadRefused as exc:
                return self._upload_refused(account, exc)
        if multipart:
            reader = await request.multipart()
            field = await reader.next()
            while field is not None and not (isinstance(field, BodyPartReader) and field.name == "file"):
                field = await reader.next()
            if not isinstance(field, BodyPartReader):
                return _error(400, "no field named file")
            part: BodyPartReader = field
            name = clean_filename(unquote(part.filename or "file"))
            media = clean_type(part.headers.get("Content-Type"))

            async def chunks() -> AsyncIterator[bytes]:
                while chunk := await part.read_chunk(64 * 1024):
                    yield chunk

        else:
            name = clean_filename(unquote(request.headers.get("X-Filename", "file")))
            media = clean_type(request.headers.get("Content-Type"))

            async def chunks() -> AsyncIterator[bytes]:
                async for chunk in request.content.iter_chunked(64 * 1024):
                    yield chunk

        try:
            upload_id, size = await self.files.save(chunks(), self.max_upload, account.key)
        except UploadRefused as exc:
            return self._upload_refused(account, exc)
        record = UploadRecord(upload_id, name, media, size, account.key, int(time.time() * 1000))
        await self.store.add_upload(record)
        url = f"{request.scheme}://{request.host}/files/{upload_id}/{quote(name)}"
        log.info("%s shared %s (%d bytes)", account.name, upload_id, size)
        return web.json_response(
            {"url": url, "name": name, "size": size, "type": media}, status=201, headers={"Location": url}
        )

    def _upload_refused(self, account: AccountRecord, exc: UploadRefused) -> web.Response:
        """The answer to an upload that does not fit; ``error`` is what the web client shows."""
        if isinstance(exc, QuotaExceeded):
            log.info("upload by %s refused: over its quota (%d of %d bytes used)", account.name, exc.used, exc.quota)
            return _error(
                413,
                f"This file does not fit in your {self.config.web_upload_quota_mb} MB for shared files "
                f"({exc.used / MIB:.1f} MB used)",
            )
        if isinstance(exc, LowDiskSpace):
            log.warning("upload by %s refused: the disk of the uploads folder is nearly full", account.name)
            return _error(507, "The server is low on disk space: uploads are paused, tell an admin")
        return _error(413, f"Files may be up to {self.config.web_max_upload_mb} MB")

    async def download(self, request: web.Request) -> web.StreamResponse:
        """A shared file: inline for images, a download otherwise; never run as a page."""
        upload_id = request.match_info["id"]
        path = self.files.path(upload_id)
        record = await self.store.get_upload(upload_id) if path is not None else None
        if path is None or record is None:
            return _error(404, "no such file")
        inline = record.type in INLINE_TYPES
        disposition = "inline" if inline else "attachment"
        return web.FileResponse(
            path,
            headers={
                "Content-Type": record.type if inline else "application/octet-stream",
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(record.name)}",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, max-age=86400",
            },
        )

    # -- admin -----------------------------------------------------------------------------

    async def admin_accounts(self, request: web.Request) -> web.StreamResponse:
        """Every account."""
        await self._require(request, admin=True, csrf=False)

        def when(ms: int) -> str | None:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000)) if ms else None

        online = self.irc.state.by_account
        return web.json_response(
            [
                {
                    "name": r.name,
                    "admin": r.admin,
                    "created": when(r.created_ms),
                    "last_seen": when(r.last_seen_ms),
                    "online": r.key in online,
                }
                for r in await self.store.list_accounts()
            ]
        )

    async def admin_create(self, request: web.Request) -> web.StreamResponse:
        """Create an account."""
        admin = await self._require(request, admin=True)
        data = await self._json(request)
        password = self._text(data, "password")
        if len(password) < MIN_PASSWORD:
            return _error(400, f"Choose a password of at least {MIN_PASSWORD} characters")
        try:
            username = self._text(data, "username")
            account = await self.accounts.create(username, password, admin=data.get("admin") is True)
        except InvalidAccountName:
            return _error(400, "Not a valid account name")
        except AccountExists:
            return _error(409, "That name is taken")
        log.info("%s created account %s", admin.name, account.name)
        return web.json_response({"name": account.name, "admin": account.admin}, status=201)

    async def _target(self, request: web.Request) -> AccountRecord:
        record = await self.store.get_account(self.accounts.key(request.match_info["name"]))
        if record is None:
            raise _refuse(web.HTTPNotFound, "no such account")
        return record

    async def admin_password(self, request: web.Request) -> web.StreamResponse:
        """Set an account's password (its browser sessions are logged out)."""
        admin = await self._require(request, admin=True)
        target = await self._target(request)
        password = self._text(await self._json(request), "password")
        if len(password) < MIN_PASSWORD:
            return _error(400, f"Choose a password of at least {MIN_PASSWORD} characters")
        await self.accounts.set_password(target.name, password)
        log.info("%s reset the password of %s", admin.name, target.name)
        return web.Response(status=204)

    async def admin_flag(self, request: web.Request) -> web.StreamResponse:
        """Grant or revoke admin."""
        admin = await self._require(request, admin=True)
        target = await self._target(request)
        value = (await self._json(request)).get("admin")
        if not isinstance(value, bool):
            return _error(400, "admin must be true or false")
        if not value and target.key == admin.key:
            return _error(400, "You cannot remove your own admin rights")
        await self.store.set_admin(target.key, value)
        log.info("%s made %s %s", admin.name, target.name, "an admin" if value else "a regular user")
        return web.Response(status=204)

    async def admin_delete(self, request: web.Request) -> web.StreamResponse:
        """Remove an account."""
        admin = await self._require(request, admin=True)
        target = await self._target(request)
        if target.key == admin.key:
            return _error(400, "You cannot remove your own account")
        await self.store.delete_account(target.key)
        log.info("%s removed account %s", admin.name, target.name)
        return web.Response(status=204)

    async def admin_registration(self, request: web.Request) -> web.StreamResponse:
        """Open or close registration."""
        admin = await self._require(request, admin=True)
        value = (await self._json(request)).get("registration")
        if value not in ("open", "closed"):
            return _error(400, "registration must be open or closed")
        await self.store.set_setting("registration", value)
        log.info("%s set registration %s", admin.name, value)
        return web.Response(status=204)


async def start_web(
    app: WebApp, hosts: tuple[str, ...], port: int, tls: ssl.SSLContext | None
) -> tuple[web.AppRunner, list[tuple[str, int]]]:
    """Serve the web port; returns the runner and the (address, port) pairs bound."""
    runner = web.AppRunner(app.build(), access_log=None)
    await runner.setup()
    for host in hosts or (None,):
        site = web.TCPSite(runner, host, port, ssl_context=tls, backlog=1024, reuse_address=True)
        await site.start()
    addresses: list[tuple[str, int]] = []
    for address in runner.addresses:
        if isinstance(address, tuple):
            addresses.append((str(address[0]), int(address[1])))
    return runner, addresses
