"""The chat domain's live objects: online sessions and channels."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

#: Channel member status letters, highest first, and the prefix each shows as.
STATUS_MODES = "ov"
STATUS_PREFIXES = {"o": "@", "v": "+"}
#: Channel modes that hold lists, take a parameter, or are plain flags.
LIST_MODES = "beI"
PARAM_MODES = "kl"
FLAG_MODES = "Cimnst"
DEFAULT_CHANNEL_MODES = frozenset("nt")
#: User modes a user may set on itself (``o`` only comes from OPER).
USER_MODES = "iowB"

_session_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Actor:
    """A snapshot of who did something, as other users see them."""

    nick: str
    user: str
    host: str
    account: str | None = None
    bot: bool = False

    @property
    def mask(self) -> str:
        """``nick!user@host``, or just the name for the server itself."""
        return f"{self.nick}!{self.user}@{self.host}" if self.user else self.nick


class Session:
    """One registered connection's user, as the chat core sees it (no protocol state)."""

    __slots__ = (
        "_actor",
        "account",
        "account_key",
        "admin",
        "away",
        "channels",
        "host",
        "ip",
        "key",
        "last_active",
        "modes",
        "monitoring",
        "nick",
        "realname",
        "signon",
        "uid",
        "user",
    )

    def __init__(self, nick: str, key: str, user: str, host: str, ip: str, realname: str) -> None:
        self.nick = nick
        self.key = key
        self.user = user
        self.host = host
        self.ip = ip
        self.realname = realname
        self.account: str | None = None
        self.account_key: str | None = None
        #: The account is a lanchat admin (may OPER with its password, is op in the default channel).
        self.admin = False
        self.away: str | None = None
        self.modes: set[str] = set()
        self.channels: dict[str, Channel] = {}
        self.signon = time.time()
        self.last_active = self.signon
        #: MONITOR list: casefolded nick -> the nick as the user wrote it.
        self.monitoring: dict[str, str] = {}
        #: Unique for the life of the process; a guest's direct messages are filed under it.
        self.uid = next(_session_ids)
        self._actor: Actor | None = None

    @property
    def actor(self) -> Actor:
        """The current snapshot of this user; rebuilt after any change to its identity."""
        actor = self._actor
        if actor is None:
            actor = self._actor = Actor(self.nick, self.user, self.host, self.account, "B" in self.modes)
        return actor

    def identity_changed(self) -> None:
        """Call after changing nick, user, host, account or bot mode."""
        self._actor = None

    @property
    def mask(self) -> str:
        """``nick!user@host``."""
        return f"{self.nick}!{self.user}@{self.host}"

    @property
    def is_oper(self) -> bool:
        """True for a server operator."""
        return "o" in self.modes


@dataclass(eq=False)
class ListEntry:
    """One +b/+e/+I entry."""

    mask: str
    set_by: str
    set_at: int


@dataclass(eq=False)
class Channel:
    """A channel: its settings, lists and the sessions in it with their status letters."""

    name: str
    key: str
    created: int = field(default_factory=lambda: int(time.time()))
    topic: str = ""
    topic_by: str = ""
    topic_at: int = 0
    modes: set[str] = field(default_factory=lambda: set(DEFAULT_CHANNEL_MODES))
    password: str | None = None
    limit: int | None = None
    lists: dict[str, dict[str, ListEntry]] = field(default_factory=lambda: {"b": {}, "e": {}, "I": {}})
    members: dict[Session, str] = field(default_factory=dict)
    invited: set[str] = field(default_factory=set)
    #: Accounts with a stored membership (online or not); the channel lives while any remain.
    member_accounts: set[str] = field(default_factory=set)
    #: Goes up whenever a session joins or leaves (what was built from the membership, such
    #: as a transport's delivery lists, knows when to rebuild).
    membership_version: int = 0

    def add_member(self, session: Session, status: str) -> None:
        """Put a session in the channel (or set its status)."""
        if session not in self.members:
            self.membership_version += 1
        self.members[session] = status

    def remove_member(self, session: Session) -> None:
        """Take a session out of the channel, if it is in."""
        if self.members.pop(session, None) is not None:
            self.membership_version += 1

    def status(self, session: Session) -> str:
        """The member's status letters (``"ov"`` …), or ``""``."""
        return self.members.get(session, "")

    def is_op(self, session: Session) -> bool:
        """True when ``session`` has +o here."""
        return "o" in self.members.get(session, "")

    def mode_string(self, *, show_key: bool) -> tuple[str, list[str]]:
        """The ``+flags`` string and its parameters, for RPL_CHANNELMODEIS."""
        letters = "".join(sorted(self.modes))
        params: list[str] = []
        if self.password is not None:
            letters += "k"
            params.append(self.password if show_key else "*")
        if self.limit is not None:
            letters += "l"
            params.append(str(self.limit))
        return "+" + letters, params
