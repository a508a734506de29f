"""Channel commands: JOIN, PART, TOPIC, NAMES, LIST, INVITE, KICK."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lanchat.core.errors import ChatError, NoSuchChannel
from lanchat.core.events import StoredMessage
from lanchat.core.model import STATUS_MODES, STATUS_PREFIXES, Channel, Session
from lanchat.irc.client import (
    R_CHATHISTORY,
    R_EXTENDED_JOIN,
    R_MULTI_PREFIX,
    R_READ_MARKER,
    R_USERHOST_IN_NAMES,
    Client,
    User,
)
from lanchat.irc.commands import Reply, command
from lanchat.irc.errors import reply_error
from lanchat.irc.handlers.history import send_history_batch
from lanchat.irc.render import event_line, iso_time
from lanchat.irc.replies import ReplyBuffer
from lanchat.proto import numerics as N
from lanchat.proto.message import Message
from lanchat.proto.names import is_channel, mask_matches, parse_decimal

if TYPE_CHECKING:
    from lanchat.irc.server import IrcServer

NAMES_LINE_BYTES = 400


@dataclass(slots=True)
class JoinExtras:
    """What a join shows besides NAMES, fetched before joining so that nothing overtakes the
    JOIN: the account's read marker and the recent history to replay."""

    marker: int | None = None
    marker_known: bool = False
    history: list[StoredMessage] = field(default_factory=list)


async def prepare_join(server: IrcServer, user: User, name: str, conns: list[Client] | None = None) -> JoinExtras:
    """Fetch what the user's connections (or ``conns``) will be shown when joining ``name``."""
    extras = JoinExtras()
    conns = user.conns if conns is None else conns
    if any(c.render_mask & R_READ_MARKER for c in conns):
        extras.marker = await server.messages.get_marker(user, name)
        extras.marker_known = True
    replay = server.config.history_replay
    if replay and any(not c.render_mask & R_CHATHISTORY for c in conns):
        extras.history = await server.state.store.query(
            server.state.fold(name), after=None, before=None, limit=replay, newest_first=True, with_events=False
        )
    return extras


def still_online(server: IrcServer, client: Client) -> bool:
    """After an await: False when the connection is closing or its user is no longer the
    online one (it disconnected meanwhile), so the command must stop changing state."""
    user = client.session
    return not client.closing and user is not None and server.state.is_online(user)


def needs_prefetch(server: IrcServer, user: User) -> bool:
    """Whether joining needs :func:`prepare_join` (a read marker or a replay to show)."""
    replay = server.config.history_replay
    return any(c.render_mask & R_READ_MARKER or (replay and not c.render_mask & R_CHATHISTORY) for c in user.conns)


def send_join_info(server: IrcServer, client: Client, channel: Channel, rb: ReplyBuffer, extras: JoinExtras) -> None:
    """What follows a JOIN for one connection: topic, read marker, names, recent history."""
    if channel.topic:
        rb.numeric(N.RPL_TOPIC, channel.name, channel.topic)
        rb.numeric(N.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(channel.topic_at))
    if extras.marker_known and client.render_mask & R_READ_MARKER:
        marker = "*" if extras.marker is None else "timestamp=" + iso_time(extras.marker)
        rb.server_msg("MARKREAD", channel.name, marker)
    send_names(server, client, channel, rb)
    rb.numeric(N.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")
    if extras.history and not client.render_mask & R_CHATHISTORY:
        send_history_batch(client, rb, channel.name, extras.history)


def show_joined(server: IrcServer, client: Client, channel: Channel, rb: ReplyBuffer, extras: JoinExtras) -> None:
    """A JOIN line of the user itself (as this connection's caps want it), then the join info;
    for a connection that did not see the join happen (another device of the user)."""
    user = client.me
    mask = client.render_mask
    params = [channel.name, user.account or "*", user.realname] if mask & R_EXTENDED_JOIN else [channel.name]
    rb.add_line(event_line(mask, user.actor, "JOIN", params))
    send_join_info(server, client, channel, rb, extras)


def join_channel(
    server: IrcServer, client: Client, name: str, key: str | None, extras: JoinExtras, rb: ReplyBuffer
) -> None:
    """Join one channel and show it to every connection of the user."""
    user = client.me
    channel = server.channels.join(user, name, key)
    if channel is None:
        return
    send_join_info(server, client, channel, rb, extras)
    for other in user.conns:
        if other is not client:
            info = ReplyBuffer(other, server.name, None)
            send_join_info(server, other, channel, info, extras)
            info.flush()


def status_prefix(status: str, multi: bool) -> str:
    """The prefix characters for status letters (all of them with multi-prefix)."""
    if not status:
        return ""
    ordered = [STATUS_PREFIXES[m] for m in STATUS_MODES if m in status]
    return "".join(ordered) if multi else ordered[0]


def visible_members(channel: Channel, viewer: Session) -> list[tuple[Session, str]]:
    """Members the viewer may see: everyone if it is a member, else those not +i."""
    if viewer in channel.members:
        return list(channel.members.items())
    if "s" in channel.modes:
        return []
    return [(m, s) for m, s in channel.members.items() if "i" not in m.modes]


def send_names(server: IrcServer, client: Client, channel: Channel, rb: ReplyBuffer) -> None:
    """353 lines for a channel (without the closing 366)."""
    user = client.me
    if "s" in channel.modes and user not in channel.members and not user.is_oper:
        return
    multi = bool(client.render_mask & R_MULTI_PREFIX)
    long_form = bool(client.render_mask & R_USERHOST_IN_NAMES)
    symbol = "@" if "s" in channel.modes else "="
    entries = [
        status_prefix(status, multi) + (member.mask if long_form else member.nick)
        for member, status in visible_members(channel, user)
    ]
    line: list[str] = []
    size = 0
    for entry in entries:
        if line and size + len(entry) + 1 > NAMES_LINE_BYTES:
            rb.numeric(N.RPL_NAMREPLY, symbol, channel.name, " ".join(line))
            line, size = [], 0
        line.append(entry)
        size += len(entry) + 1
    if line:
        rb.numeric(N.RPL_NAMREPLY, symbol, channel.name, " ".join(line))


# -- commands ----------------------------------------------------------------------------------


@command("JOIN", min_params=1, help="JOIN #channel[,#other] [key[,key]]  (JOIN 0 leaves every channel)")
def join(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    user = client.me
    if msg.params[0] == "0":
        server.channels.part_all(user)
        return None
    names = [n for n in msg.params[0].split(",") if n]
    if not names:
        rb.numeric(N.ERR_NEEDMOREPARAMS, "JOIN", "Not enough parameters")
        return None
    keys = msg.params[1].split(",") if len(msg.params) > 1 else []
    if not needs_prefetch(server, user):
        for i, name in enumerate(names):
            try:
                join_channel(server, client, name, keys[i] if i < len(keys) else None, JoinExtras(), rb)
            except ChatError as exc:
                reply_error(rb, "JOIN", exc)
        return None
    return _join_with_extras(server, client, names, keys, rb)


async def _join_with_extras(
    server: IrcServer, client: Client, names: list[str], keys: list[str], rb: ReplyBuffer
) -> None:
    user = client.me
    for i, name in enumerate(names):
        try:
            existing = server.state.channel(name)
            if existing is not None and user in existing.members:
                continue
            extras = await prepare_join(server, user, name) if is_channel(name) else JoinExtras()
            if not still_online(server, client):
                return  # disconnected while the read ran: joining now would leave a ghost member
            join_channel(server, client, name, keys[i] if i < len(keys) else None, extras, rb)
            rb.send_pending()
        except ChatError as exc:
            reply_error(rb, "JOIN", exc)


@command("PART", min_params=1, help="PART #channel[,#other] [:reason]")
def part(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    reason = msg.params[1] if len(msg.params) > 1 else ""
    names = [n for n in msg.params[0].split(",") if n]
    if not names:
        rb.numeric(N.ERR_NEEDMOREPARAMS, "PART", "Not enough parameters")
    for name in names:
        try:
            server.channels.part(client.me, name, reason)
        except ChatError as exc:
            reply_error(rb, "PART", exc)
    return None


@command("TOPIC", min_params=1, help="TOPIC #channel [:new topic]")
def topic(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    name = msg.params[0]
    if len(msg.params) > 1:
        return server.channels.set_topic(client.me, name, msg.params[1])
    channel = server.state.existing_channel(name)
    if "s" in channel.modes and client.me not in channel.members:
        raise NoSuchChannel(name)
    if channel.topic:
        rb.numeric(N.RPL_TOPIC, channel.name, channel.topic)
        rb.numeric(N.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(channel.topic_at))
    else:
        rb.numeric(N.RPL_NOTOPIC, channel.name, "No topic is set")
    return None


@command("NAMES", help="NAMES #channel[,#other]")
def names(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    if not msg.params:
        rb.numeric(N.RPL_ENDOFNAMES, "*", "End of /NAMES list")
        return None
    for name in msg.params[0].split(","):
        channel = server.state.channel(name)
        if channel is not None:
            send_names(server, client, channel, rb)
    rb.numeric(N.RPL_ENDOFNAMES, msg.params[0], "End of /NAMES list")
    return None


@command("LIST", help="LIST [#chan,mask,>users,<users,C>minutes,T<minutes]")
def list_(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    user = client.me
    filters = [t for p in msg.params for t in p.split(",") if t]
    rb.numeric(N.RPL_LISTSTART, "Channel", "Users  Name")
    now = time.time()
    for channel in list(server.state.channels.values()):
        if not server.channels.visible(channel, user):
            continue
        if filters and not all(_list_filter(f, channel, now, server.state.settings.casemapping) for f in filters):
            continue
        count = len(visible_members(channel, user))
        rb.numeric(N.RPL_LIST, channel.name, str(count), channel.topic)
    rb.numeric(N.RPL_LISTEND, "End of /LIST")
    return None


def _list_filter(token: str, channel: Channel, now: float, casemapping: str) -> bool:
    """One ELIST condition (C, M, N, T, U)."""
    head, rest = token[:1], token[1:]
    number = parse_decimal(rest)
    if head in "<>" and number is not None:
        count = len(channel.members)
        return count > number if head == ">" else count < number
    if head in "CT" and rest[:1] in "<>" and (minutes_asked := parse_decimal(rest[1:])) is not None:
        moment = channel.created if head == "C" else channel.topic_at
        if head == "T" and not channel.topic_at:
            return False
        minutes = (now - moment) / 60
        return minutes > minutes_asked if rest[0] == ">" else minutes < minutes_asked
    if head == "!":
        return not mask_matches(rest, channel.name, casemapping)
    return mask_matches(token, channel.name, casemapping)


@command("INVITE", help="INVITE nick #channel  (INVITE alone lists your invitations)")
def invite(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    user = client.me
    if not msg.params:
        for channel in server.state.channels.values():
            if user.key in channel.invited:
                rb.numeric(N.RPL_INVITELIST, channel.name)
        rb.numeric(N.RPL_ENDOFINVITELIST, "End of /INVITE list")
        return None
    if len(msg.params) < 2:
        rb.numeric(N.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        return None
    target = server.channels.invite(user, msg.params[0], msg.params[1])
    channel = server.state.existing_channel(msg.params[1])
    rb.numeric(N.RPL_INVITING, target.nick, channel.name)
    if target.away is not None:
        rb.numeric(N.RPL_AWAY, target.nick, target.away)
    return None


@command("KICK", min_params=2, help="KICK #channel nick[,nick] [:reason]")
def kick(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    user = client.me
    channels = msg.params[0].split(",")
    victims = msg.params[1].split(",")
    reason = msg.params[2] if len(msg.params) > 2 and msg.params[2] else user.nick
    pairs = [(channels[0], v) for v in victims] if len(channels) == 1 else list(zip(channels, victims, strict=False))
    for name, victim in pairs:
        try:
            server.channels.kick(user, name, victim, reason)
        except ChatError as exc:
            reply_error(rb, "KICK", exc)
    return None
