"""Events as terminal lines: ``HH:MM NAME : text``, direct messages marked, text made safe."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, tzinfo

from lanchat.client.conversations import Conversations
from lanchat.client.session import events as ev

#: IRC formatting: bold, italics, underline, strike, monospace, reverse, reset, and colours.
_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
#: Bidirectional overrides and isolates, which can make text read differently than it is.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), "\ufffd")
#: Character categories never shown as they are: controls and line/paragraph separators.
_UNSAFE = frozenset({"Cc", "Zl", "Zp"})
#: Names listed after a join before "and N more".
NAMES_SHOWN = 40


def sanitize(text: str) -> str:
    """Text from the network made safe for a terminal: IRC formatting removed, tabs as spaces,
    every other control character (escape sequences included) and bidi override replaced."""
    text = _FORMATTING.sub("", text).replace("\t", " ").translate(_BIDI)
    if text.isprintable():
        return text
    return "".join("\ufffd" if unicodedata.category(ch) in _UNSAFE else ch for ch in text)


class Renderer:
    """Turns events into lines, knowing the current conversation and the local time zone."""

    def __init__(
        self,
        conversations: Conversations,
        tz: tzinfo | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.conversations = conversations
        self.tz = tz
        self._today = today or (lambda: datetime.now(self.tz).date())

    def stamp(self, moment: datetime) -> str:
        """``HH:MM`` in local time, with the date when it is not today."""
        try:
            local = moment.astimezone(self.tz)
        except OverflowError:  # a server time at the edge of the calendar
            local = moment
        return local.strftime("%H:%M" if local.date() == self._today() else "%Y-%m-%d %H:%M")

    def message(self, message: ev.ChatMessage) -> str:
        """One chat line: ``HH:MM NAME : text``, with ``[DM]`` or ``[#channel]`` in front when
        it is a direct message or not in the current conversation."""
        sender = sanitize(message.sender)
        text = sanitize(message.text)
        if message.action:
            body = f"* {sender} {text}"
        elif message.notice:
            body = f"-{sender}- {text}"
        else:
            body = f"{sender} : {text}"
        if message.direct:
            where = f"[DM to {sanitize(message.target)}] " if message.own else "[DM] "
        elif not self.conversations.is_current(message.conversation):
            where = f"[{sanitize(message.conversation)}] "
        else:
            where = ""
        return f"{self.stamp(message.time)} {where}{body}"

    def info(self, text: str, moment: datetime) -> str:
        """A line about what happened, not said by anyone: ``HH:MM *** text``."""
        return f"{self.stamp(moment)} *** {text}"

    def error(self, text: str, moment: datetime) -> str:
        """An error reply: ``HH:MM !!! text``."""
        return f"{self.stamp(moment)} !!! {sanitize(text)}"

    def event(self, event: ev.Event, now: datetime) -> list[str]:
        """The lines for an event (none for the ones the chat handles itself)."""
        s = sanitize
        match event:
            case ev.MessageReceived(message):
                return [self.message(message)]
            case ev.Joined(channel, nick, own, moment):
                who = "You" if own else s(nick)
                return [self.info(f"{who} joined {s(channel)}", moment)]
            case ev.Parted(channel, nick, reason, own, moment, by):
                who = "You" if own else s(nick)
                why = f" ({s(reason)})" if reason else ""
                if by is not None:
                    verb = "were" if own else "was"
                    return [self.info(f"{who} {verb} kicked from {s(channel)} by {s(by)}{why}", moment)]
                return [self.info(f"{who} left {s(channel)}{why}", moment)]
            case ev.UserQuit(nick, reason, _channels, moment):
                why = f" ({s(reason)})" if reason else ""
                return [self.info(f"{s(nick)} quit{why}", moment)]
            case ev.NickChanged(old, new, own, moment):
                text = f"You are now known as {s(new)}" if own else f"{s(old)} is now known as {s(new)}"
                return [self.info(text, moment)]
            case ev.TopicShown(channel, text):
                shown = f"Topic of {s(channel)}: {s(text)}" if text else f"{s(channel)} has no topic"
                return [self.info(shown, now)]
            case ev.TopicChanged(channel, nick, text, moment):
                if not text:
                    return [self.info(f"{s(nick)} cleared the topic of {s(channel)}", moment)]
                return [self.info(f"{s(nick)} changed the topic of {s(channel)} to: {s(text)}", moment)]
            case ev.NamesListed(channel, nicks):
                shown = ", ".join(s(n) for n in nicks[:NAMES_SHOWN])
                more = f" and {len(nicks) - NAMES_SHOWN} more" if len(nicks) > NAMES_SHOWN else ""
                return [self.info(f"In {s(channel)}: {shown}{more}", now)]
            case ev.WhoListed(mask, entries):
                return self._who(mask, entries, now)
            case ev.AwayChanged(nick, message, moment):
                text = f"{s(nick)} is away: {s(message)}" if message else f"{s(nick)} is back"
                return [self.info(text, moment)]
            case ev.Notice(text, moment):
                return [self.info(s(text), moment)]
            case ev.ServerError(text, moment):
                return [self.error(text, moment)]
            case ev.Disconnecting(reason):
                return [self.info(f"The server is closing the connection: {s(reason)}", now)]
            case ev.MalformedLine(command):
                return [self.info(f"Ignored a malformed line from the server ({s(command)}).", now)]
        return []

    def _who(self, mask: str, entries: tuple[ev.WhoEntry, ...], now: datetime) -> list[str]:
        s = sanitize
        if not entries:
            return [self.info(f"Nobody matches {s(mask)}", now)]
        if mask[:1] == "#" or len(entries) > 1:
            people = ", ".join(s(e.prefix + e.nick) + (" (away)" if e.away else "") for e in entries)
            return [self.info(f"Users in {s(mask)} ({len(entries)}): {people}", now)]
        entry = entries[0]
        away = ", away" if entry.away else ""
        return [self.info(f"{s(entry.nick)} is {s(entry.user)}@{s(entry.host)} ({s(entry.realname)}{away})", now)]
