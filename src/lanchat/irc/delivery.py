"""The bus subscriber that turns domain events into lines in recipients' queues.

For each event it renders one line per distinct set of relevant capabilities among the
recipients and appends that same bytes object to every recipient's queue. The user whose
command caused the event gets its copy through its reply buffer, so labeled-response applies.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from itertools import repeat
from typing import Any, cast
from weakref import WeakKeyDictionary

from lanchat.core.events import (
    AccountChanged,
    AwayChanged,
    ChannelModeChanged,
    Event,
    Invited,
    Joined,
    Kicked,
    MessageSent,
    NickChanged,
    Parted,
    Quit,
    RealnameChanged,
    Redacted,
    TopicChanged,
    Wallops,
    WatchedUserChanged,
)
from lanchat.core.model import Actor, Channel, Session
from lanchat.irc.client import (
    R_ACCOUNT_NOTIFY,
    R_ACCOUNT_TAG,
    R_AWAY_NOTIFY,
    R_ECHO,
    R_EXTENDED_JOIN,
    R_EXTENDED_MONITOR,
    R_INVITE_NOTIFY,
    R_REDACTION,
    R_SERVER_TIME,
    R_SETNAME,
    Client,
    User,
)
from lanchat.irc.outbox import Flushable, Outbox
from lanchat.irc.render import MESSAGE_BITS, MULTILINE_BITS, event_line, message_lines, render_sent
from lanchat.irc.replies import ReplyBuffer

EVENT_BITS = R_SERVER_TIME | R_ACCOUNT_TAG
Renderer = Callable[[int], bytes]

#: The reply buffer of the command being handled (set by the dispatcher; asyncio copies it
#: into the callbacks and tasks a command starts, so it follows the command to completion,
#: even when the connection has gone on to its next lines meanwhile).
ACTING: ContextVar[ReplyBuffer | None] = ContextVar("lanchat_acting", default=None)


class Delivery:
    """Renders and queues every published event."""

    def __init__(self, outbox: Outbox, channels: Mapping[str, Channel]) -> None:
        self.outbox = outbox
        #: The live channels by key: a channel message goes to its members' queues through
        #: the lists kept in ``_groups`` (see channel_fanout).
        self.channels = channels
        self._groups: WeakKeyDictionary[Channel, _ChannelQueues] = WeakKeyDictionary()
        #: Events delivered, one per recipient user (for /metrics).
        self.deliveries = 0
        self._table: dict[type, Callable[[Any, Sequence[Session], User | None], None]] = {
            MessageSent: self._message,
            Joined: self._joined,
            Parted: self._simple,
            Kicked: self._simple,
            Quit: self._simple,
            NickChanged: self._simple,
            TopicChanged: self._topic,
            ChannelModeChanged: self._simple,
            AwayChanged: self._away,
            AccountChanged: self._account,
            RealnameChanged: self._realname,
            Invited: self._invited,
            Redacted: self._redacted,
            Wallops: self._simple,
            WatchedUserChanged: self._watched,
        }

    def __call__(self, event: Event, recipients: Sequence[Session], origin: Session | None) -> None:
        self._table[type(event)](event, recipients, cast(User | None, origin))

    # -- mechanics -------------------------------------------------------------------------

    def fanout(self, recipients: Sequence[Session], relevant: int, render: Renderer) -> None:
        """Queue ``render(mask)`` to each recipient's connections, rendering once per mask."""
        cache: dict[int, bytes] = {}
        dirty = self.outbox.dirty
        self.deliveries += len(recipients)
        for user in cast(Sequence[User], recipients):
            c = user.conn
            key = c.render_mask & relevant
            data = cache.get(key)
            if data is None:
                data = cache[key] = render(key)
            if data:
                q = c.outq
                if not q:
                    dirty.append(c)
                q.append(data)
            if user.more:
                self._fanout_more(user.more, relevant, render, cache)
        self.outbox.schedule()

    def channel_fanout(
        self, channel: Channel, recipients: Sequence[Session], origin: User | None, relevant: int, render: Renderer
    ) -> bool:
        """Queue ``render(mask)`` to every member of ``channel`` but ``origin`` (who must be
        the only member not in ``recipients``). The members' queues are kept in lists by mask,
        rebuilt when the membership or a connection changes, so that each message costs one
        C-level loop per mask instead of Python work per member. False (nothing queued) when
        ``recipients`` are not the channel's other members: the caller fans out itself."""
        members = channel.members
        excluded = 1 if origin is not None and origin in members else 0
        if len(recipients) + excluded != len(members):
            return False
        lists = self._groups.get(channel)
        outbox = self.outbox
        if (
            lists is None
            or lists.version != channel.membership_version
            or lists.generation != outbox.generation
            or lists.relevant != relevant
        ):
            lists = self._groups[channel] = _ChannelQueues(channel, outbox.generation, relevant)
        self.deliveries += len(recipients)
        rendered: dict[int, bytes] = {}
        groups = outbox.dirty_groups
        for mask, conns, queues in lists.by_mask:
            data = rendered[mask] = render(mask)
            if data:
                deque(map(list.append, queues, repeat(data)), 0)
                groups[id(conns)] = conns
        if excluded:
            assert origin is not None
            # The sender's connections were in the lists: take back what was just queued.
            for c in origin.conns:
                if rendered.get(c.render_mask & relevant):
                    c.outq.pop()
        outbox.schedule()
        return True

    def _fanout_more(self, conns: list[Client], relevant: int, render: Renderer, cache: dict[int, bytes]) -> None:
        for c in conns:
            key = c.render_mask & relevant
            data = cache.get(key)
            if data is None:
                data = cache[key] = render(key)
            if data:
                c.queue(data)

    @staticmethod
    def to_origin(origin: User | None, relevant: int, render: Renderer, *, acting_needs: int = 0) -> None:
        """Give the acting user's connections their copy.

        The connection whose command caused the event gets it through its reply buffer (so
        labeled-response applies), and only if it has ``acting_needs`` (e.g. echo-message);
        the user's other connections always get it, so every device sees the same thing.
        """
        if origin is None:
            return
        acting_rb = ACTING.get()
        acting = acting_rb.client if acting_rb is not None else None
        for c in origin.conns:
            if c is acting and acting_needs and not c.render_mask & acting_needs:
                continue
            data = render(c.render_mask & relevant)
            if not data:
                continue
            if c is not acting or acting_rb is None or acting_rb.flushed:
                c.queue(data)
            else:
                for line in data.split(b"\r\n")[:-1]:
                    acting_rb.add_line(line + b"\r\n")

    # -- per event -------------------------------------------------------------------------

    def _message(self, ev: MessageSent, recipients: Sequence[Session], origin: User | None) -> None:
        render: Renderer = lambda mask: render_sent(ev, mask)  # noqa: E731
        channel = None if ev.status else self.channels.get(ev.record.conversation)
        if channel is None or not self.channel_fanout(channel, recipients, origin, MULTILINE_BITS, render):
            self.fanout(recipients, MULTILINE_BITS, render)
        self.to_origin(origin, MULTILINE_BITS, render, acting_needs=R_ECHO)

    def _joined(self, ev: Joined, recipients: Sequence[Session], origin: User | None) -> None:
        away = origin.away if origin is not None else None

        def render(mask: int) -> bytes:
            params = [ev.channel, ev.actor.account or "*", ev.realname] if mask & R_EXTENDED_JOIN else [ev.channel]
            line = event_line(mask, ev.actor, "JOIN", params)
            if away and mask & R_AWAY_NOTIFY:
                line += event_line(mask, ev.actor, "AWAY", [away])
            return line

        self.fanout(recipients, EVENT_BITS | R_EXTENDED_JOIN | R_AWAY_NOTIFY, render)
        self.to_origin(origin, EVENT_BITS | R_EXTENDED_JOIN, render)

    def _simple(self, ev: Event, recipients: Sequence[Session], origin: User | None) -> None:
        actor, command, params = _simple_form(ev)
        render: Renderer = lambda mask: event_line(mask, actor, command, params)  # noqa: E731
        self.fanout(recipients, EVENT_BITS, render)
        if isinstance(ev, Quit) or (isinstance(ev, Wallops) and (origin is None or "w" not in origin.modes)):
            return
        self.to_origin(origin, EVENT_BITS, render)

    def _topic(self, ev: TopicChanged, recipients: Sequence[Session], origin: User | None) -> None:
        record = ev.record
        if record is None:
            self._simple(ev, recipients, origin)
            return
        render: Renderer = lambda mask: message_lines(record, mask)  # noqa: E731
        self.fanout(recipients, MESSAGE_BITS, render)
        self.to_origin(origin, MESSAGE_BITS, render)

    def _gated(self, bit: int, recipients: Sequence[Session], origin: User | None, render: Renderer) -> None:
        def gated(mask: int) -> bytes:
            return render(mask) if mask & bit else b""

        self.fanout(recipients, EVENT_BITS | bit, gated)
        self.to_origin(origin, EVENT_BITS | bit, gated)

    def _away(self, ev: AwayChanged, recipients: Sequence[Session], origin: User | None) -> None:
        params = [ev.message] if ev.message is not None else []
        self._gated(R_AWAY_NOTIFY, recipients, None, lambda m: event_line(m, ev.actor, "AWAY", params))

    def _account(self, ev: AccountChanged, recipients: Sequence[Session], origin: User | None) -> None:
        name = ev.account or "*"
        self._gated(R_ACCOUNT_NOTIFY, recipients, origin, lambda m: event_line(m, ev.actor, "ACCOUNT", [name]))

    def _realname(self, ev: RealnameChanged, recipients: Sequence[Session], origin: User | None) -> None:
        self._gated(R_SETNAME, recipients, origin, lambda m: event_line(m, ev.actor, "SETNAME", [ev.realname]))

    def _watched(self, ev: WatchedUserChanged, recipients: Sequence[Session], origin: User | None) -> None:
        change = ev.change
        if isinstance(change, AwayChanged):
            bit, command = R_AWAY_NOTIFY, "AWAY"
            params = [change.message] if change.message is not None else []
        elif isinstance(change, AccountChanged):
            bit, command, params = R_ACCOUNT_NOTIFY, "ACCOUNT", [change.account or "*"]
        else:
            bit, command, params = R_SETNAME, "SETNAME", [change.realname]
        needed = bit | R_EXTENDED_MONITOR

        def render(mask: int) -> bytes:
            return event_line(mask, change.actor, command, params) if mask & needed == needed else b""

        self.fanout(recipients, EVENT_BITS | needed, render)

    def _redacted(self, ev: Redacted, recipients: Sequence[Session], origin: User | None) -> None:
        params = [ev.target, ev.msgid, ev.reason] if ev.reason else [ev.target, ev.msgid]
        self._gated(R_REDACTION, recipients, origin, lambda m: event_line(m, ev.actor, "REDACT", params))

    def _invited(self, ev: Invited, recipients: Sequence[Session], origin: User | None) -> None:
        params = [ev.target, ev.channel]
        render: Renderer = lambda m: event_line(m, ev.actor, "INVITE", params)  # noqa: E731
        self.fanout([r for r in recipients if r.nick == ev.target], EVENT_BITS, render)
        others = [r for r in recipients if r.nick != ev.target]
        self._gated(R_INVITE_NOTIFY, others, None, render)


class _ChannelQueues:
    """A channel's member connections and their output queues, grouped by render mask."""

    __slots__ = ("by_mask", "generation", "relevant", "version")

    def __init__(self, channel: Channel, generation: int, relevant: int) -> None:
        self.version = channel.membership_version
        self.generation = generation
        self.relevant = relevant
        grouped: dict[int, tuple[list[Flushable], list[list[bytes]]]] = {}
        for session in channel.members:
            for c in cast(User, session).conns:
                conns, queues = grouped.setdefault(c.render_mask & relevant, ([], []))
                conns.append(c)
                queues.append(c.outq)
        self.by_mask = [(mask, conns, queues) for mask, (conns, queues) in grouped.items()]


def _simple_form(ev: Event) -> tuple[Actor, str, list[str]]:
    """(actor, command, params) of the events that render the same for everyone."""
    if isinstance(ev, Parted):
        return ev.actor, "PART", [ev.channel, ev.reason] if ev.reason else [ev.channel]
    if isinstance(ev, Kicked):
        return ev.actor, "KICK", [ev.channel, ev.victim, ev.reason]
    if isinstance(ev, Quit):
        return ev.actor, "QUIT", [ev.reason]
    if isinstance(ev, NickChanged):
        return ev.actor, "NICK", [ev.new_nick]
    if isinstance(ev, TopicChanged):
        return ev.actor, "TOPIC", [ev.channel, ev.topic]
    if isinstance(ev, ChannelModeChanged):
        return ev.actor, "MODE", [ev.channel, ev.modes, *ev.args]
    if isinstance(ev, Wallops):
        return ev.actor, "WALLOPS", [ev.text]
    raise TypeError(f"no simple form for {type(ev).__name__}")
