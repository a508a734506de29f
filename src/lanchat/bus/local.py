"""The in-process bus: publish hands the event straight to the subscribers, same loop turn."""

from __future__ import annotations

from collections.abc import Sequence

from lanchat.core.events import Event
from lanchat.core.model import Session
from lanchat.core.ports import EventSink


class LocalBus:
    """Single-process fan-out. A Redis bus later carries the same events between processes."""

    def __init__(self) -> None:
        self._sinks: list[EventSink] = []

    def subscribe(self, sink: EventSink) -> None:
        """Add a receiver of every published event."""
        self._sinks.append(sink)

    def publish(self, event: Event, recipients: Sequence[Session], origin: Session | None) -> None:
        """Deliver ``event`` to every subscriber now."""
        for sink in self._sinks:
            sink(event, recipients, origin)

    async def close(self) -> None:
        """Nothing to release."""
