"""Logging: diagnostics to stderr; "NAME is connected/disconnected" to stdout, as the report."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str) -> None:
    """Configure the root logger and the presence log."""
    root = logging.getLogger()
    root.handlers.clear()
    diagnostics = logging.StreamHandler(sys.stderr)
    diagnostics.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(diagnostics)
    root.setLevel(level.upper())
    presence = logging.getLogger("lanchat.presence")
    presence.handlers.clear()
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(logging.Formatter("%(message)s"))
    presence.addHandler(out)
    presence.propagate = False
    presence.setLevel(logging.INFO)
