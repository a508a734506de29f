"""Command handlers, one module per area; importing them fills the command table."""

from __future__ import annotations


def load() -> None:
    """Import every handler module (idempotent)."""
    from lanchat.irc.handlers import (  # noqa: F401
        channels,
        history,
        info,
        messaging,
        modes,
        oper,
        queries,
        registration,
        users,
    )
