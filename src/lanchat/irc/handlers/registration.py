"""Connection registration: CAP, PASS, NICK, USER, AUTHENTICATE (SASL PLAIN), PING, QUIT."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import time
from typing import TYPE_CHECKING

from lanchat.core.errors import ChatError, ErroneousNick, LoginFailed, NickInUse
from lanchat.core.ports import AccountRecord
from lanchat.irc.client import LOGIN_WAIT_ALLOWANCE, Client, User
from lanchat.irc.commands import Reply, command
from lanchat.irc.errors import reply_error
from lanchat.irc.handlers.channels import prepare_join, send_join_info, show_joined, still_online
from lanchat.irc.handlers.history import replay_missed_direct
from lanchat.irc.handlers.info import isupport_numerics, motd_numerics, send_lusers
from lanchat.irc.isupport import USER_LENGTH
from lanchat.irc.replies import Numeric, NumericTemplate, ReplyBuffer, numeric_template
from lanchat.proto import numerics as N
from lanchat.proto.message import Message
from lanchat.proto.names import parse_decimal, valid_nick, valid_username

if TYPE_CHECKING:
    from lanchat.irc.server import IrcServer

SASL_CHUNK = 400
SASL_MAX_BYTES = 8192
MAX_SASL_FAILURES = 20
#: How long a PING waits for the PINGs received before it (seconds; see PING).
PING_ORDER_WAIT = 0.05


# -- CAP -------------------------------------------------------------------------------------


@command("CAP", min_params=1, pre_registration=True, help="CAP LS [302] | LIST | REQ :caps | END")
def cap(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    sub = msg.params[0].upper()
    target = client.nick
    if sub == "LS":
        version = msg.params[1] if len(msg.params) > 1 else ""
        number = parse_decimal(version)
        if number is not None:
            client.cap_version = max(client.cap_version, number)
            client.set_caps([], [])
        if not client.registered:
            client.cap_negotiating = True
        modern = number is not None and number >= 302
        offered = server.caps_for(client)
        items = [f"{k}={v}" if v else k for k, v in offered.items()] if modern else list(offered)
        _send_cap_list(server, rb, target, "LS", items, modern)
    elif sub == "LIST":
        _send_cap_list(server, rb, target, "LIST", sorted(client.caps), client.cap_version >= 302)
    elif sub == "REQ":
        if not client.registered:
            client.cap_negotiating = True
        requested = msg.params[1] if len(msg.params) > 1 else ""
        enable: list[str] = []
        disable: list[str] = []
        for name in requested.split():
            removing = name.startswith("-")
            bare = name[1:] if removing else name
            if bare not in server.caps:  # sts is advertised, never requested
                rb.server_msg("CAP", target, "NAK", requested)
                return None
            (disable if removing else enable).append(bare)
        client.set_caps(enable, disable)
        rb.server_msg("CAP", target, "ACK", requested)
    elif sub == "END":
        if client.registered:
            return None
        client.cap_negotiating = False
        if client.sasl_mech is not None:
            _reset_sasl(client)
            rb.numeric(N.ERR_SASLABORTED, "SASL authentication aborted")
        return server.maybe_register(client)
    else:
        rb.numeric("410", msg.params[0], "Invalid CAP command")
    return None


def _send_cap_list(
    server: IrcServer, rb: ReplyBuffer, target: str, sub: str, items: list[str], multiline: bool
) -> None:
    if not multiline:
        rb.server_msg("CAP", target, sub, " ".join(items))
        return
    lines: list[list[str]] = [[]]
    size = 0
    for item in items:
        if size + len(item) + 1 > 380 and lines[-1]:
            lines.append([])
            size = 0
        lines[-1].append(item)
        size += len(item) + 1
    for i, chunk in enumerate(lines):
        if i < len(lines) - 1:
            rb.server_msg("CAP", target, sub, "*", " ".join(chunk))
        else:
            rb.server_msg("CAP", target, sub, " ".join(chunk))


# -- PASS / NICK / USER ----------------------------------------------------------------------


@command(
    "PASS",
    min_params=1,
    pre_registration=True,
    help="PASS account:password  (or PASS password with NICK as the account)",
)
def pass_(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    if client.registered:
        rb.numeric(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return None
    client.pass_arg = msg.params[0]
    return server.maybe_register(client)


@command("NICK", pre_registration=True, help="NICK newnick")
def nick(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    if not msg.params or not msg.params[0]:
        rb.numeric(N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return None
    new = msg.params[0]
    user = client.session
    if user is None:
        if not valid_nick(new, server.state.settings.nick_length):
            raise ErroneousNick(new)
        key = server.state.fold(new)
        holder = server.state.sessions.get(key)
        if holder is not None and not (client.account_key and holder.account_key == client.account_key):
            raise NickInUse(new)
        client.reg_nick = new
        client.reg_key = key
        return server.maybe_register(client)
    if new == user.nick:
        return None
    return _change_nick(server, user, new)


async def _change_nick(server: IrcServer, user: User, new: str) -> None:
    await server.presence.check_nick(new, user, user.account_key)
    if server.state.is_online(user):
        server.presence.change_nick(user, new)


@command("USER", min_params=4, pre_registration=True, help="USER username 0 * :Real Name")
def user(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    if client.registered or client.user_given:
        rb.numeric(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return None
    username, realname = msg.params[0], msg.params[3]
    if not username or not realname:
        rb.numeric(N.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
        return None
    if not valid_username(username):
        username = "user"
    client.user = ("~" + username)[:USER_LENGTH]
    client.realname = realname[: server.state.settings.realname_length]
    client.user_given = True
    return server.maybe_register(client)


# -- SASL ------------------------------------------------------------------------------------


@command("AUTHENTICATE", min_params=1, pre_registration=True, help="AUTHENTICATE PLAIN, then the base64 credentials")
def authenticate(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    param = msg.params[0]
    if "sasl" not in client.caps:
        rb.numeric(N.ERR_SASLFAIL, "SASL authentication failed: the sasl capability is not enabled")
        return None
    if (client.session.account if client.session is not None else client.account) is not None:
        rb.numeric(N.ERR_SASLALREADY, "You have already authenticated using SASL")
        return None
    if param == "*":
        _reset_sasl(client)
        rb.numeric(N.ERR_SASLABORTED, "SASL authentication aborted")
        return None
    if client.sasl_mech is None:
        if param.upper() != "PLAIN":
            rb.numeric(N.RPL_SASLMECHS, "PLAIN", "are available SASL mechanisms")
            rb.numeric(N.ERR_SASLFAIL, "SASL authentication failed")
            return None
        client.sasl_mech = "PLAIN"
        client.sasl_buffer = ""
        rb.server_msg("AUTHENTICATE", "+")
        return None
    if len(param) > SASL_CHUNK:
        _reset_sasl(client)
        rb.numeric(N.ERR_SASLTOOLONG, "SASL message too long")
        return None
    if param != "+":
        client.sasl_buffer += param
    if len(client.sasl_buffer) > SASL_MAX_BYTES:
        _reset_sasl(client)
        rb.numeric(N.ERR_SASLFAIL, "SASL authentication failed: message too long")
        return None
    if len(param) == SASL_CHUNK:
        return None
    payload = client.sasl_buffer
    _reset_sasl(client)
    return _sasl_plain(server, client, payload, rb)


def _reset_sasl(client: Client) -> None:
    client.sasl_mech = None
    client.sasl_buffer = ""


async def _authenticate(server: IrcServer, client: Client, name: str, password: str) -> AccountRecord:
    """Check a login. The time the connection waits for it (behind other logins in a storm,
    or throttled) is the server's, so it does not count against the registration timeout —
    up to LOGIN_WAIT_ALLOWANCE - 1 timeouts in all, however many attempts the client makes."""
    began = time.monotonic()
    client.checking_login = True
    try:
        return await server.accounts.authenticate(name, password, client.ip)
    finally:
        client.checking_login = False
        allowance = (LOGIN_WAIT_ALLOWANCE - 1) * server.config.registration_timeout
        forgiven = min(time.monotonic() - began, max(0.0, allowance - client.login_wait_forgiven))
        client.login_wait_forgiven += forgiven
        client.connected_at += forgiven


async def _sasl_plain(server: IrcServer, client: Client, payload: str, rb: ReplyBuffer) -> None:
    try:
        decoded = base64.b64decode(payload, validate=True).decode("utf-8")
        authzid, authcid, password = decoded.split("\0")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        _sasl_failed(server, client, rb)
        return
    if not authcid or not password or (authzid and authzid != authcid):
        _sasl_failed(server, client, rb)
        return
    try:
        record = await _authenticate(server, client, authcid, password)
    except LoginFailed:
        _sasl_failed(server, client, rb)
        return
    if client.closing or (client.session is not None and not still_online(server, client)):
        return  # gone during the password check: log nobody in
    log_in(server, client, record, rb)
    rb.numeric(N.RPL_SASLSUCCESS, "SASL authentication successful")


def _sasl_failed(server: IrcServer, client: Client, rb: ReplyBuffer) -> None:
    client.sasl_failures += 1
    rb.numeric(N.ERR_SASLFAIL, "SASL authentication failed")
    if client.sasl_failures >= MAX_SASL_FAILURES:
        rb.flush()
        client.close("Too many SASL authentication failures")


def log_in(server: IrcServer, client: Client, record: AccountRecord, rb: ReplyBuffer) -> None:
    """Attach an account to the connection (and its user, once registered); say so (900)."""
    client.account = record.name
    client.account_key = record.key
    client.account_admin = record.admin
    rb.numeric(N.RPL_LOGGEDIN, client.mask, record.name, f"You are now logged in as {record.name}")
    if client.session is not None:
        server.presence.set_account(client.session, record.name, record.key, admin=record.admin)


# -- completing registration -----------------------------------------------------------------


async def complete_registration(server: IrcServer, client: Client) -> None:
    """Check credentials and nick, then welcome the client and put it in its channels."""
    rb = client.rb if client.rb is not None else ReplyBuffer(client, server.name, None)
    try:
        await _complete(server, client, rb)
    finally:
        if client.rb is not rb:
            rb.flush()


async def _complete(server: IrcServer, client: Client, rb: ReplyBuffer) -> None:
    if not await _check_credentials(server, client, rb):
        return
    state = server.state
    holder = state.sessions.get(client.reg_key)
    # Another connection of the account holds the nick: share its user. Should that user go
    # offline while this one is being attached, this connection registers on its own.
    if (
        isinstance(holder, User)
        and client.account_key
        and holder.account_key == client.account_key
        and (await _attach(server, client, holder, rb) or client.closing)
    ):
        return
    try:
        await server.presence.check_nick(client.reg_nick, None, client.account_key)
        if client.closing:
            return
        user = User(client, client.reg_nick, client.reg_key)
        server.presence.connect(user)
        # Direct messages recorded from now on reach the user live: the replay stops here.
        online_ms = server.state.now_ms()
    except ChatError as exc:
        reply_error(rb, "NICK", exc)
        return
    client.session = user
    send_welcome(server, client, rb)
    rb.send_pending()
    server.log_connected(user)
    # After each await: stop if the connection went away meanwhile, or its channels would
    # keep a member nobody is behind.
    saved = await server.channels.saved_channels(user)
    for name, status in saved:
        if not still_online(server, client):
            return
        extras = await prepare_join(server, user, name)
        if not still_online(server, client):
            return
        channel = server.channels.rejoin(user, name, status)
        if channel is not None:
            send_join_info(server, client, channel, rb, extras)
            rb.send_pending()
    if still_online(server, client):
        await replay_missed_direct(server, client, rb, online_ms)


async def _check_credentials(server: IrcServer, client: Client, rb: ReplyBuffer) -> bool:
    """PASS login or server password, and the guest policy; False (with 464) to refuse."""
    cfg = server.config
    password_ok = cfg.server_password is None
    if client.account is None and client.pass_arg is not None:
        arg, client.pass_arg = client.pass_arg, None
        if cfg.server_password is not None and hmac.compare_digest(arg.encode(), cfg.server_password.encode()):
            password_ok = True
        else:
            name, sep, password = arg.partition(":")
            if not sep:
                name, password = client.reg_nick, arg
            try:
                record = await _authenticate(server, client, name, password)
            except LoginFailed:
                rb.numeric(N.ERR_PASSWDMISMATCH, "Password incorrect")
                return False
            log_in(server, client, record, rb)
    if client.account is not None:
        password_ok = True
    if not password_ok:
        rb.numeric(N.ERR_PASSWDMISMATCH, "Password required: send PASS before NICK and USER")
        return False
    if client.account is None and not cfg.allow_guests:
        rb.numeric(
            N.ERR_PASSWDMISMATCH,
            "This server needs an account: log in with SASL PLAIN, or PASS account:password",
        )
        return False
    return True


async def _attach(server: IrcServer, client: Client, user: User, rb: ReplyBuffer) -> bool:
    """Another connection of an online account with the same nick: share the user, and show
    this connection the channels the user is in. False when that user went offline during
    the reads (this connection is then not attached)."""
    plan = [
        (channel, await prepare_join(server, user, channel.name, [client])) for channel in list(user.channels.values())
    ]
    if client.closing:
        return True
    if not server.state.is_online(user):
        return False
    user.attach(client)
    send_welcome(server, client, rb)
    for channel, extras in plan:
        if user in channel.members:
            show_joined(server, client, channel, rb, extras)
    return True


def send_welcome(server: IrcServer, client: Client, rb: ReplyBuffer) -> None:
    """001-005, LUSERS and MOTD: the connection is registered (counted here, whether it
    is a new user or another connection of an online one)."""
    server.registering.pop(client.conn_id, None)
    server.registrations += 1
    rb.numeric(N.RPL_WELCOME, f"Welcome to the {server.config.network} Network, {client.mask}")
    filehost = server.filehost(client.link) if server.filehost is not None else None
    before_lusers, after_lusers = _welcome_templates(server, filehost)
    rb.add_templates(before_lusers)
    send_lusers(server, rb)
    rb.add_templates(after_lusers)


def _welcome_templates(server: IrcServer, filehost: str | None) -> tuple[list[NumericTemplate], ...]:
    """The welcome's lines that only differ by the nick (002-005, then the MOTD), rendered
    once per upload URL: this runs at every registration."""
    cached = server.welcome_templates.get(filehost)
    if cached is None:
        created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(server.created))
        before: list[Numeric] = [
            (N.RPL_YOURHOST, [f"Your host is {server.name}, running version {server.version}"]),
            (N.RPL_CREATED, [f"This server was created {created}"]),
            (N.RPL_MYINFO, [server.name, server.version, "Biow", "CbeIiklmnostv", "beIklov"]),
            *isupport_numerics(server, filehost),
        ]
        cached = server.welcome_templates[filehost] = (
            [numeric_template(server.name, code, params) for code, params in before],
            [numeric_template(server.name, code, params) for code, params in motd_numerics(server)],
        )
    return cached


# -- PING / PONG / QUIT ----------------------------------------------------------------------


@command("PING", pre_registration=True, help="PING token")
def ping(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    if not msg.params:
        rb.numeric(N.ERR_NOORIGIN, "No origin specified")
        return None
    rb.server_msg("PONG", server.name, msg.params[0])
    return _after_messages_in_flight(server)


async def _after_messages_in_flight(server: IrcServer) -> None:
    """Answer PING after the messages already in flight are delivered, so a client that PINGs
    to synchronise sees everything sent before its PING, from any connection, first.

    Lines another connection sent behind its own earlier PING wait for that PING, so this one
    first waits for the PING received just before it (which waited for the one before it, and
    so on), for at most PING_ORDER_WAIT: one future per PING, so a burst of PINGs costs linear
    time, and a steady stream of them cannot push the answers ever later. Then lines received
    in this loop turn (a WebSocket frame is read by a task, a connection resumes in a callback)
    get two turns to reach the store."""
    previous = server.last_ping
    mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    server.last_ping = mine
    try:
        if previous is not None and not previous.done():
            await asyncio.wait((previous,), timeout=PING_ORDER_WAIT)
        for _ in range(2):
            await asyncio.sleep(0)
        await server.state.store.barrier()
    finally:
        mine.set_result(None)
        if server.last_ping is mine:
            server.last_ping = None


@command("PONG", pre_registration=True, help="PONG token")
def pong(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    return None


@command("QUIT", pre_registration=True, help="QUIT [:reason]")
def quit_(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    reason = msg.params[0] if msg.params else ""
    client.quit_reason = f"Quit: {reason}"
    rb.flush()
    client.close(client.quit_reason)
    return None
