"""The user's conversations (channels and direct-message peers), the current one, and what has
been shown already — state that outlives a connection, so reconnects show nothing twice."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lanchat.client.session.events import ChatMessage
from lanchat.proto.names import casefold, parse_decimal

#: How many message ids are remembered to drop repeats (history after a reconnect).
SEEN_LIMIT = 5000


@dataclass(slots=True)
class Conversation:
    """A channel or a person to talk to."""

    name: str
    direct: bool


class Conversations:
    """An ordered list of conversations with one current."""

    def __init__(self, fold: Callable[[str], str] = casefold) -> None:
        self.fold = fold
        self._items: dict[str, Conversation] = {}
        self._current: str | None = None
        self._last_seen: dict[str, datetime] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()

    # -- the list ----------------------------------------------------------------------------

    @property
    def items(self) -> list[Conversation]:
        """The conversations in the order they started."""
        return list(self._items.values())

    def get(self, name: str) -> Conversation | None:
        """The conversation named ``name`` (any case), if any."""
        return self._items.get(self.fold(name))

    def add(self, name: str, *, direct: bool) -> Conversation:
        """Add a conversation (or return the one there); the first one becomes current."""
        key = self.fold(name)
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = Conversation(name, direct)
        if self._current is None:
            self._current = key
        return item

    def remove(self, name: str) -> None:
        """Drop a conversation; when it was current, the first remaining one becomes current."""
        key = self.fold(name)
        self._items.pop(key, None)
        if self._current == key:
            self._current = next(iter(self._items), None)

    def rename(self, old: str, new: str) -> None:
        """A direct-message peer changed nick."""
        key = self.fold(old)
        item = self._items.get(key)
        if item is None or not item.direct:
            return
        self._items = {(self.fold(new) if k == key else k): v for k, v in self._items.items()}
        item.name = new
        if self._current == key:
            self._current = self.fold(new)

    # -- the current one ---------------------------------------------------------------------

    @property
    def current(self) -> Conversation | None:
        """Where plain text goes."""
        return self._items.get(self._current) if self._current is not None else None

    def is_current(self, name: str) -> bool:
        """True when ``name`` is the current conversation."""
        return self._current == self.fold(name)

    def select(self, which: str) -> Conversation | None:
        """Make a conversation current by number (from 1), or by name; ``None`` if no such one."""
        items = self.items
        number = parse_decimal(which)
        if number is not None:
            index = number - 1
            if not 0 <= index < len(items):
                return None
            chosen = items[index]
        else:
            found = self.get(which)
            if found is None:
                return None
            chosen = found
        self._current = self.fold(chosen.name)
        return chosen

    def cycle(self, step: int) -> Conversation | None:
        """Move the current conversation ``step`` places along the list (wrapping)."""
        keys = list(self._items)
        if not keys:
            return None
        index = keys.index(self._current) if self._current in keys else -1
        self._current = keys[(index + step) % len(keys)]
        return self._items[self._current]

    # -- what was shown ----------------------------------------------------------------------

    def note(self, message: ChatMessage) -> bool:
        """Record a message as shown; False when it was shown before (same msgid).

        A direct message starts a conversation with its peer."""
        if message.msgid is not None:
            if message.msgid in self._seen:
                return False
            self._seen[message.msgid] = None
            if len(self._seen) > SEEN_LIMIT:
                self._seen.popitem(last=False)
        key = self.fold(message.conversation)
        previous = self._last_seen.get(key)
        if previous is None or message.time > previous:
            self._last_seen[key] = message.time
        if message.direct:
            self.add(message.conversation, direct=True)
        return True

    def seen(self, message: ChatMessage) -> bool:
        """True when this message (by msgid) was already shown."""
        return message.msgid is not None and message.msgid in self._seen

    def last_seen(self, name: str) -> datetime | None:
        """The time of the newest message shown in a conversation."""
        return self._last_seen.get(self.fold(name))
