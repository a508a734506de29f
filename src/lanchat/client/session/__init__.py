"""The sans-I/O IRC client session: feed it messages, get events and lines to send."""

from lanchat.client.session.events import ChatMessage, Event, WhoEntry
from lanchat.client.session.state import ClientSession

__all__ = ["ChatMessage", "ClientSession", "Event", "WhoEntry"]
