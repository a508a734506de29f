"""Messages: sending to channels and users (stored before anyone sees them), deleting,
reading history, and read markers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from lanchat.core.access import is_banned
from lanchat.core.errors import (
    CannotSendToChannel,
    NoSuchNick,
    RedactForbidden,
    UnknownMessage,
)
from lanchat.core.events import MessageSent, Redacted, StoredMessage
from lanchat.core.ids import new_msgid
from lanchat.core.model import Channel, Session
from lanchat.core.ports import MessageRef
from lanchat.core.state import ChatState
from lanchat.proto.names import is_channel, valid_nick

#: Client-only tags that describe a passing state, not content: never stored.
EPHEMERAL_TAGS = frozenset({"+typing", "+draft/typing"})
STATUS_PREFIXES = {"@": "o", "+": "ov"}
#: Read markers kept in memory for one guest (the oldest goes first).
MAX_GUEST_MARKERS = 200
#: Direct-message peers looked through when a read marker names an offline nick.
MAX_MARKER_PEERS = 1000


class MessageService:
    """Sends messages, keeps them in history, answers history queries."""

    def __init__(self, state: ChatState) -> None:
        self.state = state
        #: Read markers of sessions without an account: session uid -> {target key: ms}.
        self._guest_markers: dict[int, dict[str, int]] = {}

    # -- sending ---------------------------------------------------------------------------

    def send(
        self,
        session: Session,
        target: str,
        kind: str,
        text: str,
        tags: dict[str, str],
        lines: tuple[tuple[str, bool], ...] = (),
    ) -> Awaitable[None]:
        """Send PRIVMSG/NOTICE/TAGMSG text to a channel (``@#chan`` for ops only) or a nick.

        Channel checks raise at once; the returned awaitable completes once the message is
        durably stored and handed to the bus (the sender's echo included).
        """
        status = ""
        name = target
        if target[:1] in STATUS_PREFIXES and is_channel(target[1:]):
            status, name = target[0], target[1:]
        if is_channel(name):
            return self.send_to_channel(session, self.state.existing_channel(name), kind, text, tags, status, lines)
        message = (kind, text, tags, lines)
        peer = self.state.session(target)
        if peer is not None:  # no waiting before the append: order with other commands is kept
            return self._send_direct(session, [peer], self.state.identity(peer), peer.nick, message)
        return asyncio.ensure_future(self._send_offline(session, target, message))

    def send_to_channel(
        self,
        session: Session,
        channel: Channel,
        kind: str,
        text: str,
        tags: dict[str, str],
        status: str = "",
        lines: tuple[tuple[str, bool], ...] = (),
    ) -> asyncio.Future[None]:
        """:meth:`send` to a channel already looked up (``status`` "@" or "+" for its ops or
        voiced members only). Raises :class:`ChatError` at once when the session may not send
        there; the future completes once the message is stored and delivered."""
        self._check_can_send(session, channel, kind, text)
        record = self._record(session, kind, channel.name, channel.key, text, tags)
        event = MessageSent(record, status, lines)
        if status or not self._storable(kind, tags):
            self._deliver_to_channel(channel, event, session)
            return _done()
        return self._store_then(record, (), lambda: self._deliver_to_channel(channel, event, session))

    def _check_can_send(self, session: Session, channel: Channel, kind: str, text: str) -> None:
        status = channel.members.get(session)
        if "C" in channel.modes and kind != "TAGMSG" and _has_ctcp(text):
            raise CannotSendToChannel(channel.name, "Cannot send to channel (+C: no CTCP)")
        if status is None and "n" in channel.modes:
            raise CannotSendToChannel(channel.name, "Cannot send to channel (no external messages)")
        if not status:
            if "m" in channel.modes:
                raise CannotSendToChannel(channel.name, "Cannot send to channel (+m)")
            if is_banned(channel, session, self.state.settings.casemapping):
                raise CannotSendToChannel(channel.name, "Cannot send to channel (you're banned)")

    def _send_direct(
        self,
        session: Session,
        recipients: list[Session],
        peer_id: str,
        peer_name: str,
        message: tuple[str, str, dict[str, str], tuple[tuple[str, bool], ...]],
    ) -> Awaitable[None]:
        state = self.state
        kind, text, tags, lines = message
        my_id = state.identity(session)
        record = self._record(session, kind, peer_name, state.dm_conversation(my_id, peer_id), text, tags)
        event = MessageSent(record, "", lines)
        if not self._storable(kind, tags):
            state.publish(event, recipients, session)
            return _done()
        parties = ((my_id, peer_id, peer_name), (peer_id, my_id, session.nick))
        return self._store_then(record, parties, lambda: state.publish(event, recipients, session))

    async def _send_offline(
        self,
        session: Session,
        nick: str,
        message: tuple[str, str, dict[str, str], tuple[tuple[str, bool], ...]],
    ) -> None:
        account = await self.state.store.get_account(self.state.fold(nick))
        if account is None:
            raise NoSuchNick(nick, "No such nick/channel")
        # Offline (or online under another nick): stored, and seen at next login.
        recipients = list(self.state.by_account.get(account.key, ()))
        await self._send_direct(session, recipients, account.key, account.name, message)

    def _record(
        self, session: Session, kind: str, target: str, conversation: str, text: str, tags: dict[str, str]
    ) -> StoredMessage:
        ms = self.state.now_ms()
        return StoredMessage(new_msgid(ms), ms, kind, session.actor, target, conversation, text, tags)

    @staticmethod
    def _storable(kind: str, tags: dict[str, str]) -> bool:
        return kind != "TAGMSG" or any(t not in EPHEMERAL_TAGS for t in tags)

    def _store_then(
        self,
        record: StoredMessage,
        parties: tuple[tuple[str, str, str], ...],
        deliver: Callable[[], None],
    ) -> asyncio.Future[None]:
        stored = asyncio.ensure_future(self.state.store.append(record, parties))

        def on_stored(fut: asyncio.Future[None]) -> None:
            if not fut.cancelled() and fut.exception() is None:
                deliver()

        # Runs before any callback the caller adds: the message is out when the future is done.
        stored.add_done_callback(on_stored)
        return stored

    def _deliver_to_channel(self, channel: Channel, event: MessageSent, sender: Session) -> None:
        members = channel.members
        if event.status:
            needed = STATUS_PREFIXES[event.status]
            recipients = [m for m, s in members.items() if m is not sender and any(c in s for c in needed)]
        else:
            recipients = list(members)  # copied and searched in C: this runs for every message
            if sender in members:
                recipients.remove(sender)
        self.state.publish(event, recipients, sender)

    # -- deleting --------------------------------------------------------------------------

    async def redact(self, session: Session, target: str, msgid: str, reason: str) -> None:
        """Delete a stored message: its sender may, and so may the channel's ops."""
        state = self.state
        conversation, channel = self.conversation(session, target)
        record = await state.store.find(msgid)
        if (
            record is None
            or record.conversation != conversation
            or record.redacted
            or record.kind not in ("PRIVMSG", "NOTICE", "TAGMSG")
        ):
            raise UnknownMessage(msgid, "This message does not exist or is too old")
        if not self._is_own(session, record) and not (channel is not None and channel.is_op(session)):
            raise RedactForbidden(msgid, "You are not authorised to delete this message")
        await state.store.redact(msgid, session.mask, reason, state.now_ms())
        if channel is not None:
            recipients = [m for m in channel.members if m is not session]
            shown = channel.name
        else:
            peer = state.session(target)
            recipients = [peer] if peer is not None and peer is not session else []
            shown = target
        state.publish(Redacted(shown, session.actor, msgid, reason), recipients, session)

    def _is_own(self, session: Session, record: StoredMessage) -> bool:
        if record.sender.account is not None:
            return session.account_key == self.state.fold(record.sender.account)
        return session.account is None and self.state.fold(record.sender.nick) == session.key

    # -- history ---------------------------------------------------------------------------

    def conversation(self, session: Session, target: str) -> tuple[str, Channel | None]:
        """History key for ``target`` as seen by ``session`` (which must be in a channel)."""
        state = self.state
        if is_channel(target):
            channel = state.joined_channel(session, target)
            return channel.key, channel
        peer = state.session(target)
        peer_id = state.identity(peer) if peer is not None else state.fold(target)
        return state.dm_conversation(state.identity(session), peer_id), None

    async def history(
        self,
        session: Session,
        target: str,
        *,
        after: MessageRef | None = None,
        before: MessageRef | None = None,
        limit: int,
        newest_first: bool,
        with_events: bool = True,
    ) -> list[StoredMessage]:
        """Stored messages of a conversation the session may read, oldest first."""
        conversation, _ = self.conversation(session, target)
        return await self.state.store.query(
            conversation,
            after=after,
            before=before,
            limit=limit,
            newest_first=newest_first,
            with_events=with_events,
        )

    async def around(
        self, session: Session, target: str, ref: MessageRef, limit: int, with_events: bool = True
    ) -> list[StoredMessage]:
        """Up to ``limit`` messages centred on ``ref``, the referenced message included."""
        conversation, _ = self.conversation(session, target)
        store = self.state.store
        centre: list[StoredMessage] = []
        upper = ref
        if ref.msgid is not None:
            middle = await store.find(ref.msgid)
            if middle is None or middle.conversation != conversation or middle.redacted:
                return []
            centre = [middle]
            limit -= 1
        else:
            upper = MessageRef(time_ms=ref.time_ms + 1)  # a message at that very ms counts as "before"
        before = await store.query(
            conversation,
            after=None,
            before=upper,
            limit=(limit + 1) // 2,
            newest_first=True,
            with_events=with_events,
        )
        after = await store.query(
            conversation,
            after=ref,
            before=None,
            limit=limit - len(before),
            newest_first=False,
            with_events=with_events,
        )
        return before + centre + after

    async def targets(self, session: Session, since_ms: int, until_ms: int, limit: int) -> list[tuple[str, int]]:
        """(name, latest message ms) of conversations active in the window, oldest first."""
        state = self.state
        names = {channel.key: channel.name for channel in session.channels.values()}
        found = await state.store.latest_times(list(names), since_ms, until_ms)
        out = [(names[key], ms) for key, ms in found.items()]
        for _peer, name, ms in await state.store.dm_peers(state.identity(session), since_ms, until_ms, limit):
            out.append((name, ms))
        out.sort(key=lambda item: item[1])
        return out[:limit]

    async def search(
        self,
        session: Session,
        target: str | None,
        words: list[str],
        *,
        sender: str | None = None,
        after_ms: int | None = None,
        before_ms: int | None = None,
        limit: int,
    ) -> list[StoredMessage]:
        """Full-text search in one conversation, or in every one the session can read."""
        state = self.state
        if target is not None:
            conversations = [self.conversation(session, target)[0]]
        else:
            me = state.identity(session)
            conversations = [channel.key for channel in session.channels.values()]
            peers = await state.store.dm_peers(me, 0, 2**62, 1000)
            conversations += [state.dm_conversation(me, peer) for peer, _name, _ms in peers]
        return await state.store.search(
            conversations, words, sender=sender, after_ms=after_ms, before_ms=before_ms, limit=limit
        )

    async def missed_direct(self, session: Session, since_ms: int, until_ms: int, limit: int) -> list[StoredMessage]:
        """Direct messages to the session's account that arrived after ``since_ms`` and before
        ``until_ms``."""
        state = self.state
        if not session.account_key:
            return []
        me = session.account_key
        out: list[StoredMessage] = []
        for peer, _name, _ms in await state.store.dm_peers(me, since_ms, 2**62, 100):
            conversation = state.dm_conversation(me, peer)
            for record in await state.store.query(
                conversation,
                after=MessageRef(None, since_ms),
                before=MessageRef(None, until_ms),
                limit=limit,
                newest_first=False,
            ):
                if record.sender.account is None or state.fold(record.sender.account) != me:
                    out.append(record)
        out.sort(key=lambda r: r.time_ms)
        return out[-limit:]

    # -- read markers ----------------------------------------------------------------------

    async def check_marker_target(self, session: Session, target: str) -> None:
        """Raise unless ``target`` is a conversation the session may keep a read marker for: a
        channel it is in, or the nick of an online user, of an account, or of someone it has
        exchanged direct messages with. Keeps strangers from filling the marker table."""
        state = self.state
        if is_channel(target):
            state.joined_channel(session, target)
            return
        if not valid_nick(target, state.settings.nick_length):
            raise NoSuchNick(target, "No such nick/channel")
        key = state.fold(target)
        if key in state.sessions or await state.store.get_account(key) is not None:
            return
        peers = await state.store.dm_peers(state.identity(session), 0, 2**62, MAX_MARKER_PEERS)
        if not any(state.fold(name) == key for _peer, name, _ms in peers):
            raise NoSuchNick(target, "No such nick/channel")

    async def get_marker(self, session: Session, target: str) -> int | None:
        """The session's read marker for a conversation (ms), or None."""
        key = self.state.fold(target)
        if session.account_key:
            return await self.state.store.get_marker(session.account_key, key)
        markers = self._guest_markers.get(session.uid)
        return None if markers is None else markers.get(key)

    async def set_marker(self, session: Session, target: str, time_ms: int) -> tuple[int, list[Session]]:
        """Move the read marker forward; returns the stored value and every session to tell.
        Raises like :meth:`check_marker_target` for a target that cannot have one."""
        await self.check_marker_target(session, target)
        state = self.state
        key = state.fold(target)
        current = await self.get_marker(session, target)
        value = time_ms if current is None else max(current, time_ms)
        if session.account_key:
            if value != current:
                await state.store.set_marker(session.account_key, key, value)
            return value, list(state.by_account.get(session.account_key, {session}))
        if not state.is_online(session):
            return value, [session]  # left meanwhile: forget_guest already ran, keep nothing
        markers = self._guest_markers.setdefault(session.uid, {})
        if key not in markers and len(markers) >= MAX_GUEST_MARKERS:
            del markers[next(iter(markers))]  # the oldest goes
        markers[key] = value
        return value, [session]

    def forget_guest(self, session: Session) -> None:
        """Drop the in-memory read markers of a guest that left."""
        self._guest_markers.pop(session.uid, None)


def _has_ctcp(text: str) -> bool:
    """True when a line of the text is a CTCP other than ACTION (/me)."""
    return any(line.startswith("\x01") and not line.startswith("\x01ACTION ") for line in text.split("\n"))


def _done() -> asyncio.Future[None]:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    fut.set_result(None)
    return fut
