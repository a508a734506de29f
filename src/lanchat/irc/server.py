"""The IRC application: dispatches parsed lines to handlers and owns connection lifecycles."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lanchat import __version__
from lanchat.config import Config
from lanchat.core.accounts import AccountService
from lanchat.core.channels import ChannelService
from lanchat.core.errors import ChatError
from lanchat.core.messaging import STATUS_PREFIXES, MessageService
from lanchat.core.model import Actor, Session
from lanchat.core.passwords import PasswordHasher
from lanchat.core.ports import Bus, Store
from lanchat.core.presence import PresenceService
from lanchat.core.state import ChatSettings, ChatState
from lanchat.eager import start_eagerly
from lanchat.irc import handlers
from lanchat.irc.client import LOGIN_WAIT_ALLOWANCE, Client, User
from lanchat.irc.commands import COMMANDS
from lanchat.irc.delivery import ACTING, Delivery
from lanchat.irc.errors import reply_error
from lanchat.irc.handlers.messaging import client_tags, too_long_to_relay
from lanchat.irc.isupport import MULTILINE_MAX_BYTES, MULTILINE_MAX_LINES, isupport_tokens
from lanchat.irc.link import Link
from lanchat.irc.outbox import Outbox
from lanchat.irc.replies import NumericTemplate, ReplyBuffer
from lanchat.logs import CONNECTION, PRESENCE, PresenceLog
from lanchat.proto import numerics as N
from lanchat.proto.caps import offered_caps
from lanchat.proto.errors import InputTooLong, InvalidUtf8, MalformedMessage, ProtocolError
from lanchat.proto.message import Message, parse_bytes, parse_tags
from lanchat.proto.names import is_channel

log = logging.getLogger("lanchat.irc")


class IrcServer:
    """Everything IRC: the command table, registration, replies, timeouts."""

    def __init__(
        self,
        config: Config,
        store: Store,
        bus: Bus,
        accounts: AccountService,
        hasher: PasswordHasher,
    ) -> None:
        self.config = config
        self.name = config.server_name
        self.version = f"lanchat-{__version__}"
        settings = ChatSettings(
            nick_length=config.nick_length,
            default_channel=config.default_channel,
            max_channels=config.max_channels,
        )
        self.state = ChatState(store, bus, settings)
        self.server_actor = Actor(config.server_name, "", "")
        self.presence = PresenceService(self.state, self._on_presence)
        self.channels = ChannelService(self.state, self.server_actor)
        self.messages = MessageService(self.state)
        self.accounts = accounts
        self.hasher = hasher
        self.outbox = Outbox()
        self.delivery = Delivery(self.outbox, self.state.channels)
        bus.subscribe(self.delivery)
        #: Counters for /metrics.
        self.registrations = 0
        self.lines_in = 0
        self.sendq_disconnects = 0
        self.clients: dict[str, Client] = {}
        #: Connections that have not finished registering (LUSERS' "unknown"); a registered one
        #: leaves at its welcome.
        self.registering: dict[str, Client] = {}
        #: Completes when the PING received last has been answered (see PING).
        self.last_ping: asyncio.Future[None] | None = None
        self.caps = offered_caps(multiline_max_bytes=MULTILINE_MAX_BYTES, multiline_max_lines=MULTILINE_MAX_LINES)
        self._sts: tuple[int, int] | None = None
        #: The upload URL for a connection (draft/FILEHOST), when the web port is on.
        self.filehost: Callable[[Link], str] | None = None
        self.isupport = isupport_tokens(config, settings)
        #: The welcome's lines rendered once, by upload URL (see registration.send_welcome).
        self.welcome_templates: dict[str | None, tuple[list[NumericTemplate], ...]] = {}
        self.created = time.time()
        self._conn_ids = itertools.count(1)
        #: Where "NAME is connected" / "NAME is disconnected" go (stdout, once set up).
        self.presence_log: PresenceLog = PRESENCE
        self._all_closed: asyncio.Event | None = None
        handlers.load()

    async def start(self) -> None:
        """Load persistent state (channels)."""
        await self.channels.load()

    def set_sts(self, tls_port: int, duration: int) -> None:
        """Advertise a Strict Transport Security policy (IRCv3 sts)."""
        self._sts = (tls_port, duration)

    def caps_for(self, client: Client) -> dict[str, str]:
        """The capabilities offered to this connection (sts depends on its transport)."""
        if self._sts is None:
            return self.caps
        port, duration = self._sts
        policy = f"duration={duration}" if client.link.secure else f"port={port}"
        return {**self.caps, "sts": policy}

    # -- connections -----------------------------------------------------------------------

    def connect(self, link: Link) -> Client:
        """A new connection arrived."""
        host = link.peer_ip
        if host.startswith(":"):
            host = "0" + host
        client = Client(link, self.outbox, f"c{next(self._conn_ids)}", host)
        self.clients[client.conn_id] = client
        self.registering[client.conn_id] = client
        return client

    def disconnected(self, client: Client, reason: str) -> None:
        """The connection is gone (closed by either side). Safe to call more than once."""
        if self.clients.pop(client.conn_id, None) is None:
            return
        self.registering.pop(client.conn_id, None)
        if not self.clients and self._all_closed is not None:
            self._all_closed.set()
        client.closing = True
        reason = client.quit_reason or reason
        if reason == "SendQ exceeded":
            self.sendq_disconnects += 1
        user = client.session
        if user is not None and user.detach(client):
            self.presence.disconnect(user, reason)
            self.messages.forget_guest(user)
            self.presence_log.line(_display_name(user) + " is disconnected")
        log.debug("closed: %s", reason, extra={"conn": client.conn_id})

    # -- dispatch --------------------------------------------------------------------------

    def handle_line(self, client: Client, raw: bytes) -> asyncio.Future[object] | None:
        """Process one received line. Returns a future when the command finishes later;
        the connection must not process its next line before then."""
        client.last_read = time.monotonic()
        client.ping_sent = False
        self.lines_in += 1
        try:
            msg = parse_bytes(raw)
        except ProtocolError as exc:
            self._protocol_error(client, raw, exc)
            return None
        verb = msg.command.upper()
        if client.batch is not None:
            if "batch" in msg.tags and verb != "BATCH":
                verb = "BATCH-LINE"
        elif verb in _PIPELINED_VERBS and self._channel_message(client, msg, verb):
            return None
        return self._dispatch(client, msg, verb)

    def _channel_message(self, client: Client, msg: Message, verb: str) -> bool:
        """The hot path: a plain ``PRIVMSG #channel :text`` (or NOTICE) that its sender may
        send, without a label, while fewer than PIPELINE_DEPTH of its messages are being
        stored. Does what the general path (``_dispatch``, ``_run``, the PRIVMSG handler)
        does for such a line, without the machinery other commands need: no reply buffer
        to fill (the one line back is the echo, queued directly), no handler lookup, one
        callback of its own once stored. Returns False, having done nothing, for any other
        line, errors included: the general path then handles and answers it."""
        session = client.session
        target = _one_target(client, msg, verb)
        if session is None or target is None or not is_channel(target) or "label" in msg.tags:
            return False
        text = msg.params[1]
        if not text:
            return False
        if client.storing is not None and client.storing_count >= PIPELINE_DEPTH:
            return False
        channel = self.state.channel(target)
        if channel is None or too_long_to_relay(client, verb, target, [text]):
            return False
        # The echo goes straight to the queue (as a finished command's would): the delivery
        # knows the acting connection by this reply buffer, already flushed.
        acting = ReplyBuffer(client, self.name, None)
        acting.flushed = True
        token = ACTING.set(acting)
        try:
            sent = self.messages.send_to_channel(session, channel, verb, text, client_tags(msg))
        except ChatError:
            return False
        finally:
            ACTING.reset(token)
        session.last_active = time.time()
        client.storing = sent
        client.storing_count += 1
        sent.add_done_callback(lambda done: self._channel_message_done(client, verb, done))
        return True

    def _channel_message_done(self, client: Client, verb: str, done: asyncio.Future[None]) -> None:
        _stored(client, done)
        if done.cancelled() or done.exception() is None:
            return
        # Not stored (the store failed): answered and logged as the general path would.
        token = CONNECTION.set(client.conn_id)
        try:
            self._completed(client, ReplyBuffer(client, self.name, None), verb, done)
        finally:
            CONNECTION.reset(token)

    def _dispatch(self, client: Client, msg: Message, verb: str) -> asyncio.Future[object] | None:
        """Run a command now, or once this connection's messages still being stored are out.

        A message to one channel or one online nick does not hold the connection up while it
        is being stored: the next such message goes on meanwhile (up to PIPELINE_DEPTH), so
        that one commit can carry several of them. They are stored, delivered and answered in
        the order they came, since commits complete in order. Any other command waits until
        they are all out, so that everything it does comes after them.
        """
        pipelined = client.registered and _pipelinable(self, client, msg, verb)
        storing = client.storing
        if storing is not None and (not pipelined or client.storing_count >= PIPELINE_DEPTH):
            return self._after(storing, client, msg, verb)
        result = self._run(client, msg, verb)
        if not pipelined or result is None or result.done():
            return result
        client.storing = result
        client.storing_count += 1
        result.add_done_callback(lambda done: _stored(client, done))
        return None

    def _after(
        self, storing: asyncio.Future[object], client: Client, msg: Message, verb: str
    ) -> asyncio.Future[object]:
        """Run a command once ``storing`` (and every message before it) is out."""
        finished: asyncio.Future[object] = asyncio.get_running_loop().create_future()

        def done(_: object = None) -> None:
            if not finished.done():
                finished.set_result(None)

        def go(_: object) -> None:
            # Runs after the callbacks that delivered and answered those messages.
            if client.closing:
                done()
                return
            pending = self._dispatch(client, msg, verb)
            if pending is None:
                done()
            else:
                pending.add_done_callback(done)

        storing.add_done_callback(go)
        return finished

    def _run(self, client: Client, msg: Message, verb: str) -> asyncio.Future[object] | None:
        rb = ReplyBuffer(client, self.name, msg.tags.get("label"))
        entry = COMMANDS.get(verb)
        if entry is None:
            if client.registered:
                rb.numeric(N.ERR_UNKNOWNCOMMAND, msg.command, "Unknown command")
            else:
                rb.numeric(N.ERR_NOTREGISTERED, "You have not registered")
            rb.flush()
            return None
        if not client.registered and not entry.pre_registration:
            rb.numeric(N.ERR_NOTREGISTERED, "You have not registered")
            rb.flush()
            return None
        if len(msg.params) < entry.min_params:
            rb.numeric(N.ERR_NEEDMOREPARAMS, verb, "Not enough parameters")
            rb.flush()
            return None
        if entry.oper and not (client.session is not None and client.session.is_oper):
            rb.numeric(N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
            rb.flush()
            return None
        if client.session is not None and verb not in _NOT_ACTIVITY:
            client.session.last_active = time.time()
        client.rb = rb
        token = ACTING.set(rb)
        conn_token = CONNECTION.set(client.conn_id)
        try:
            try:
                result = entry.handler(self, client, msg, rb)
            except ChatError as exc:
                result = None
                reply_error(rb, verb, exc)
            except Exception:
                result = None
                log.exception("%s failed", verb)
                rb.lines.clear()
                rb.numeric(N.ERR_UNKNOWNERROR, verb, "Internal error; the server logged it")
            if result is None:
                self._finish(client, rb)
                return None
            fut: asyncio.Future[object] = asyncio.ensure_future(result)
            fut.add_done_callback(lambda done: self._completed(client, rb, verb, done))
            return fut
        finally:
            ACTING.reset(token)
            CONNECTION.reset(conn_token)

    def _completed(self, client: Client, rb: ReplyBuffer, verb: str, done: asyncio.Future[Any]) -> None:
        if not done.cancelled():
            exc = done.exception()
            if isinstance(exc, ChatError):
                reply_error(rb, verb, exc)
            elif exc is not None:
                log.error("%s failed", verb, exc_info=exc)
                rb.numeric(N.ERR_UNKNOWNERROR, verb, "Internal error; the server logged it")
        if client.rb is rb:
            client.rb = None
        rb.flush()

    @staticmethod
    def _finish(client: Client, rb: ReplyBuffer) -> None:
        """Send the reply of a command that finished at once."""
        if client.rb is rb:
            client.rb = None
        storing = client.storing
        if storing is not None:
            # Earlier messages of this connection are still being stored: this reply goes
            # out after theirs.
            storing.add_done_callback(lambda _: rb.flush())
        else:
            rb.flush()

    def _protocol_error(self, client: Client, raw: bytes, exc: ProtocolError) -> None:
        rb = ReplyBuffer(client, self.name, _label_of(raw))
        if isinstance(exc, InputTooLong):
            rb.numeric(N.ERR_INPUTTOOLONG, "Input line was too long")
        elif isinstance(exc, InvalidUtf8):
            rb.fail(
                exc.command,
                "INVALID_UTF8",
                "Message rejected, your IRC software MUST use UTF-8 encoding on this network",
            )
        elif isinstance(exc, MalformedMessage):
            rb.numeric(N.ERR_UNKNOWNERROR, "*", f"Malformed message: {exc.detail}")
        rb.flush()

    def overlong_line(self, client: Client) -> None:
        """The framing layer dropped a line longer than any valid one."""
        rb = ReplyBuffer(client, self.name, None)
        rb.numeric(N.ERR_INPUTTOOLONG, "Input line was too long")
        rb.flush()

    # -- registration ----------------------------------------------------------------------

    def maybe_register(self, client: Client) -> Awaitable[None] | None:
        """Start registration when NICK, USER and CAP negotiation are all done."""
        if (
            client.registered
            or client.registering
            or client.cap_negotiating
            or client.reg_nick == "*"
            or not client.user_given
            or client.closing
        ):
            return None
        client.registering = True
        # A guest's registration seldom waits for anything: no task unless it does.
        return start_eagerly(self._register(client))

    async def _register(self, client: Client) -> None:
        from lanchat.irc.handlers.registration import complete_registration

        try:
            await complete_registration(self, client)
        finally:
            client.registering = False

    def log_connected(self, user: Session) -> None:
        """Print that a user is now connected."""
        self.presence_log.line(_display_name(user) + " is connected")

    # -- periodic work ---------------------------------------------------------------------

    def sweep(self) -> None:
        """Close dead and stuck connections; ping idle ones."""
        now = time.monotonic()
        cfg = self.config
        for client in list(self.clients.values()):
            if client.closing:
                continue
            idle = now - client.last_read
            if not client.registered:
                # Waiting for password checks does not count (connected_at moves forward), but an
                # unregistered connection never stays more than LOGIN_WAIT_ALLOWANCE timeouts.
                if client.checking_login:
                    since = now - (client.connected_at - client.login_wait_forgiven)
                    limit = cfg.registration_timeout * LOGIN_WAIT_ALLOWANCE
                else:
                    since, limit = now - client.connected_at, cfg.registration_timeout
                if since > limit:
                    client.close("Registration timed out")
            elif client.ping_sent:
                if idle > cfg.ping_interval + cfg.ping_timeout:
                    client.close(f"Ping timeout: {int(idle)} seconds")
            elif idle > cfg.ping_interval:
                client.ping_sent = True
                client.queue(f"PING :{self.name}\r\n".encode())

    async def shutdown(self, reason: str, grace: float) -> None:
        """Tell every client the server is going down, close them, wait up to ``grace`` s."""
        for client in list(self.clients.values()):
            client.close(reason)
        self.outbox.flush_all()
        if self.clients:
            self._all_closed = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed.wait(), grace)

    # -- helpers used by handlers ----------------------------------------------------------

    @staticmethod
    def conns_of(session: Session) -> list[Client]:
        """The connections of a user."""
        assert isinstance(session, User)
        return session.conns

    def _on_presence(self, watchers: list[Session], session: Session, online: bool, nick: str) -> None:
        for watcher in watchers:
            assert isinstance(watcher, User)
            if online:
                line = Message(N.RPL_MONONLINE, [watcher.nick, session.mask], self.name)
            else:
                line = Message(N.RPL_MONOFFLINE, [watcher.nick, nick], self.name)
            for conn in watcher.conns:
                conn.send(line)


#: Messages one connection may have on their way to the store while it goes on.
PIPELINE_DEPTH = 64
_PIPELINED_VERBS = frozenset({"PRIVMSG", "NOTICE"})


def _pipelinable(server: IrcServer, client: Client, msg: Message, verb: str) -> bool:
    """True for a PRIVMSG/NOTICE that the store holds up and nothing else: one target, a
    channel (not ``@#chan``, which is delivered at once) or a nick online now (an offline
    one needs an account lookup first)."""
    target = _one_target(client, msg, verb)
    return target is not None and (is_channel(target) or server.state.session(target) is not None)


def _one_target(client: Client, msg: Message, verb: str) -> str | None:
    """The target of a PRIVMSG/NOTICE with text, outside a client batch, to one channel or
    nick (not a list, not ``@#chan``); None for any other line."""
    if verb not in _PIPELINED_VERBS or len(msg.params) < 2 or client.batch is not None:
        return None
    target = msg.params[0]
    if not target or "," in target or target[0] in STATUS_PREFIXES:
        return None
    return target


def _stored(client: Client, done: asyncio.Future[Any]) -> None:
    client.storing_count -= 1
    if client.storing is done:
        client.storing = None


_NOT_ACTIVITY = frozenset({"PING", "PONG", "WHO", "WHOIS", "ISON", "USERHOST", "MONITOR", "CAP"})


def _display_name(user: Session) -> str:
    if user.account and user.account != user.nick:
        return f"{user.nick} (account {user.account})"
    return user.nick


def _label_of(raw: bytes) -> str | None:
    """The label of a line that failed to parse, so that the error can carry it."""
    if not raw.startswith(b"@"):
        return None
    end = raw.find(b" ")
    try:
        return parse_tags(raw[1 : end if end > 0 else None].decode("utf-8", "replace")).get("label")
    except ProtocolError:
        return None
