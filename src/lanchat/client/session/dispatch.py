"""What each server message does to a :class:`~.state.ClientSession`: a table of handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lanchat.client.session import events as ev
from lanchat.client.session.model import Batch, Channel
from lanchat.client.session.numerics import numeric
from lanchat.client.session.wire import action_text, is_ctcp, is_server_source, nick_of, param, when
from lanchat.proto.message import Message

if TYPE_CHECKING:
    from lanchat.client.session.state import ClientSession

Handler = Callable[["ClientSession", Message], list[ev.Event]]
HANDLERS: dict[str, Handler] = {}


def handles(*commands: str) -> Callable[[Handler], Handler]:
    """Register a handler for server commands."""

    def register(func: Handler) -> Handler:
        for name in commands:
            HANDLERS[name] = func
        return func

    return register


def dispatch(session: ClientSession, msg: Message) -> list[ev.Event]:
    """Route one message: into an open chathistory batch, to its handler, or to numerics."""
    command = msg.command.upper()
    ref = msg.tags.get("batch")
    if ref is not None and command in ("PRIVMSG", "NOTICE"):
        batch = session.batches.get(ref)
        if batch is not None and batch.kind == "chathistory":
            message = chat_message(session, msg)
            if message is not None:
                batch.messages.append(message)
            return []
    if command.isdigit() and len(command) == 3:
        return numeric(session, command, msg)
    handler = HANDLERS.get(command)
    return handler(session, msg) if handler is not None else []


# -- connection ------------------------------------------------------------------------------


@handles("PING")
def _on_ping(session: ClientSession, msg: Message) -> list[ev.Event]:
    session.send("PONG", *msg.params[:1])
    return []


@handles("ERROR")
def _on_error(session: ClientSession, msg: Message) -> list[ev.Event]:
    return [ev.Disconnecting(param(msg, 0) or "closing the connection")]


@handles("CAP")
def _on_cap(session: ClientSession, msg: Message) -> list[ev.Event]:
    sub = param(msg, 1).upper()
    more = param(msg, 2) == "*"
    items = param(msg, 3 if more else 2).split()
    if sub in ("LS", "NEW"):
        for item in items:
            name, _, value = item.partition("=")
            session.offered[name] = value
        if sub == "NEW":
            return []
        return [] if more or session.caps_done else session.request_caps()
    if sub == "ACK":
        for name in items:
            if name.startswith("-"):
                session.caps.discard(name[1:])
            else:
                session.caps.add(name)
        return session.caps_negotiated()
    if sub == "NAK":
        return session.caps_negotiated()
    if sub == "DEL":
        for name in items:
            session.offered.pop(name, None)
            session.caps.discard(name)
    return []


@handles("AUTHENTICATE")
def _on_authenticate(session: ClientSession, msg: Message) -> list[ev.Event]:
    if param(msg, 0) == "+":
        session.next_sasl_chunk()
    return []


@handles("BATCH")
def _on_batch(session: ClientSession, msg: Message) -> list[ev.Event]:
    ref = param(msg, 0)
    if ref.startswith("+") and len(ref) > 1:
        session.batches[ref[1:]] = Batch(param(msg, 1), msg.params[2:])
        return []
    batch = session.batches.pop(ref[1:], None)
    if batch is None or batch.kind != "chathistory":
        return []
    target = batch.params[0] if batch.params else ""
    return [ev.HistoryReceived(target, tuple(batch.messages))]


# -- messages --------------------------------------------------------------------------------


def chat_message(session: ClientSession, msg: Message) -> ev.ChatMessage | None:
    """A PRIVMSG or NOTICE from a user as a :class:`~.events.ChatMessage` (``None`` for CTCP
    other than ACTION, and for malformed lines)."""
    if len(msg.params) < 2:
        return None
    sender = nick_of(msg.source)
    target, text = msg.params[0], msg.params[1]
    bare = target.lstrip(session.status_prefixes)
    notice = msg.command.upper() == "NOTICE"
    action = action_text(text)
    if action is not None and not notice:
        text = action
    elif is_ctcp(text):
        return None
    own = session.is_me(sender)
    direct = not session.is_channel(bare)
    conversation = bare if not direct or own else sender
    return ev.ChatMessage(
        time=when(session, msg),
        sender=sender,
        target=bare,
        text=text,
        conversation=conversation,
        direct=direct,
        own=own,
        action=action is not None and not notice,
        notice=notice,
        msgid=msg.tags.get("msgid"),
    )


@handles("PRIVMSG", "NOTICE")
def _on_message(session: ClientSession, msg: Message) -> list[ev.Event]:
    if msg.command.upper() == "NOTICE" and (not session.registered or is_server_source(msg.source)):
        return [ev.Notice(param(msg, 1), when(session, msg))]
    message = chat_message(session, msg)
    return [ev.MessageReceived(message)] if message is not None else []


# -- membership ------------------------------------------------------------------------------


@handles("JOIN")
def _on_join(session: ClientSession, msg: Message) -> list[ev.Event]:
    nick, name = nick_of(msg.source), param(msg, 0)
    own = session.is_me(nick)
    key = session.fold(name)
    if own:
        session.channels[key] = Channel(name)
    channel = session.channels.get(key)
    if channel is not None:
        channel.members[session.fold(nick)] = nick
    return [ev.Joined(channel.name if channel else name, nick, own, when(session, msg))]


@handles("PART")
def _on_part(session: ClientSession, msg: Message) -> list[ev.Event]:
    nick, name = nick_of(msg.source), param(msg, 0)
    return _leave(session, msg, name, nick, param(msg, 1), None)


@handles("KICK")
def _on_kick(session: ClientSession, msg: Message) -> list[ev.Event]:
    return _leave(session, msg, param(msg, 0), param(msg, 1), param(msg, 2), nick_of(msg.source))


def _leave(session: ClientSession, msg: Message, name: str, nick: str, reason: str, by: str | None) -> list[ev.Event]:
    own = session.is_me(nick)
    key = session.fold(name)
    channel = session.channels.pop(key, None) if own else session.channels.get(key)
    if channel is not None:
        channel.members.pop(session.fold(nick), None)
        name = channel.name
    return [ev.Parted(name, nick, reason, own, when(session, msg), by)]


@handles("QUIT")
def _on_quit(session: ClientSession, msg: Message) -> list[ev.Event]:
    nick = nick_of(msg.source)
    key = session.fold(nick)
    shared = []
    for channel in session.channels.values():
        if channel.members.pop(key, None) is not None:
            shared.append(channel.name)
    return [ev.UserQuit(nick, param(msg, 0), tuple(shared), when(session, msg))]


@handles("NICK")
def _on_nick(session: ClientSession, msg: Message) -> list[ev.Event]:
    old, new = nick_of(msg.source), param(msg, 0)
    own = session.is_me(old)
    if own:
        session.nick = new
    for channel in session.channels.values():
        if channel.members.pop(session.fold(old), None) is not None:
            channel.members[session.fold(new)] = new
    return [ev.NickChanged(old, new, own, when(session, msg))]


@handles("TOPIC")
def _on_topic(session: ClientSession, msg: Message) -> list[ev.Event]:
    name, text = param(msg, 0), param(msg, 1)
    channel = session.channels.get(session.fold(name))
    if channel is not None:
        channel.topic = text or None
    return [ev.TopicChanged(channel.name if channel else name, nick_of(msg.source), text, when(session, msg))]


@handles("AWAY")
def _on_away(session: ClientSession, msg: Message) -> list[ev.Event]:
    return [ev.AwayChanged(nick_of(msg.source), param(msg, 0) or None, when(session, msg))]


@handles("MODE")
def _on_mode(session: ClientSession, msg: Message) -> list[ev.Event]:
    target = param(msg, 0)
    if not session.is_channel(target):
        return []
    change = " ".join(msg.params[1:])
    return [ev.Notice(f"{nick_of(msg.source)} sets mode {change} on {target}", when(session, msg))]


@handles("INVITE")
def _on_invite(session: ClientSession, msg: Message) -> list[ev.Event]:
    channel = param(msg, 1)
    text = f"{nick_of(msg.source)} invites you to {channel} (/join {channel})"
    return [ev.Notice(text, when(session, msg))]


@handles("FAIL", "WARN", "NOTE")
def _on_standard_reply(session: ClientSession, msg: Message) -> list[ev.Event]:
    text = f"{param(msg, 0)}: {msg.params[-1]}" if len(msg.params) >= 3 else " ".join(msg.params)
    if msg.command.upper() == "FAIL":
        return [ev.ServerError(text, when(session, msg))]
    return [ev.Notice(text, when(session, msg))]
