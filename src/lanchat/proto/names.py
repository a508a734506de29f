"""Case mapping and validity of nicknames, user names and channel names."""

from __future__ import annotations

import re

_RFC1459 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")
_ASCII = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

#: Channel name prefixes this server knows (ISUPPORT CHANTYPES).
CHANTYPES = "#"
CHANNEL_LEN = 64
_NICK_RE = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*\Z")
_USER_RE = re.compile(r"[^\s@!:,*?\x00-\x1f\x7f]+\Z")
_BAD_CHANNEL_CHARS = re.compile(r"[\s,\x00-\x1f\x7f]")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\Z")


def casefold(name: str, mapping: str = "rfc1459") -> str:
    """Fold a nick or channel name for comparison under the given CASEMAPPING."""
    return name.translate(_RFC1459 if mapping == "rfc1459" else _ASCII)


def valid_nick(nick: str, max_len: int) -> bool:
    """True when ``nick`` is a usable nickname of at most ``max_len`` characters."""
    return 0 < len(nick) <= max_len and _NICK_RE.match(nick) is not None


def valid_account_name(name: str, max_len: int) -> bool:
    """Account names follow the nickname rules, so an account's name is also its nick."""
    return valid_nick(name, max_len)


def valid_username(user: str) -> bool:
    """True for a USER name that is safe to show in a ``nick!user@host`` mask."""
    return _USER_RE.match(user) is not None


def valid_hostname(name: str) -> bool:
    """True for a dotted host name usable as a server name (at least two labels)."""
    labels = name.split(".")
    return len(name) <= 253 and len(labels) >= 2 and all(_HOST_LABEL.match(label) for label in labels)


def is_channel(name: str) -> bool:
    """True when the name has a channel prefix (not a full validity check)."""
    return bool(name) and name[0] in CHANTYPES


def valid_channel(name: str) -> bool:
    """True for a channel name this server accepts."""
    return (
        len(name) >= 2
        and name[0] in CHANTYPES
        and len(name.encode("utf-8")) <= CHANNEL_LEN
        and _BAD_CHANNEL_CHARS.search(name) is None
    )


def split_mask(mask: str) -> tuple[str, str, str]:
    """Split ``nick!user@host`` (or ``nick@host``, ``nick``) into its parts; missing parts are empty."""
    rest, _, host = mask.partition("@")
    nick, _, user = rest.partition("!")
    return nick, user, host


def normalize_ban_mask(mask: str) -> str:
    """Complete a partial ban mask: ``nick`` -> ``nick!*@*``, ``*@host`` -> ``*!*@host``."""
    if "!" not in mask and "@" not in mask:
        if "." in mask or ":" in mask:
            return f"*!*@{mask}"
        return f"{mask}!*@*"
    if "!" not in mask:
        return f"*!{mask}"
    if "@" not in mask:
        return f"{mask}@*"
    return mask


def mask_to_regex(mask: str, mapping: str = "rfc1459") -> re.Pattern[str]:
    """Compile a glob mask (``*`` and ``?``, ``\\`` escapes) matching casefolded text."""
    out: list[str] = []
    i = 0
    folded = casefold(mask, mapping)
    while i < len(folded):
        ch = folded[i]
        if ch == "\\" and i + 1 < len(folded):
            i += 1
            out.append(re.escape(folded[i]))
        elif ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def mask_matches(mask: str, target: str, mapping: str = "rfc1459") -> bool:
    """True when the glob ``mask`` matches ``target`` under the case mapping."""
    return mask_to_regex(mask, mapping).match(casefold(target, mapping)) is not None
