"""Slow down repeated failed logins per address and per account, never lock out for good."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class _Entry:
    failures: int = 0
    last_failure: float = 0.0
    next_allowed: float = 0.0


class LoginThrottle:
    """After ``free`` failures on a key, each further attempt waits its turn.

    The wait doubles with every failure up to ``max_delay`` seconds, and attempts on the same
    key queue behind each other, so parallel connections cannot try faster. A key's failures
    are forgotten ``window`` seconds after its last one, or at a successful login.
    """

    def __init__(self, free: int = 5, base_delay: float = 1.0, max_delay: float = 30.0, window: float = 900.0) -> None:
        self.free = free
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.window = window
        self._entries: dict[str, _Entry] = {}

    def reserve(self, keys: list[str], now: float | None = None) -> float:
        """Seconds the attempt on ``keys`` must wait before it is checked."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        for key in keys:
            entry = self._live(key, now)
            if entry is None or entry.failures < self.free:
                continue
            delay = min(self.max_delay, self.base_delay * 2 ** (entry.failures - self.free))
            start = max(now, entry.next_allowed)
            entry.next_allowed = start + delay
            wait = max(wait, entry.next_allowed - now)
        return wait

    def failed(self, keys: list[str], now: float | None = None) -> int:
        """Record a failure on each key; return the highest failure count among them."""
        now = time.monotonic() if now is None else now
        worst = 0
        for key in keys:
            entry = self._live(key, now) or self._entries.setdefault(key, _Entry())
            entry.failures += 1
            entry.last_failure = now
            worst = max(worst, entry.failures)
        if len(self._entries) > 10_000:
            self._sweep(now)
        return worst

    def succeeded(self, keys: list[str]) -> None:
        """Forget the failures of each key."""
        for key in keys:
            self._entries.pop(key, None)

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.last_failure > self.window:
            del self._entries[key]
            return None
        return entry

    def _sweep(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if now - e.last_failure > self.window]:
            del self._entries[key]
