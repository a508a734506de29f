"""An IRC client connection: a chat Session plus its protocol state and output queue."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lanchat.core.model import Session
from lanchat.irc.link import Link
from lanchat.proto import caps as C
from lanchat.proto.message import Message, serialize_tags

if TYPE_CHECKING:
    import asyncio

    from lanchat.irc.outbox import Outbox
    from lanchat.irc.replies import ReplyBuffer

#: While its password checks are queued or running (behind a login storm, or throttled), an
#: unregistered connection may take up to this many registration timeouts in all.
LOGIN_WAIT_ALLOWANCE = 5

# Bits of Client.render_mask: every capability that changes what a client is sent.
R_MESSAGE_TAGS = C.TAG_MESSAGE_TAGS
R_SERVER_TIME = C.TAG_SERVER_TIME
R_ACCOUNT_TAG = C.TAG_ACCOUNT
R_BATCH = C.TAG_BATCH
R_MULTILINE = 1 << 4
R_EXTENDED_JOIN = 1 << 5
R_AWAY_NOTIFY = 1 << 6
R_ACCOUNT_NOTIFY = 1 << 7
R_SETNAME = 1 << 8
R_INVITE_NOTIFY = 1 << 9
R_REDACTION = 1 << 10
R_ECHO = 1 << 11
R_LABELED = 1 << 12
R_MULTI_PREFIX = 1 << 13
R_USERHOST_IN_NAMES = 1 << 14
R_CHATHISTORY = 1 << 15
R_READ_MARKER = 1 << 16
R_EVENT_PLAYBACK = 1 << 17
R_CHGHOST = 1 << 18
R_CAP_NOTIFY = 1 << 19
R_EXTENDED_MONITOR = 1 << 20

CAP_BITS = {
    C.MESSAGE_TAGS: R_MESSAGE_TAGS,
    C.SERVER_TIME: R_SERVER_TIME,
    C.ACCOUNT_TAG: R_ACCOUNT_TAG,
    C.BATCH: R_BATCH,
    C.MULTILINE: R_MULTILINE,
    C.EXTENDED_JOIN: R_EXTENDED_JOIN,
    C.AWAY_NOTIFY: R_AWAY_NOTIFY,
    C.ACCOUNT_NOTIFY: R_ACCOUNT_NOTIFY,
    C.SETNAME: R_SETNAME,
    C.INVITE_NOTIFY: R_INVITE_NOTIFY,
    C.MESSAGE_REDACTION: R_REDACTION,
    C.ECHO_MESSAGE: R_ECHO,
    C.LABELED_RESPONSE: R_LABELED,
    C.MULTI_PREFIX: R_MULTI_PREFIX,
    C.USERHOST_IN_NAMES: R_USERHOST_IN_NAMES,
    C.CHATHISTORY: R_CHATHISTORY,
    C.READ_MARKER: R_READ_MARKER,
    C.EVENT_PLAYBACK: R_EVENT_PLAYBACK,
    C.CHGHOST: R_CHGHOST,
    C.CAP_NOTIFY: R_CAP_NOTIFY,
    C.EXTENDED_MONITOR: R_EXTENDED_MONITOR,
}

# Tags a client receives without message-tags, each tied to its own capability.
_TAG_CAPS = {"time": R_SERVER_TIME, "account": R_ACCOUNT_TAG, "batch": R_BATCH, "label": R_LABELED}


@dataclass(slots=True)
class MultilineBatch:
    """A draft/multiline batch the client is sending."""

    ref: str
    target: str
    tags: dict[str, str]
    label: str | None
    kind: str = ""
    lines: list[tuple[str, bool]] = field(default_factory=list)
    size: int = 0
    failed: bool = False


class Client:
    """One connection. Before registration it carries the identity being built; after, it is
    attached to a :class:`User` (which several connections of one account may share)."""

    __slots__ = (
        "account",
        "account_admin",
        "account_key",
        "batch",
        "cap_negotiating",
        "cap_version",
        "caps",
        "checking_login",
        "closing",
        "conn_id",
        "connected_at",
        "host",
        "ip",
        "last_read",
        "link",
        "login_wait_forgiven",
        "outbox",
        "outq",
        "pass_arg",
        "ping_sent",
        "quit_reason",
        "rb",
        "realname",
        "reg_key",
        "reg_nick",
        "registering",
        "render_mask",
        "sasl_buffer",
        "sasl_failures",
        "sasl_mech",
        "session",
        "storing",
        "storing_count",
        "user",
        "user_given",
    )

    def __init__(self, link: Link, outbox: Outbox, conn_id: str, host: str) -> None:
        self.link = link
        self.outbox = outbox
        self.outq: list[bytes] = []
        self.conn_id = conn_id
        self.ip = link.peer_ip
        self.host = host
        self.reg_nick = "*"
        self.reg_key = ""
        self.user = ""
        self.realname = ""
        self.account: str | None = None
        self.account_key: str | None = None
        self.account_admin = False
        self.session: User | None = None
        self.caps: set[str] = set()
        self.cap_version = 0
        self.cap_negotiating = False
        self.render_mask = 0
        self.registering = False
        self.pass_arg: str | None = None
        self.sasl_mech: str | None = None
        self.sasl_buffer = ""
        self.sasl_failures = 0
        self.rb: ReplyBuffer | None = None
        #: The last of this connection's messages still on their way to the store, and how
        #: many are (see IrcServer._dispatch: later messages go on meanwhile).
        self.storing: asyncio.Future[Any] | None = None
        self.storing_count = 0
        self.batch: MultilineBatch | None = None
        self.connected_at = time.monotonic()
        #: A password check of this connection is queued or running (see IrcServer.sweep).
        self.checking_login = False
        #: Seconds of waiting for password checks not counted against the registration timeout
        #: (``connected_at`` was moved forward by as much).
        self.login_wait_forgiven = 0.0
        self.last_read = self.connected_at
        self.ping_sent = False
        self.closing = False
        self.quit_reason = ""
        self.user_given = False

    def __repr__(self) -> str:
        return f"<Client {self.conn_id} {self.nick}>"

    @property
    def nick(self) -> str:
        """The nick: the user's once registered, ``*`` before NICK."""
        session = self.session
        return session.nick if session is not None else self.reg_nick

    @property
    def registered(self) -> bool:
        """True once the connection is attached to a user."""
        return self.session is not None

    @property
    def me(self) -> User:
        """The user this connection belongs to (only for registered connections)."""
        session = self.session
        assert session is not None, "connection is not registered"
        return session

    @property
    def mask(self) -> str:
        """``nick!user@host`` as known so far."""
        return f"{self.nick}!{self.user or '*'}@{self.host}"

    # -- capabilities ----------------------------------------------------------------------

    def has(self, bit: int) -> bool:
        """True when the client negotiated the capability with this render bit."""
        return bool(self.render_mask & bit)

    def set_caps(self, enable: list[str], disable: list[str]) -> None:
        """Apply a CAP REQ that was accepted."""
        self.caps.difference_update(disable)
        self.caps.update(enable)
        mask = 0
        for cap in self.caps:
            mask |= CAP_BITS.get(cap, 0)
        if self.cap_version >= 302:
            mask |= R_CAP_NOTIFY
        if mask != self.render_mask:
            self.render_mask = mask
            if self.session is not None:  # only a user's connections are in delivery lists
                self.outbox.generation += 1

    # -- output ----------------------------------------------------------------------------

    def queue(self, data: bytes) -> None:
        """Queue serialized lines; written at the end of this loop iteration."""
        if self.closing:
            return
        self.outbox.queue(self, data)

    def queue_all(self, lines: list[bytes]) -> None:
        """Queue several serialized lines, in order."""
        if self.closing:
            return
        self.outbox.queue_all(self, lines)

    def send(self, msg: Message) -> None:
        """Queue a message, keeping only the tags this client negotiated."""
        self.queue(self.encode(msg))

    def encode(self, msg: Message) -> bytes:
        """Serialize ``msg`` for this client (tags filtered by its capabilities)."""
        if msg.tags:
            mask = self.render_mask
            if not mask & R_MESSAGE_TAGS:
                kept = {k: v for k, v in msg.tags.items() if mask & _TAG_CAPS.get(k, 0)}
                if kept != msg.tags:
                    msg = Message(msg.command, msg.params, msg.source, kept)
        return msg.to_bytes()

    def flush(self) -> None:
        """Write the queue to the link (called by the outbox)."""
        lines = self.outq
        if lines:
            self.link.write_lines(lines)
            lines.clear()

    def close(self, reason: str) -> None:
        """Flush what is queued, send ERROR with the reason and disconnect."""
        if self.closing:
            return
        self.flush()
        self.closing = True
        self.quit_reason = self.quit_reason or reason
        self.link.close(reason)


class User(Session):
    """A registered user: the chat Session plus the connections attached to it.

    ``conn`` is the first connection and ``more`` the others (usually none), so that fan-out
    stays one attribute read per recipient in the common case.
    """

    __slots__ = ("conn", "more")

    def __init__(self, conn: Client, nick: str, key: str) -> None:
        super().__init__(nick, key, conn.user, conn.host, conn.ip, conn.realname)
        self.account = conn.account
        self.account_key = conn.account_key
        self.admin = conn.account_admin
        self.conn = conn
        self.more: list[Client] = []

    @property
    def conns(self) -> list[Client]:
        """Every connection of this user."""
        return [self.conn, *self.more]

    def attach(self, conn: Client) -> None:
        """Add another connection of the same account."""
        self.more.append(conn)
        conn.session = self
        conn.outbox.generation += 1

    def detach(self, conn: Client) -> bool:
        """Remove a connection; returns True when it was the last one."""
        conn.outbox.generation += 1
        if conn is self.conn:
            if not self.more:
                return True
            self.conn = self.more.pop(0)
        elif conn in self.more:
            self.more.remove(conn)
        return False


def add_tags(line: bytes, tags: dict[str, str]) -> bytes:
    """Insert tags at the front of a serialized line (merging with tags it has)."""
    extra = serialize_tags(tags).encode("utf-8")
    if line.startswith(b"@"):
        return b"@" + extra + b";" + line[1:]
    return b"@" + extra + b" " + line


def has_batch_tag(line: bytes) -> bool:
    """True when a serialized line already carries a ``batch`` tag."""
    if not line.startswith(b"@"):
        return False
    section = line[: line.find(b" ")]
    return section.startswith(b"@batch=") or b";batch=" in section
