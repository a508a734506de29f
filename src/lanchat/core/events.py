"""Domain events: what happened, in chat terms. The bus carries these; irc/ renders them."""

from __future__ import annotations

from dataclasses import dataclass, field

from lanchat.core.model import Actor


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as history keeps it.

    ``conversation`` is the history key: the casefolded channel name, or for a direct
    message the two parties' keys sorted and joined by a space. ``tags`` holds the client-only
    tags (``+typing``, ``+draft/reply`` …) that travel with the message.
    """

    msgid: str
    time_ms: int
    kind: str
    sender: Actor
    target: str
    conversation: str
    text: str
    tags: dict[str, str] = field(default_factory=dict)
    redacted: bool = False


@dataclass(frozen=True, slots=True)
class MessageSent:
    """PRIVMSG / NOTICE / TAGMSG to a channel or a user.

    ``lines`` holds a multiline batch's parts as (text, concat) when there is more than one.
    ``status`` is the STATUSMSG prefix (``@`` / ``+``) or empty.
    """

    record: StoredMessage
    status: str = ""
    lines: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class Joined:
    """A user joined a channel."""

    channel: str
    actor: Actor
    realname: str


@dataclass(frozen=True, slots=True)
class Parted:
    """A user left a channel."""

    channel: str
    actor: Actor
    reason: str


@dataclass(frozen=True, slots=True)
class Kicked:
    """A user was removed from a channel."""

    channel: str
    actor: Actor
    victim: str
    reason: str


@dataclass(frozen=True, slots=True)
class Quit:
    """A user disconnected."""

    actor: Actor
    reason: str


@dataclass(frozen=True, slots=True)
class NickChanged:
    """A user changed nick; ``actor`` has the old nick."""

    actor: Actor
    new_nick: str


@dataclass(frozen=True, slots=True)
class TopicChanged:
    """A channel's topic was set or cleared."""

    channel: str
    actor: Actor
    topic: str
    record: StoredMessage | None = None


@dataclass(frozen=True, slots=True)
class ChannelModeChanged:
    """Channel modes changed; ``modes`` is the applied ``+o-v`` string, ``args`` its params."""

    channel: str
    actor: Actor
    modes: str
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AwayChanged:
    """A user went away (``message`` set) or came back (``None``)."""

    actor: Actor
    message: str | None


@dataclass(frozen=True, slots=True)
class AccountChanged:
    """A user logged in to (or out of) an account."""

    actor: Actor
    account: str | None


@dataclass(frozen=True, slots=True)
class RealnameChanged:
    """A user changed their real name (SETNAME)."""

    actor: Actor
    realname: str


@dataclass(frozen=True, slots=True)
class Invited:
    """A user was invited to a channel."""

    channel: str
    actor: Actor
    target: str


@dataclass(frozen=True, slots=True)
class Redacted:
    """A stored message was deleted; ``target`` is where it was sent."""

    target: str
    actor: Actor
    msgid: str
    reason: str


@dataclass(frozen=True, slots=True)
class Wallops:
    """A server-wide operator notice."""

    actor: Actor
    text: str


@dataclass(frozen=True, slots=True)
class WatchedUserChanged:
    """An away, account or real-name change, for users who MONITOR that nick without sharing
    a channel with it (their channel peers get the change itself)."""

    change: AwayChanged | AccountChanged | RealnameChanged


Event = (
    MessageSent
    | Joined
    | Parted
    | Kicked
    | Quit
    | NickChanged
    | TopicChanged
    | ChannelModeChanged
    | AwayChanged
    | AccountChanged
    | RealnameChanged
    | Invited
    | Redacted
    | Wallops
    | WatchedUserChanged
)
