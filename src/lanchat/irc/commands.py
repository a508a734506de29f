"""The command table: verb -> handler with its declarative checks.

Handlers live in ``irc/handlers/`` and register themselves with :func:`command`. The
dispatcher checks registration, parameter count and operator status before calling them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lanchat.irc.client import Client
from lanchat.irc.replies import ReplyBuffer
from lanchat.proto.message import Message

if TYPE_CHECKING:
    from lanchat.irc.server import IrcServer

#: What a handler returns: None when it is done, or an awaitable that finishes the command.
Reply = Awaitable[object] | None
Handler = Callable[["IrcServer", Client, Message, ReplyBuffer], Reply]


@dataclass(frozen=True, slots=True)
class Command:
    """One verb's entry in the table."""

    name: str
    handler: Handler
    min_params: int = 0
    pre_registration: bool = False
    oper: bool = False
    help: str = ""


COMMANDS: dict[str, Command] = {}


def command(
    name: str,
    *,
    min_params: int = 0,
    pre_registration: bool = False,
    oper: bool = False,
    help: str = "",
    aliases: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Register a handler for a verb (and its aliases)."""

    def register(handler: Handler) -> Handler:
        for verb in (name, *aliases):
            COMMANDS[verb] = Command(verb, handler, min_params, pre_registration, oper, help)
        return handler

    return register
