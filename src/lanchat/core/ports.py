"""The interfaces the core reaches storage and pub/sub through.

store/ and bus/ implement these; nothing in core/ imports an adapter. Every method that may
touch a disk or a network is a coroutine (or returns an awaitable) so that a SQLite thread, an
asyncpg pool or a Redis connection can sit behind it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lanchat.core.events import Event, StoredMessage
from lanchat.core.model import Session


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A stored account. ``key`` is the casefolded name."""

    name: str
    key: str
    password_hash: str
    admin: bool = False
    created_ms: int = 0
    last_seen_ms: int = 0


@dataclass(slots=True)
class ChannelRecord:
    """A stored channel with its lists (mode, mask, set_by, set_at) and stored members."""

    name: str
    key: str
    created: int
    topic: str = ""
    topic_by: str = ""
    topic_at: int = 0
    modes: str = "nt"
    password: str | None = None
    limit: int | None = None
    lists: list[tuple[str, str, str, int]] = field(default_factory=list)
    member_accounts: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WebSessionRecord:
    """A browser login: the SHA-256 of its token (the token itself is never stored)."""

    token_hash: str
    account: str
    created_ms: int
    last_used_ms: int


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """A shared file. ``id`` names it on disk; ``name`` is what the user called it."""

    id: str
    name: str
    type: str
    size: int
    account: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A point in a conversation: a msgid, or a time in ms when ``msgid`` is None."""

    msgid: str | None = None
    time_ms: int = 0


class AccountStore(Protocol):
    """Accounts and their password hashes."""

    async def get_account(self, key: str) -> AccountRecord | None: ...
    async def add_account(self, record: AccountRecord) -> bool: ...
    async def set_password_hash(self, key: str, password_hash: str) -> bool: ...
    async def set_admin(self, key: str, admin: bool) -> bool: ...
    async def delete_account(self, key: str) -> bool: ...
    async def list_accounts(self) -> list[AccountRecord]: ...
    async def count_accounts(self) -> int: ...
    def set_last_seen(self, key: str, time_ms: int) -> Awaitable[None]: ...


class ChannelStore(Protocol):
    """Channels, their settings and lists, and which accounts belong to them."""

    async def load_channels(self) -> list[ChannelRecord]: ...
    def save_channel(self, record: ChannelRecord) -> Awaitable[None]: ...
    def delete_channel(self, key: str) -> Awaitable[None]: ...
    def save_membership(self, account_key: str, channel_key: str, status: str) -> Awaitable[None]: ...
    def delete_membership(self, account_key: str, channel_key: str) -> Awaitable[None]: ...
    async def memberships(self, account_key: str) -> list[tuple[str, str]]: ...


class HistoryStore(Protocol):
    """Every channel message and direct message, durable once ``append`` completes."""

    def append(self, message: StoredMessage, dm_parties: Sequence[tuple[str, str, str]]) -> Awaitable[None]:
        """Store a message; for a DM, ``dm_parties`` lists (owner, peer key, peer name)."""
        ...

    async def find(self, msgid: str) -> StoredMessage | None: ...

    async def query(
        self,
        conversation: str,
        *,
        after: MessageRef | None,
        before: MessageRef | None,
        limit: int,
        newest_first: bool,
        with_events: bool = True,
    ) -> list[StoredMessage]:
        """Messages strictly between the refs, the ``limit`` nearest to ``after`` (or to
        ``before`` when ``newest_first``), returned oldest first. Without ``with_events``
        only PRIVMSG and NOTICE (no TAGMSG, no TOPIC changes)."""
        ...

    def redact(self, msgid: str, by: str, reason: str, time_ms: int) -> Awaitable[None]: ...

    async def search(
        self,
        conversations: Sequence[str],
        words: Sequence[str],
        *,
        sender: str | None,
        after_ms: int | None,
        before_ms: int | None,
        limit: int,
    ) -> list[StoredMessage]:
        """PRIVMSG/NOTICE in those conversations containing every word (full-text), the
        ``limit`` latest, returned oldest first."""
        ...

    async def dm_peers(self, owner: str, since_ms: int, until_ms: int, limit: int) -> list[tuple[str, str, int]]:
        """(peer key, peer name, last message time) of the owner's DM conversations whose
        latest message is in the window, oldest first."""
        ...

    async def latest_times(self, conversations: Sequence[str], since_ms: int, until_ms: int) -> dict[str, int]:
        """Time of each conversation's latest message, for those where it is in the window."""
        ...


class WebSessionStore(Protocol):
    """Browser sessions."""

    def add_web_session(self, record: WebSessionRecord) -> Awaitable[None]: ...
    async def get_web_session(self, token_hash: str) -> WebSessionRecord | None: ...
    def touch_web_session(self, token_hash: str, time_ms: int) -> Awaitable[None]: ...
    def delete_web_session(self, token_hash: str) -> Awaitable[None]: ...
    def delete_web_sessions_of(self, account: str) -> Awaitable[None]: ...


class FileStore(Protocol):
    """Shared files' metadata (the bytes live in the data folder)."""

    def add_upload(self, record: UploadRecord) -> Awaitable[None]: ...
    async def get_upload(self, upload_id: str) -> UploadRecord | None: ...
    async def upload_usage(self, account: str) -> int: ...


class SettingsStore(Protocol):
    """Settings changed at run time (by admins in the browser)."""

    async def get_setting(self, key: str) -> str | None: ...
    def set_setting(self, key: str, value: str) -> Awaitable[None]: ...


class MarkerStore(Protocol):
    """Read markers (draft/read-marker): per account and conversation, a time in ms."""

    async def get_marker(self, account_key: str, target_key: str) -> int | None: ...
    def set_marker(self, account_key: str, target_key: str, time_ms: int) -> Awaitable[None]: ...


class AccountData(AccountStore, WebSessionStore, Protocol):
    """Accounts with their browser sessions (a password change logs those out)."""


class Store(AccountStore, ChannelStore, HistoryStore, MarkerStore, WebSessionStore, FileStore, SettingsStore, Protocol):
    """Everything the server persists; one adapter implements all of it."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    def barrier(self) -> Awaitable[None]:
        """Completes once every write submitted so far is committed and the callbacks waiting
        for the last message appended have run."""
        ...


#: Receives every event with the local sessions it is for and the session that caused it.
EventSink = Callable[[Event, Sequence[Session], Session | None], None]


class Bus(Protocol):
    """Fan-out of domain events to the sessions they concern."""

    def subscribe(self, sink: EventSink) -> None: ...
    def publish(self, event: Event, recipients: Sequence[Session], origin: Session | None) -> None: ...
    async def close(self) -> None: ...
