"""Channels: joining, leaving, kicks, topics, invites and modes, with persistence."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from lanchat.core.access import is_banned, list_matches
from lanchat.core.errors import (
    BadChannelKey,
    BadChannelName,
    BannedFromChannel,
    ChannelIsFull,
    ChanOpPrivsNeeded,
    ChatError,
    InvalidModeParam,
    InviteOnlyChannel,
    NoSuchNick,
    NotOnChannel,
    TooManyChannels,
    UnknownMode,
    UserNotInChannel,
    UserOnChannel,
)
from lanchat.core.events import ChannelModeChanged, Invited, Joined, Kicked, Parted, StoredMessage, TopicChanged
from lanchat.core.ids import new_msgid
from lanchat.core.model import (
    FLAG_MODES,
    LIST_MODES,
    STATUS_MODES,
    Actor,
    Channel,
    ListEntry,
    Session,
)
from lanchat.core.ports import ChannelRecord
from lanchat.core.state import ChatState
from lanchat.proto.names import normalize_ban_mask, parse_decimal, valid_channel

log = logging.getLogger("lanchat.channels")

MAX_LIST_ENTRIES = 100
MAX_KEY_LENGTH = 32


@dataclass(frozen=True, slots=True)
class ModeChange:
    """One requested channel mode change."""

    adding: bool
    letter: str
    arg: str | None = None


class ChannelService:
    """Channel operations. Every change is published as an event and persisted."""

    def __init__(self, state: ChatState, server_actor: Actor) -> None:
        self.state = state
        self.server_actor = server_actor

    # -- loading and saving ----------------------------------------------------------------

    async def load(self) -> None:
        """Load stored channels; drop the ones no account belongs to."""
        state = self.state
        default_key = state.fold(state.settings.default_channel) if state.settings.default_channel else ""
        for record in await state.store.load_channels():
            if not record.member_accounts and record.key != default_key:
                state.store.delete_channel(record.key)
                continue
            channel = Channel(
                name=record.name,
                key=record.key,
                created=record.created,
                topic=record.topic,
                topic_by=record.topic_by,
                topic_at=record.topic_at,
                modes=set(record.modes),
                password=record.password,
                limit=record.limit,
            )
            for mode, mask, set_by, set_at in record.lists:
                channel.lists.setdefault(mode, {})[state.fold(mask)] = ListEntry(mask, set_by, set_at)
            channel.member_accounts = set(record.member_accounts)
            state.channels[channel.key] = channel
        if default_key and default_key not in state.channels:
            name = state.settings.default_channel
            state.channels[default_key] = channel = Channel(name=name, key=default_key)
            self._save(channel)

    def _save(self, channel: Channel) -> None:
        lists = [
            (mode, entry.mask, entry.set_by, entry.set_at)
            for mode, entries in channel.lists.items()
            for entry in entries.values()
        ]
        self.state.store.save_channel(
            ChannelRecord(
                name=channel.name,
                key=channel.key,
                created=channel.created,
                topic=channel.topic,
                topic_by=channel.topic_by,
                topic_at=channel.topic_at,
                modes="".join(sorted(channel.modes)),
                password=channel.password,
                limit=channel.limit,
                lists=lists,
            )
        )

    # -- lookups ---------------------------------------------------------------------------

    def matches(self, channel: Channel, mode: str, session: Session) -> bool:
        """True when ``session`` matches an entry of the channel's +b/+e/+I list."""
        return list_matches(channel, mode, session, self.state.settings.casemapping)

    def is_banned(self, channel: Channel, session: Session) -> bool:
        """Banned (+b) and not excepted (+e)."""
        return is_banned(channel, session, self.state.settings.casemapping)

    def visible(self, channel: Channel, viewer: Session) -> bool:
        """Whether ``viewer`` may see the channel in LIST/WHOIS (not secret, or a member)."""
        return "s" not in channel.modes or viewer in channel.members or viewer.is_oper

    # -- join / part / kick ----------------------------------------------------------------

    def join(
        self, session: Session, name: str, key: str | None = None, *, restore_status: str | None = None
    ) -> Channel | None:
        """Join (creating the channel, creator as op). None when already a member.

        ``restore_status`` rejoins a stored membership: access checks other than bans are
        skipped and the stored status letters are given back. A session that is no longer
        online (it disconnected while the caller awaited something) joins nothing: None.
        """
        state = self.state
        if not state.is_online(session):
            return None
        if not valid_channel(name):
            raise BadChannelName(name, "Invalid channel name")
        channel = state.channel(name)
        if channel is not None and session in channel.members:
            return None
        if len(session.channels) >= state.settings.max_channels:
            raise TooManyChannels(name, "You have joined too many channels")
        status = ""
        if channel is None:
            channel = Channel(name=name, key=state.fold(name))
            state.channels[channel.key] = channel
            status = "o"
            self._save(channel)
        elif restore_status is not None:
            if self.is_banned(channel, session):
                raise BannedFromChannel(channel.name, "Cannot join channel (+b)")
            status = restore_status
        else:
            self._check_access(channel, session, key)
            if state.is_default(channel):
                status = "o" if session.admin else ""  # nobody founded it: admins run it
            elif not channel.members and not channel.member_accounts:
                status = "o"
        channel.add_member(session, status)
        session.channels[channel.key] = channel
        channel.invited.discard(session.key)
        if session.account_key:
            channel.member_accounts.add(session.account_key)
            state.store.save_membership(session.account_key, channel.key, status)
        others = [m for m in channel.members if m is not session]
        state.publish(Joined(channel.name, session.actor, session.realname), others, session)
        if restore_status:
            args = tuple(session.nick for _ in restore_status)
            state.publish(ChannelModeChanged(channel.name, self.server_actor, "+" + restore_status, args), others, None)
        return channel

    def _check_access(self, channel: Channel, session: Session, key: str | None) -> None:
        invited = session.key in channel.invited
        if channel.password is not None and key != channel.password:
            raise BadChannelKey(channel.name, "Cannot join channel (+k)")
        if channel.limit is not None and len(channel.members) >= channel.limit and not invited:
            raise ChannelIsFull(channel.name, "Cannot join channel (+l)")
        if "i" in channel.modes and not invited and not self.matches(channel, "I", session):
            raise InviteOnlyChannel(channel.name, "Cannot join channel (+i)")
        if self.is_banned(channel, session) and not invited:
            raise BannedFromChannel(channel.name, "Cannot join channel (+b)")

    async def saved_channels(self, session: Session) -> list[tuple[str, str | None]]:
        """Channels a newly registered session goes back to: (name, stored status), the
        default channel first (status None: joined like a new member)."""
        state = self.state
        wanted: list[tuple[str, str | None]] = []
        if session.account_key:
            for channel_key, status in await state.store.memberships(session.account_key):
                channel = state.channels.get(channel_key)
                if channel is not None:
                    wanted.append((channel.name, status))
        default = state.settings.default_channel
        if default and state.fold(default) not in {state.fold(n) for n, _ in wanted}:
            wanted.insert(0, (default, None))
        return wanted

    def rejoin(self, session: Session, name: str, status: str | None) -> Channel | None:
        """Join a channel from :meth:`saved_channels`; a stored membership that can no
        longer be used (a ban) is forgotten. Returns None when not joined."""
        try:
            return self.join(session, name, restore_status=status)
        except ChatError:
            if status is not None and session.account_key:
                self._forget_membership(self.state.fold(name), session.account_key)
            return None

    def _forget_membership(self, channel_key: str, account_key: str) -> None:
        channel = self.state.channels.get(channel_key)
        self.state.store.delete_membership(account_key, channel_key)
        if channel is not None:
            channel.member_accounts.discard(account_key)
            self.state.drop_if_empty(channel)

    def _remove(self, channel: Channel, session: Session) -> None:
        channel.remove_member(session)
        session.channels.pop(channel.key, None)
        if session.account_key:
            self._forget_membership(channel.key, session.account_key)
        else:
            self.state.drop_if_empty(channel)

    def part(self, session: Session, name: str, reason: str) -> None:
        """Leave a channel."""
        channel = self.state.joined_channel(session, name)
        others = [m for m in channel.members if m is not session]
        self.state.publish(Parted(channel.name, session.actor, reason), others, session)
        self._remove(channel, session)

    def part_all(self, session: Session) -> None:
        """JOIN 0: leave every channel."""
        for channel in list(session.channels.values()):
            self.part(session, channel.name, "Left all channels")

    def kick(self, session: Session, name: str, victim_nick: str, reason: str) -> None:
        """Remove a member (needs +o, or server operator)."""
        channel = self.state.existing_channel(name)
        if not session.is_oper:
            if session not in channel.members:
                raise NotOnChannel(channel.name, "You're not on that channel")
            if not channel.is_op(session):
                raise ChanOpPrivsNeeded(channel.name, "You're not channel operator")
        victim = self.state.session(victim_nick)
        if victim is None or victim not in channel.members:
            raise UserNotInChannel(victim_nick, channel.name)
        reason = reason[: self.state.settings.kick_length]
        others = [m for m in channel.members if m is not session]
        self.state.publish(Kicked(channel.name, session.actor, victim.nick, reason), others, session)
        self._remove(channel, victim)

    # -- topic and invites -----------------------------------------------------------------

    async def set_topic(self, session: Session, name: str, topic: str) -> None:
        """Set or clear the topic (+t: ops only). The change is kept in the channel's history
        (shown to clients with event playback) before the members see it."""
        channel = self.state.joined_channel(session, name)
        if "t" in channel.modes and not channel.is_op(session):
            raise ChanOpPrivsNeeded(channel.name, "You're not channel operator")
        channel.topic = topic[: self.state.settings.topic_length]
        channel.topic_by = session.mask
        channel.topic_at = int(time.time())
        self._save(channel)
        ms = self.state.now_ms()
        record = StoredMessage(new_msgid(ms), ms, "TOPIC", session.actor, channel.name, channel.key, channel.topic)
        await self.state.store.append(record, ())
        others = [m for m in channel.members if m is not session]
        self.state.publish(TopicChanged(channel.name, session.actor, channel.topic, record), others, session)

    def invite(self, session: Session, nick: str, name: str) -> Session:
        """Invite a user; returns the invited session."""
        target = self.state.session(nick)
        if target is None:
            raise NoSuchNick(nick, "No such nick")
        channel = self.state.joined_channel(session, name)
        if "i" in channel.modes and not channel.is_op(session):
            raise ChanOpPrivsNeeded(channel.name, "You're not channel operator")
        if target in channel.members:
            raise UserOnChannel(target.nick, channel.name)
        channel.invited.add(target.key)
        ops = [m for m, status in channel.members.items() if "o" in status and m is not session]
        self.state.publish(Invited(channel.name, session.actor, target.nick), [target, *ops], session)
        return target

    # -- modes -----------------------------------------------------------------------------

    def change_modes(self, session: Session, name: str, changes: Iterable[ModeChange]) -> list[ChatError]:
        """Apply mode changes (needs +o); publishes what changed, returns per-mode errors."""
        channel = self.state.existing_channel(name)
        if not channel.is_op(session):
            raise ChanOpPrivsNeeded(channel.name, "You're not channel operator")
        applied: list[tuple[bool, str, str | None]] = []
        errors: list[ChatError] = []
        persist = False
        for change in changes:
            try:
                result = self._apply(session, channel, change)
            except ChatError as exc:
                errors.append(exc)
                continue
            if result is not None:
                applied.append(result)
                persist = persist or change.letter not in STATUS_MODES
        if not applied:
            return errors
        if persist:
            self._save(channel)
        modes, args = _mode_string(applied)
        others = [m for m in channel.members if m is not session]
        self.state.publish(ChannelModeChanged(channel.name, session.actor, modes, tuple(args)), others, session)
        return errors

    def _apply(self, session: Session, channel: Channel, change: ModeChange) -> tuple[bool, str, str | None] | None:
        letter, adding, arg = change.letter, change.adding, change.arg
        if letter in STATUS_MODES:
            return self._apply_status(channel, change)
        if letter in LIST_MODES:
            if arg is None:
                return None
            return self._apply_list(session, channel, change)
        if letter == "k":
            if adding:
                if not arg or " " in arg or "," in arg or len(arg) > MAX_KEY_LENGTH:
                    raise InvalidModeParam(channel.name, "k", "*", "Invalid channel key")
                if channel.password == arg:
                    return None
                channel.password = arg
                return True, "k", arg
            if channel.password is None:
                return None
            channel.password = None
            return False, "k", "*"
        if letter == "l":
            if adding:
                limit = parse_decimal(arg) if arg is not None else None
                if limit is None or limit <= 0:
                    raise InvalidModeParam(channel.name, "l", arg or "*", "Invalid limit")
                if channel.limit == limit:
                    return None
                channel.limit = limit
                return True, "l", str(channel.limit)
            if channel.limit is None:
                return None
            channel.limit = None
            return False, "l", None
        if letter in FLAG_MODES:
            if adding == (letter in channel.modes):
                return None
            if adding:
                channel.modes.add(letter)
            else:
                channel.modes.discard(letter)
            return adding, letter, None
        raise UnknownMode(letter, "is unknown mode char to me")

    def _apply_status(self, channel: Channel, change: ModeChange) -> tuple[bool, str, str | None] | None:
        if change.arg is None:
            return None
        target = self.state.session(change.arg)
        if target is None:
            raise NoSuchNick(change.arg, "No such nick")
        if target not in channel.members:
            raise UserNotInChannel(target.nick, channel.name)
        status = channel.members[target]
        if change.adding == (change.letter in status):
            return None
        if change.adding:
            status = "".join(m for m in STATUS_MODES if m in status or m == change.letter)
        else:
            status = status.replace(change.letter, "")
        channel.members[target] = status
        if target.account_key:
            self.state.store.save_membership(target.account_key, channel.key, status)
        return change.adding, change.letter, target.nick

    def _apply_list(
        self, session: Session, channel: Channel, change: ModeChange
    ) -> tuple[bool, str, str | None] | None:
        assert change.arg is not None
        mask = change.arg if change.arg.startswith("$a:") else normalize_ban_mask(change.arg)
        entries = channel.lists.setdefault(change.letter, {})
        key = self.state.fold(mask)
        if change.adding:
            if key in entries:
                return None
            if len(entries) >= MAX_LIST_ENTRIES:
                raise InvalidModeParam(channel.name, change.letter, mask, "Channel list is full")
            entries[key] = ListEntry(mask, session.mask, int(time.time()))
            return True, change.letter, mask
        entry = entries.pop(key, None)
        if entry is None:
            return None
        return False, change.letter, entry.mask


def _mode_string(applied: list[tuple[bool, str, str | None]]) -> tuple[str, list[str]]:
    out: list[str] = []
    args: list[str] = []
    sign: bool | None = None
    for adding, letter, arg in applied:
        if adding is not sign:
            out.append("+" if adding else "-")
            sign = adding
        out.append(letter)
        if arg is not None:
            args.append(arg)
    return "".join(out), args
