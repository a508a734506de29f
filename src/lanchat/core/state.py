"""The live chat state shared by the core services: who is online and which channels exist."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

from lanchat.core.errors import NoSuchChannel, NotOnChannel
from lanchat.core.events import Event
from lanchat.core.model import Channel, Session
from lanchat.core.ports import Bus, Store
from lanchat.proto.names import casefold


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """The settings the core needs (a slice of the server config)."""

    casemapping: str = "rfc1459"
    nick_length: int = 32
    default_channel: str = "#general"
    max_channels: int = 100
    topic_length: int = 390
    kick_length: int = 390
    away_length: int = 390
    realname_length: int = 390
    whowas_size: int = 1000
    monitor_limit: int = 100
    list_limit: int = 200


@dataclass(frozen=True, slots=True)
class WhowasEntry:
    """A user who went offline or changed nick, for WHOWAS."""

    nick: str
    user: str
    host: str
    realname: str
    account: str | None
    time: float


class ChatState:
    """Sessions by nick, channels by name, and the plumbing every service uses."""

    def __init__(self, store: Store, bus: Bus, settings: ChatSettings) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.sessions: dict[str, Session] = {}
        self.channels: dict[str, Channel] = {}
        self.by_account: dict[str, set[Session]] = {}
        #: nick key -> sessions that MONITOR it.
        self.watchers: dict[str, set[Session]] = {}
        self.whowas: deque[WhowasEntry] = deque(maxlen=settings.whowas_size)
        self.started = time.time()
        self.max_sessions = 0
        #: How many online sessions have each user mode (LUSERS counts +i and +o without a scan).
        self.user_mode_counts: Counter[str] = Counter()
        self._last_ms = 0

    def now_ms(self) -> int:
        """Current time in ms, strictly increasing: every message and every logout gets its
        own instant, so "after X" is never ambiguous."""
        now = int(time.time() * 1000)
        if now <= self._last_ms:
            now = self._last_ms + 1
        self._last_ms = now
        return now

    def is_online(self, session: Session) -> bool:
        """True while ``session`` is the one connected under its nick (not gone, not replaced)."""
        return self.sessions.get(session.key) is session

    def set_user_mode(self, session: Session, letter: str, on: bool) -> bool:
        """Set or clear one of ``session``'s user modes; returns False when it was already so."""
        if (letter in session.modes) == on:
            return False
        online = self.is_online(session)
        if on:
            session.modes.add(letter)
            if online:
                self.user_mode_counts[letter] += 1
        else:
            session.modes.discard(letter)
            if online:
                self.user_mode_counts[letter] -= 1
        return True

    def fold(self, name: str) -> str:
        """Casefold a nick or channel name with the server's CASEMAPPING."""
        return casefold(name, self.settings.casemapping)

    def session(self, nick: str) -> Session | None:
        """The online session using ``nick``."""
        return self.sessions.get(self.fold(nick))

    def channel(self, name: str) -> Channel | None:
        """The channel called ``name``."""
        return self.channels.get(self.fold(name))

    def existing_channel(self, name: str) -> Channel:
        """The channel called ``name``; raises :class:`NoSuchChannel`."""
        channel = self.channel(name)
        if channel is None:
            raise NoSuchChannel(name, "No such channel")
        return channel

    def joined_channel(self, session: Session, name: str) -> Channel:
        """The channel called ``name``, when ``session`` is in it; raises otherwise."""
        channel = self.existing_channel(name)
        if session not in channel.members:
            raise NotOnChannel(name, "You're not on that channel")
        return channel

    def is_default(self, channel: Channel) -> bool:
        """True for the channel everyone is joined to at login."""
        default = self.settings.default_channel
        return bool(default) and channel.key == self.fold(default)

    def drop_if_empty(self, channel: Channel) -> None:
        """Forget a channel nobody is in and no account belongs to (the default one stays)."""
        if channel.members or channel.member_accounts or self.is_default(channel):
            return
        if self.channels.get(channel.key) is channel:
            del self.channels[channel.key]
            self.store.delete_channel(channel.key)

    def publish(self, event: Event, recipients: Sequence[Session], origin: Session | None = None) -> None:
        """Hand an event to the bus for the given sessions (``origin`` is handled by the sink)."""
        self.bus.publish(event, recipients, origin)

    @staticmethod
    def peers(session: Session) -> list[Session]:
        """Everyone sharing at least one channel with ``session``, without it."""
        seen: dict[Session, None] = {}
        for channel in session.channels.values():
            seen.update(dict.fromkeys(channel.members))
        seen.pop(session, None)
        return list(seen)

    @staticmethod
    def identity(session: Session) -> str:
        """The key a user's direct messages are filed under: the account, else this session."""
        return session.account_key or f"~{session.uid}"

    def dm_conversation(self, a: str, b: str) -> str:
        """History key of the direct conversation between two identities."""
        return " ".join(sorted((a, b)))
