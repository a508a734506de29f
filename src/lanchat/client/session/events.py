"""What a :class:`~lanchat.client.session.state.ClientSession` reports: frozen event records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One PRIVMSG or NOTICE, live or from history.

    ``conversation`` is where it belongs: the channel, or for a direct message the other
    person's nick (the sender, or the recipient of one's own message)."""

    time: datetime
    sender: str
    target: str
    text: str
    conversation: str
    direct: bool
    own: bool
    action: bool = False
    notice: bool = False
    msgid: str | None = None


@dataclass(frozen=True, slots=True)
class WhoEntry:
    """One line of a WHO reply."""

    nick: str
    user: str
    host: str
    realname: str
    away: bool
    prefix: str


@dataclass(frozen=True, slots=True)
class CapsNegotiated:
    """CAP negotiation is over; ``sasl`` tells whether a login can be attempted."""

    sasl: bool


@dataclass(frozen=True, slots=True)
class LoginFailed:
    """The credentials were refused (or the login could not go on); ``reason`` says why.
    ``final``: logging in cannot work on this server at all."""

    reason: str
    bad_credentials: bool = True
    final: bool = False


@dataclass(frozen=True, slots=True)
class Registered:
    """The server welcomed us (001) under ``nick``."""

    nick: str
    account: str | None


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A live message (one's own included, through echo-message)."""

    message: ChatMessage


@dataclass(frozen=True, slots=True)
class HistoryReceived:
    """A ``chathistory`` batch for ``target``, oldest message first."""

    target: str
    messages: tuple[ChatMessage, ...]


@dataclass(frozen=True, slots=True)
class Joined:
    """``nick`` joined ``channel``."""

    channel: str
    nick: str
    own: bool
    time: datetime


@dataclass(frozen=True, slots=True)
class Parted:
    """``nick`` left ``channel`` (``by`` is set when it was a kick)."""

    channel: str
    nick: str
    reason: str
    own: bool
    time: datetime
    by: str | None = None


@dataclass(frozen=True, slots=True)
class UserQuit:
    """``nick`` disconnected; ``channels`` are the channels we shared with them."""

    nick: str
    reason: str
    channels: tuple[str, ...]
    time: datetime


@dataclass(frozen=True, slots=True)
class NickChanged:
    """``old`` is now known as ``new``."""

    old: str
    new: str
    own: bool
    time: datetime


@dataclass(frozen=True, slots=True)
class TopicShown:
    """The topic of a channel as asked for or shown on joining (``None``: no topic)."""

    channel: str
    text: str | None


@dataclass(frozen=True, slots=True)
class TopicChanged:
    """Someone set a channel's topic."""

    channel: str
    nick: str
    text: str
    time: datetime


@dataclass(frozen=True, slots=True)
class NamesListed:
    """The members of a channel (with their ``@``/``+`` prefixes), after a join."""

    channel: str
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WhoListed:
    """The answer to ``WHO mask``."""

    mask: str
    entries: tuple[WhoEntry, ...]


@dataclass(frozen=True, slots=True)
class AwayChanged:
    """``nick`` went away (``message``) or came back (``None``), from away-notify."""

    nick: str
    message: str | None
    time: datetime


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the server says: a server NOTICE, the MOTD, a confirmation."""

    text: str
    time: datetime


@dataclass(frozen=True, slots=True)
class ServerError:
    """An error reply (4xx/5xx numeric or FAIL), as text for the user."""

    text: str
    time: datetime


@dataclass(frozen=True, slots=True)
class Disconnecting:
    """The server sent ERROR: it is closing the connection."""

    reason: str


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """A line from the server the session could not make sense of (it was ignored)."""

    command: str


Event = (
    CapsNegotiated
    | LoginFailed
    | Registered
    | MessageReceived
    | HistoryReceived
    | Joined
    | Parted
    | UserQuit
    | NickChanged
    | TopicShown
    | TopicChanged
    | NamesListed
    | WhoListed
    | AwayChanged
    | Notice
    | ServerError
    | Disconnecting
    | MalformedLine
)
