"""Matching users against a channel's +b / +e / +I lists."""

from __future__ import annotations

from lanchat.core.model import Channel, Session
from lanchat.proto.names import casefold, mask_matches


def list_matches(channel: Channel, mode: str, session: Session, casemapping: str) -> bool:
    """True when ``session`` matches an entry of the channel's list ``mode``.

    Entries are ``nick!user@host`` globs (checked against the host and the IP) or
    ``$a:account`` for a logged-in account.
    """
    entries = channel.lists.get(mode)
    if not entries:
        return False
    masks = (session.mask, f"{session.nick}!{session.user}@{session.ip}")
    for entry in entries.values():
        if entry.mask.startswith("$a:"):
            if session.account_key and casefold(entry.mask[3:], casemapping) == session.account_key:
                return True
        elif any(mask_matches(entry.mask, m, casemapping) for m in masks):
            return True
    return False


def is_banned(channel: Channel, session: Session, casemapping: str) -> bool:
    """Banned (+b) and not excepted (+e)."""
    return list_matches(channel, "b", session, casemapping) and not list_matches(channel, "e", session, casemapping)
