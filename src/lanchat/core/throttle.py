"""Slow down repeated failed logins per address and per account, never lock out for good."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True)
class _Entry:
    failures: int = 0
    last_failure: float = 0.0
    next_allowed: float = 0.0
    #: Attempts admitted and not yet decided (their password is being checked, or they wait).
    pending: int = 0

    def full(self, free: int) -> bool:
        """Free attempts remain, but all of them are in flight."""
        return self.failures < free <= self.failures + self.pending


class Attempt:
    """One admitted attempt (see :meth:`LoginThrottle.attempt`): decide it once."""

    def __init__(self, throttle: LoginThrottle, keys: list[str]) -> None:
        self._throttle = throttle
        self._keys = keys
        self.decided = False

    def failed(self) -> int:
        """It failed: the highest failure count among its keys."""
        self.decided = True
        return self._throttle.failed(self._keys)

    def succeeded(self) -> None:
        """It succeeded: the keys' failures are forgotten."""
        self.decided = True
        self._throttle.succeeded(self._keys)


class LoginThrottle:
    """After ``free`` failures on a key, each further attempt waits its turn.

    The wait doubles with every failure up to ``max_delay`` seconds, and attempts on the same
    key queue behind each other, so parallel connections cannot try faster. Attempts in flight
    count too: while a key has fewer than ``free`` failures, at most ``free`` minus that many
    attempts are checked at once and the rest wait for one to be decided, so a burst of
    parallel guesses gets no more free tries than guesses one after another. A key's failures
    are forgotten ``window`` seconds after its last one, or at a successful login.

    Every attempt admitted by :meth:`reserve` or :meth:`acquire` ends with exactly one of
    :meth:`failed`, :meth:`succeeded` or :meth:`release`.
    """

    def __init__(self, free: int = 5, base_delay: float = 1.0, max_delay: float = 30.0, window: float = 900.0) -> None:
        self.free = free
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.window = window
        self._entries: dict[str, _Entry] = {}
        #: Attempts waiting for a free slot, per key whose slots are all in flight (FIFO).
        self._waiters: dict[str, deque[asyncio.Future[None]]] = {}

    def reserve(self, keys: list[str], now: float | None = None) -> float | None:
        """Admit an attempt on ``keys``: the seconds it must wait before it is checked.

        None when the free attempts of a key are all in flight: nothing is admitted, and the
        caller asks again once one of them is decided (:meth:`acquire` does that).
        """
        now = time.monotonic() if now is None else now
        entries = [self._live(key, now) or self._entries.setdefault(key, _Entry()) for key in keys]
        if any(e.full(self.free) for e in entries):
            self._settle(keys)
            return None
        wait = 0.0
        for entry in entries:
            if entry.failures >= self.free:
                # Attempts queued ahead count as the failures they will most likely be.
                delay = min(self.max_delay, self.base_delay * 2 ** (entry.failures + entry.pending - self.free))
                start = max(now, entry.next_allowed)
                entry.next_allowed = start + delay
                wait = max(wait, entry.next_allowed - now)
            entry.pending += 1
        return wait

    @contextlib.asynccontextmanager
    async def attempt(self, keys: list[str]) -> AsyncIterator[Attempt]:
        """Wait for a turn (:meth:`acquire`), then hold the attempt; one that leaves undecided
        (the client went away, an error) is released."""
        await self.acquire(keys)
        attempt = Attempt(self, keys)
        try:
            yield attempt
        finally:
            if not attempt.decided:
                self.release(keys)

    async def acquire(self, keys: list[str]) -> None:
        """Wait until an attempt on ``keys`` may be checked; it is then in flight.

        Cancelled while waiting, it is not counted any more.
        """
        full: str | None = None
        while (wait := self.reserve(keys)) is None:
            blocked = next(key for key in keys if self._full(key))
            if full is not None and full != blocked and not self._full(full):
                self._wake_one(full)  # woken for a slot of ``full`` but held up elsewhere: pass it on
            full = blocked
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(full, deque()).append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one(full)  # woken, then cancelled: pass the turn on
                else:
                    waiting = self._waiters.get(full)
                    if waiting is not None and waiter in waiting:
                        waiting.remove(waiter)
                raise
        if wait > 0:
            try:
                await asyncio.sleep(wait)
            except BaseException:
                self.release(keys)
                raise

    def failed(self, keys: list[str], now: float | None = None) -> int:
        """Record a failure on each key; return the highest failure count among them."""
        now = time.monotonic() if now is None else now
        worst = 0
        for key in keys:
            entry = self._live(key, now) or self._entries.setdefault(key, _Entry())
            entry.failures += 1
            entry.last_failure = now
            entry.pending = max(0, entry.pending - 1)
            worst = max(worst, entry.failures)
        if len(self._entries) > 10_000:
            self._sweep(now)
        self._wake(keys)
        return worst

    def succeeded(self, keys: list[str]) -> None:
        """Forget the failures of each key."""
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None:
                entry.failures = 0
                entry.pending = max(0, entry.pending - 1)
        self._settle(keys)
        self._wake(keys)

    def release(self, keys: list[str]) -> None:
        """An admitted attempt ended undecided (the client went away): stop counting it."""
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None:
                entry.pending = max(0, entry.pending - 1)
        self._settle(keys)
        self._wake(keys)

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.failures and now - entry.last_failure > self.window:
            entry.failures = 0
        if entry is not None and not entry.failures and not entry.pending:
            del self._entries[key]
            return None
        return entry

    def _settle(self, keys: list[str]) -> None:
        """Drop the entries of ``keys`` that hold nothing any more."""
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and not entry.failures and not entry.pending:
                del self._entries[key]

    def _full(self, key: str) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry.full(self.free)

    def _wake(self, keys: list[str]) -> None:
        """An attempt on ``keys`` was decided: one waiter per key may try again."""
        for key in keys:
            self._wake_one(key)

    def _wake_one(self, key: str) -> None:
        waiting = self._waiters.get(key)
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        if waiting is not None and not waiting:
            del self._waiters[key]

    def _sweep(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if not e.pending and now - e.last_failure > self.window]:
            del self._entries[key]
