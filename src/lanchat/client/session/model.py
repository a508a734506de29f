"""Records a client session keeps: the channels it is in and the batches still open."""

from __future__ import annotations

from dataclasses import dataclass, field

from lanchat.client.session.events import ChatMessage


@dataclass
class Channel:
    """A channel we are in: its name as the server spells it, members (folded -> nick), topic."""

    name: str
    members: dict[str, str] = field(default_factory=dict)
    topic: str | None = None


@dataclass
class Batch:
    """An open BATCH: its type, parameters and (for chathistory) the messages so far."""

    kind: str
    params: list[str]
    messages: list[ChatMessage] = field(default_factory=list)
