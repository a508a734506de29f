"""Small pure helpers for the client's side of the wire: times, sources, CTCP, SASL, splitting."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lanchat.client.session.state import ClientSession
    from lanchat.proto.message import Message

#: Bytes of one SASL AUTHENTICATE chunk (IRCv3 SASL).
SASL_CHUNK = 400
CTCP = "\x01"


def server_time(tags: dict[str, str]) -> datetime | None:
    """The ``time`` tag (server-time) as an aware UTC datetime, or ``None`` when absent or bad."""
    raw = tags.get("time")
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):  # OverflowError: out of range once in UTC
        return None


def when(session: ClientSession, msg: Message) -> datetime:
    """The message's server time, or now."""
    return server_time(msg.tags) or session.clock()


def param(msg: Message, index: int) -> str:
    """A parameter, or "" when absent."""
    return msg.params[index] if len(msg.params) > index else ""


def iso_timestamp(moment: datetime) -> str:
    """A datetime as the ``YYYY-MM-DDThh:mm:ss.sssZ`` form CHATHISTORY takes."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def nick_of(source: str | None) -> str:
    """The nick of a ``nick!user@host`` source (a server name is returned as it is)."""
    if not source:
        return ""
    return source.partition("!")[0]


def is_server_source(source: str | None) -> bool:
    """True when the source is a server rather than a user (no ``!``/``@`` and dotted)."""
    return not source or ("!" not in source and "@" not in source and "." in source)


def action_text(text: str) -> str | None:
    """The text of a CTCP ACTION (``/me``), or ``None`` when ``text`` is not one."""
    if not text.startswith(CTCP + "ACTION"):
        return None
    body = text[len(CTCP + "ACTION") :]
    if body.endswith(CTCP):
        body = body[:-1]
    if body and not body.startswith(" "):
        return None
    return body[1:]


def is_ctcp(text: str) -> bool:
    """True for any CTCP request or reply (text wrapped in ``\\x01``)."""
    return text.startswith(CTCP)


def make_action(text: str) -> str:
    """Wrap ``text`` as a CTCP ACTION."""
    return f"{CTCP}ACTION {text}{CTCP}"


def sasl_plain_chunks(account: str, password: str) -> list[str]:
    """The AUTHENTICATE arguments carrying a SASL PLAIN response, split in 400-byte chunks
    (a final ``+`` when the last chunk is exactly 400 bytes)."""
    payload = base64.b64encode(f"\0{account}\0{password}".encode()).decode("ascii")
    chunks = [payload[i : i + SASL_CHUNK] for i in range(0, len(payload), SASL_CHUNK)]
    if not chunks or len(chunks[-1]) == SASL_CHUNK:
        chunks.append("+")
    return chunks


def split_text(text: str, max_bytes: int) -> list[str]:
    """Split ``text`` into pieces of at most ``max_bytes`` UTF-8 bytes, preferring to break
    after a space and never inside a character. Empty pieces are dropped."""
    if max_bytes < 4:
        raise ValueError("max_bytes must leave room for one character")
    pieces: list[str] = []
    rest = text
    while len(rest.encode()) > max_bytes:
        cut = _fit(rest, max_bytes)
        space = rest.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return [p for p in pieces if p.strip()]


def _fit(text: str, max_bytes: int) -> int:
    """How many characters of ``text`` fit in ``max_bytes`` bytes of UTF-8."""
    size = 0
    for i, ch in enumerate(text):
        size += len(ch.encode())
        if size > max_bytes:
            return i
    return len(text)
