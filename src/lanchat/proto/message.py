"""IRC messages: parse and serialize lines with IRCv3 message tags.

Sans-I/O and stdlib only. Follows https://modern.ircdocs.horse/#messages and
https://ircv3.net/specs/extensions/message-tags for tag escaping and limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lanchat.proto.errors import InputTooLong, InvalidUtf8, MalformedMessage

#: Bytes allowed for the part of a line after the tags, CR LF included.
MAX_BODY_BYTES = 512
#: Bytes allowed for the tags section, leading ``@`` and trailing space included.
MAX_TAGS_BYTES = 8191
#: Bytes of tag data a client may send (client-only tags and others).
MAX_CLIENT_TAG_DATA = 4094

_ESCAPE = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})
_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def escape_tag_value(value: str) -> str:
    """Escape a tag value for the wire."""
    return value.translate(_ESCAPE)


def unescape_tag_value(raw: str) -> str:
    """Undo tag value escaping; unknown escapes drop the backslash, a trailing one is dropped."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\":
            i += 1
            if i < n:
                nxt = raw[i]
                out.append(_UNESCAPE.get(nxt, nxt))
        else:
            out.append(ch)
        i += 1
    return "".join(out)


@dataclass(slots=True)
class Message:
    """One IRC message. ``command`` is kept as received; compare it upper-cased."""

    command: str
    params: list[str] = field(default_factory=list)
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def to_line(self) -> str:
        """Serialize without the trailing CR LF."""
        parts: list[str] = []
        if self.tags:
            parts.append("@" + serialize_tags(self.tags))
        if self.source:
            parts.append(":" + self.source)
        parts.append(self.command)
        params = self.params
        if params:
            for middle in params[:-1]:
                if not middle or " " in middle or middle[0] == ":":
                    raise ValueError(f"invalid middle parameter {middle!r}")
                parts.append(middle)
            last = params[-1]
            if not last or " " in last or last[0] == ":":
                parts.append(":" + last)
            else:
                parts.append(last)
        line = " ".join(parts)
        if "\r" in line or "\n" in line or "\0" in line:
            raise ValueError("line break or NUL inside a message")
        return line

    def to_bytes(self) -> bytes:
        """Serialize as UTF-8 with the trailing CR LF."""
        return (self.to_line() + "\r\n").encode("utf-8", "surrogateescape")


def serialize_tags(tags: dict[str, str]) -> str:
    """Serialize a tag dict (without the leading ``@``)."""
    return ";".join(k + "=" + v.translate(_ESCAPE) if v else k for k, v in tags.items())


def parse_tags(raw: str) -> dict[str, str]:
    """Parse a tags section (without the leading ``@``). The last of duplicate keys wins."""
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not key or key == "+" or " " in key:
            raise MalformedMessage("malformed message tag")
        tags[key] = unescape_tag_value(value) if sep else ""
    return tags


def parse(line: str) -> Message:
    """Parse one line (no CR LF) into a :class:`Message`.

    Raises :class:`MalformedMessage` when there is no command.
    """
    tags: dict[str, str] = {}
    source: str | None = None
    pos = 0
    n = len(line)
    if line.startswith("@"):
        end = line.find(" ")
        if end < 0:
            raise MalformedMessage("message has tags but no command")
        tags = parse_tags(line[1:end])
        pos = end
    while pos < n and line[pos] == " ":
        pos += 1
    if pos < n and line[pos] == ":":
        end = line.find(" ", pos)
        if end < 0:
            raise MalformedMessage("message has a source but no command")
        source = line[pos + 1 : end]
        pos = end
        while pos < n and line[pos] == " ":
            pos += 1
    rest = line[pos:]
    trailing: str | None = None
    cut = rest.find(" :")
    if rest.startswith(":"):
        raise MalformedMessage("message has no command")
    if cut >= 0:
        trailing = rest[cut + 2 :]
        rest = rest[:cut]
    words = [w for w in rest.split(" ") if w]
    if not words:
        raise MalformedMessage("message has no command")
    command = words[0]
    params = words[1:]
    if trailing is not None:
        params.append(trailing)
    return Message(command=command, params=params, source=source, tags=tags)


def parse_bytes(raw: bytes, *, client_tag_limit: bool = True) -> Message:
    """Parse one line received from a peer, enforcing the IRCv3 size limits.

    ``raw`` has no line ending. Raises :class:`InputTooLong` for an over-long body or tags
    section, :class:`InvalidUtf8` for bytes that are not UTF-8 (with the command name when it
    could be read), and :class:`MalformedMessage` otherwise.
    """
    body_start = 0
    if raw[:1] == b"@":
        space = raw.find(b" ")
        if space < 0:
            raise MalformedMessage("message has tags but no command")
        if space + 1 > MAX_TAGS_BYTES or (client_tag_limit and space - 1 > MAX_CLIENT_TAG_DATA):
            raise InputTooLong(_command_hint(raw[space + 1 :]))
        body_start = space + 1
    if len(raw) - body_start > MAX_BODY_BYTES - 2:
        raise InputTooLong(_command_hint(raw[body_start:]))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidUtf8(_command_hint(raw[body_start:])) from None
    if "\0" in text:
        raise MalformedMessage("NUL byte in message")
    return parse(text)


def _command_hint(body: bytes) -> str:
    """Best-effort command name of a rejected line, for the error reply."""
    words = body.split()
    if words and words[0].startswith(b":"):
        words = words[1:]
    if not words:
        return "*"
    name = words[0].decode("ascii", "replace").upper()
    return name if name.isalnum() and len(name) <= 32 else "*"
