"""Case mapping and validity of nicknames, user names and channel names."""

from __future__ import annotations

import re
from functools import lru_cache

#: A number a peer may send: 1 to 9 ASCII digits ("²".isdigit() is true, but int("²") fails).
_DECIMAL = re.compile(r"[0-9]{1,9}")


def parse_decimal(text: str) -> int | None:
    """``text`` as a whole number when it is 1 to 9 ASCII digits, else None."""
    return int(text) if _DECIMAL.fullmatch(text) else None


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


_STAR = "*"
_ANY = "?"
_LITERAL = "="


@lru_cache(maxsize=1024)
def _glob(mask: str, mapping: str) -> tuple[str, str]:
    """A mask as (kinds, chars): per position ``*`` (any run), ``?`` (one character) or ``=``
    (the literal in ``chars``). Casefolded first, so under rfc1459 a backslash is already
    ``|`` and escapes only work under the ascii mapping; runs of ``*`` collapse to one."""
    kinds: list[str] = []
    chars: list[str] = []
    folded = casefold(mask, mapping)
    i = 0
    while i < len(folded):
        ch = folded[i]
        if ch == "\\" and i + 1 < len(folded):
            i += 1
            kinds.append(_LITERAL)
            chars.append(folded[i])
        elif ch == "*":
            if not kinds or kinds[-1] != _STAR:
                kinds.append(_STAR)
                chars.append(ch)
        elif ch == "?":
            kinds.append(_ANY)
            chars.append(ch)
        else:
            kinds.append(_LITERAL)
            chars.append(ch)
        i += 1
    return "".join(kinds), "".join(chars)


def mask_matches(mask: str, target: str, mapping: str = "rfc1459") -> bool:
    """True when the glob ``mask`` matches ``target`` under the case mapping.

    Two pointers with a backtrack only to the last ``*`` seen: at most len(mask) * len(target)
    steps whatever the mask.
    """
    kinds, chars = _glob(mask, mapping)
    text = casefold(target, mapping)
    m, n = len(kinds), len(text)
    p = t = 0
    star = -1  # position of the last * in the mask
    resume = 0  # where in the text that * stopped absorbing
    while t < n:
        if p < m and (kinds[p] == _ANY or (kinds[p] == _LITERAL and chars[p] == text[t])):
            p += 1
            t += 1
        elif p < m and kinds[p] == _STAR:
            star, resume = p, t
            p += 1
        elif star >= 0:
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    while p < m and kinds[p] == _STAR:
        p += 1
    return p == m
