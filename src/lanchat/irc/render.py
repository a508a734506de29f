"""Rendering domain records as IRC lines for a given set of capabilities (a render mask)."""

from __future__ import annotations

import time

from lanchat.core.events import MessageSent, StoredMessage
from lanchat.core.model import Actor
from lanchat.irc.client import (
    R_ACCOUNT_TAG,
    R_BATCH,
    R_MESSAGE_TAGS,
    R_MULTILINE,
    R_SERVER_TIME,
)
from lanchat.proto.message import Message, escape_tag_value

MESSAGE_BITS = R_MESSAGE_TAGS | R_SERVER_TIME | R_ACCOUNT_TAG
MULTILINE_BITS = MESSAGE_BITS | R_BATCH | R_MULTILINE


def iso_time(time_ms: int) -> str:
    """``YYYY-MM-DDThh:mm:ss.sssZ`` (server-time format) for a time in ms."""
    t = time.gmtime(time_ms // 1000)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{time_ms % 1000:03d}Z"
    )


def now_ms() -> int:
    """The current time in ms."""
    return int(time.time() * 1000)


def event_line(mask: int, actor: Actor, command: str, params: list[str], time_ms: int | None = None) -> bytes:
    """A line from ``actor`` with the time and account tags the mask asks for."""
    tags: dict[str, str] = {}
    if mask & R_SERVER_TIME:
        tags["time"] = iso_time(now_ms() if time_ms is None else time_ms)
    if mask & R_ACCOUNT_TAG and actor.account:
        tags["account"] = actor.account
    return Message(command, params, actor.mask, tags).to_bytes()


def _message_tags(record: StoredMessage, mask: int, *, with_id: bool = True, with_client: bool = True) -> list[str]:
    tags: list[str] = []
    if mask & R_SERVER_TIME:
        tags.append("time=" + iso_time(record.time_ms))
    if mask & R_MESSAGE_TAGS and with_id:
        tags.append("msgid=" + record.msgid)
    if mask & R_ACCOUNT_TAG and record.sender.account and with_id:
        tags.append("account=" + record.sender.account)
    if mask & R_MESSAGE_TAGS:
        if record.sender.bot and with_id:
            tags.append("bot")
        if with_client:
            for key, value in record.tags.items():
                tags.append(key + "=" + escape_tag_value(value) if value else key)
    return tags


def _line(tags: list[str], source: str, command: str, target: str, text: str | None) -> str:
    head = "@" + ";".join(tags) + " " if tags else ""
    if text is None:
        return f"{head}:{source} {command} {target}\r\n"
    return f"{head}:{source} {command} {target} :{text}\r\n"


def message_lines(
    record: StoredMessage, mask: int, status: str = "", lines: tuple[tuple[str, bool], ...] = ()
) -> bytes:
    """A PRIVMSG/NOTICE/TAGMSG as this mask should see it; ``b""`` when it should not.

    Multiline messages become a ``draft/multiline`` batch for clients with that capability,
    and separate lines (blank ones dropped, msgid on the first) for the others.
    """
    kind = record.kind
    source = record.sender.mask
    target = status + record.target
    if kind == "TAGMSG":
        if not mask & R_MESSAGE_TAGS:
            return b""
        return _line(_message_tags(record, mask), source, kind, target, None).encode("utf-8", "surrogateescape")
    if not lines and "\n" in record.text:
        lines = tuple((part, False) for part in record.text.split("\n"))
    if not lines:
        return _line(_message_tags(record, mask), source, kind, target, record.text).encode("utf-8", "surrogateescape")
    out: list[str] = []
    if mask & R_MULTILINE and mask & R_BATCH:
        ref = "ml" + record.msgid
        out.append(_line(_message_tags(record, mask), source, "BATCH", f"+{ref} draft/multiline", target))
        for text, concat in lines:
            inner = [f"batch={ref}", "draft/multiline-concat"] if concat else [f"batch={ref}"]
            out.append(_line(inner, source, kind, target, text))
        out.append(f":{source} BATCH -{ref}\r\n")
    else:
        first = True
        for text, _concat in lines:
            if not text:
                continue
            out.append(_line(_message_tags(record, mask, with_id=first), source, kind, target, text))
            first = False
    return "".join(out).encode("utf-8", "surrogateescape")


def render_sent(event: MessageSent, mask: int) -> bytes:
    """Render a live message event for a mask."""
    return message_lines(event.record, mask, event.status, event.lines)


def history_line(record: StoredMessage, mask: int, batch: str | None) -> bytes:
    """A stored message for chathistory playback, inside ``batch`` when given."""
    data = message_lines(record, mask)
    if batch is None or not data:
        return data
    out = []
    for line in data.split(b"\r\n")[:-1]:
        if line.startswith(b"@batch=") or b";batch=" in line[: line.find(b" ")]:
            out.append(line + b"\r\n")  # inside a nested multiline batch already
        elif line.startswith(b"@"):
            out.append(b"@batch=" + batch.encode() + b";" + line[1:] + b"\r\n")
        else:
            out.append(b"@batch=" + batch.encode() + b" " + line + b"\r\n")
    return b"".join(out)
