"""draft/chathistory, draft/read-marker, and replaying direct messages missed while offline."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from lanchat.core.errors import NoSuchChannel, NoSuchNick, NotOnChannel
from lanchat.core.events import StoredMessage
from lanchat.core.ports import MessageRef
from lanchat.irc.client import R_EVENT_PLAYBACK, R_READ_MARKER, R_SERVER_TIME, Client
from lanchat.irc.commands import Reply, command
from lanchat.irc.isupport import CHATHISTORY_MAX
from lanchat.irc.render import history_line, iso_time
from lanchat.irc.replies import ReplyBuffer
from lanchat.proto.errors import ProtocolError
from lanchat.proto.message import Message, parse_tags
from lanchat.proto.names import parse_decimal

if TYPE_CHECKING:
    from lanchat.irc.server import IrcServer

MISSED_DM_LIMIT = 200


class BadParams(ValueError):
    """A CHATHISTORY or MARKREAD parameter that cannot be used."""


def parse_timestamp(text: str) -> int:
    """``YYYY-MM-DDThh:mm:ss.sssZ`` -> ms since the epoch."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadParams(text) from None
    if moment.tzinfo is None:
        raise BadParams(text)
    return round(moment.timestamp() * 1000)


def _parse_ref(text: str, *, star: bool = False) -> MessageRef | None:
    if star and text == "*":
        return None
    kind, sep, value = text.partition("=")
    if sep and kind == "msgid" and value:
        return MessageRef(msgid=value)
    if sep and kind == "timestamp":
        return MessageRef(time_ms=parse_timestamp(value))
    raise BadParams(text)


def _parse_limit(text: str) -> int:
    limit = parse_decimal(text)
    if limit is None:
        raise BadParams(text)
    return CHATHISTORY_MAX if limit == 0 else min(limit, CHATHISTORY_MAX)


@command("CHATHISTORY", min_params=1, help="CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS …")
def chathistory(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    return _chathistory(server, client, msg, rb)


async def _chathistory(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> None:
    sub = msg.params[0].upper()
    args = msg.params[1:]
    needed = {"LATEST": 3, "BEFORE": 3, "AFTER": 3, "AROUND": 3, "BETWEEN": 4, "TARGETS": 3}.get(sub)
    if needed is None:
        rb.fail("CHATHISTORY", "INVALID_PARAMS", msg.params[0], "Unknown command")
        return
    if len(args) < needed:
        rb.fail("CHATHISTORY", "INVALID_PARAMS", sub, "Insufficient parameters")
        return
    try:
        if sub == "TARGETS":
            await _targets(server, client, args, rb)
            return
        records = await _query(server, client, sub, args)
    except BadParams as exc:
        rb.fail("CHATHISTORY", "INVALID_PARAMS", sub, str(exc), "Invalid parameters")
        return
    except (NoSuchChannel, NotOnChannel):
        rb.fail("CHATHISTORY", "INVALID_TARGET", sub, args[0], "Messages could not be retrieved")
        return
    send_history_batch(client, rb, args[0], records)


async def _query(server: IrcServer, client: Client, sub: str, args: list[str]) -> list[StoredMessage]:
    user = client.me
    target = args[0]
    tagmsg = bool(client.render_mask & R_EVENT_PLAYBACK)
    messages = server.messages
    if sub == "BETWEEN":
        first = _parse_ref(args[1])
        second = _parse_ref(args[2])
        assert first is not None
        assert second is not None
        limit = _parse_limit(args[3])
        forward = await _time_of(server, first) <= await _time_of(server, second)
        low, high = (first, second) if forward else (second, first)
        return await messages.history(
            user, target, after=low, before=high, limit=limit, newest_first=not forward, with_events=tagmsg
        )
    ref = _parse_ref(args[1], star=sub == "LATEST")
    limit = _parse_limit(args[2])
    if sub == "AROUND":
        assert ref is not None
        return await messages.around(user, target, ref, limit, tagmsg)
    if sub == "AFTER":
        return await messages.history(user, target, after=ref, limit=limit, newest_first=False, with_events=tagmsg)
    if sub == "BEFORE":
        return await messages.history(user, target, before=ref, limit=limit, newest_first=True, with_events=tagmsg)
    return await messages.history(user, target, after=ref, limit=limit, newest_first=True, with_events=tagmsg)


async def _time_of(server: IrcServer, ref: MessageRef) -> int:
    if ref.msgid is None:
        return ref.time_ms
    record = await server.state.store.find(ref.msgid)
    return record.time_ms if record is not None else 0


async def _targets(server: IrcServer, client: Client, args: list[str], rb: ReplyBuffer) -> None:
    first = _parse_ref(args[0])
    second = _parse_ref(args[1])
    if first is None or second is None or first.msgid is not None or second.msgid is not None:
        raise BadParams(args[0])
    limit = _parse_limit(args[2])
    since, until = sorted((first.time_ms, second.time_ms))
    found = await server.messages.targets(client.me, since, until, limit)
    ref = rb.start_batch("draft/chathistory-targets")
    for name, time_ms in found:
        tags = {"batch": ref} if ref else {}
        rb.add(Message("CHATHISTORY", ["TARGETS", name, iso_time(time_ms)], server.name, tags))
    rb.end_batch(ref)


def send_history_batch(client: Client, rb: ReplyBuffer, target: str, records: list[StoredMessage]) -> None:
    """A ``chathistory`` batch (plain lines without the batch capability)."""
    ref = rb.start_batch("chathistory", target)
    mask = client.render_mask
    for record in records:
        data = history_line(record, mask, ref)
        for line in data.split(b"\r\n")[:-1]:
            rb.add_line(line + b"\r\n")
    rb.end_batch(ref)


async def replay_missed_direct(server: IrcServer, client: Client, rb: ReplyBuffer, online_ms: int) -> None:
    """Show a user who just logged in the direct messages sent to it while offline: after its
    last logout and before ``online_ms``, when it came online (later ones were delivered)."""
    user = client.me
    if not user.account_key or len(server.state.by_account.get(user.account_key, ())) > 1:
        return
    account = await server.state.store.get_account(user.account_key)
    if account is None:
        return
    missed = await server.messages.missed_direct(user, account.last_seen_ms, online_ms, MISSED_DM_LIMIT)
    if not missed:
        return
    count = f"{len(missed)} message{'s' if len(missed) > 1 else ''}"
    rb.server_msg("NOTICE", user.nick, f"You have {count} sent to you while you were away:")
    by_peer: dict[str, list[StoredMessage]] = {}
    for record in missed:
        by_peer.setdefault(record.sender.nick, []).append(record)
    for peer, records in by_peer.items():
        if client.render_mask & R_SERVER_TIME:
            send_history_batch(client, rb, peer, records)
            continue
        for record in records:
            stamp = iso_time(record.time_ms)[:16].replace("T", " ")
            text = record.text.replace("\n", " / ")
            rb.add(Message(record.kind, [user.nick, f"[{stamp} UTC] {text}"], record.sender.mask))


# -- soju.im/search ---------------------------------------------------------------------------

SEARCH_LIMIT = 100


@command("SEARCH", min_params=1, help="SEARCH in=#chan;text=words[;from=nick;after=ts;before=ts;limit=n]")
def search(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    return _search(server, client, msg.params[0], rb)


async def _search(server: IrcServer, client: Client, raw: str, rb: ReplyBuffer) -> None:
    try:
        attrs = parse_tags(raw)
        words = [w for w in re.split(r"\W+", attrs.get("text", "")) if w]
        after = parse_timestamp(attrs["after"]) if "after" in attrs else None
        before = parse_timestamp(attrs["before"]) if "before" in attrs else None
        limit_text = attrs.get("limit", "50")
        asked = parse_decimal(limit_text)
        if asked is None:
            raise BadParams(limit_text)
        limit = min(asked, SEARCH_LIMIT)
        if not words or limit <= 0:
            raise BadParams(raw)
    except (ProtocolError, BadParams, ValueError):
        rb.fail("SEARCH", "INVALID_PARAMS", raw, "Invalid parameters")
        return
    target = attrs.get("in")
    try:
        found = await server.messages.search(
            client.me, target, words, sender=attrs.get("from"), after_ms=after, before_ms=before, limit=limit
        )
    except (NoSuchChannel, NotOnChannel):
        rb.fail("SEARCH", "INVALID_PARAMS", raw, "You cannot search that conversation")
        return
    ref = rb.start_batch("soju.im/search")
    mask = client.render_mask
    for record in found:
        for line in history_line(record, mask, ref).split(b"\r\n")[:-1]:
            rb.add_line(line + b"\r\n")
    rb.end_batch(ref)


# -- read markers ----------------------------------------------------------------------------


@command("MARKREAD", help="MARKREAD target [timestamp=YYYY-MM-DDThh:mm:ss.sssZ]")
def markread(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    if not msg.params:
        rb.fail("MARKREAD", "NEED_MORE_PARAMS", "Missing parameters")
        return None
    return _markread(server, client, msg.params, rb)


async def _markread(server: IrcServer, client: Client, params: list[str], rb: ReplyBuffer) -> None:
    user = client.me
    target = params[0]
    if len(params) == 1:  # reading stores nothing: any target, "*" when there is no marker
        value = await server.messages.get_marker(user, target)
        rb.server_msg("MARKREAD", target, "*" if value is None else "timestamp=" + iso_time(value))
        return
    kind, sep, text = params[1].partition("=")
    try:
        if kind != "timestamp" or not sep:
            raise BadParams(params[1])
        wanted = parse_timestamp(text)
    except BadParams:
        rb.fail("MARKREAD", "INVALID_PARAMS", params[1], "Invalid parameters")
        return
    try:
        stored, sessions = await server.messages.set_marker(user, target, wanted)
    except (NoSuchChannel, NotOnChannel, NoSuchNick):
        # A channel the user is not in, or a nick nobody has: no marker (spec: INVALID_PARAMS).
        rb.fail("MARKREAD", "INVALID_PARAMS", target, "Invalid parameters")
        return
    line = Message("MARKREAD", [target, "timestamp=" + iso_time(stored)], server.name)
    rb.add(line)
    for session in sessions:
        for conn in server.conns_of(session):
            if conn is not client and conn.render_mask & R_READ_MARKER:
                conn.send(line)
