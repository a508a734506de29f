"""The reconnect storm: N clients in their channels, some traffic, then the server is killed
and started again at once on the same port (and, for lanchat, the same data folder). Every
client reconnects as soon as it notices (retrying every 50 ms while the port is closed) and
the tool measures when each is back in all of its channels.

Modes:
- ``guests``: clients re-register and JOIN their channels themselves (what an IRC client's
  auto-join does); works for every server.
- ``accounts`` (lanchat): clients log in with SASL and do not JOIN: lanchat puts an account
  back into its stored channels at login.

With echo-message (lanchat), every message the server echoed before the kill counts as
acknowledged; afterwards each acknowledged msgid must be in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ircclient import IrcConnection, IrcError, latency_summary

RETRY_INTERVAL = 0.05
ECHO_CAPS = ("echo-message", "message-tags", "server-time")


@dataclass(frozen=True, slots=True)
class StormOptions:
    """Sizes and times of one storm."""

    clients: int = 500
    channels: int = 50
    per_client: int = 3
    rate: float = 200.0
    traffic_s: float = 3.0
    deadline_s: float = 60.0
    setup_concurrency: int = 50
    setup_timeout_s: float = 600.0
    accounts: bool = False
    ircv3: bool = True
    password: str = ""
    restart_signal: signal.Signals = signal.SIGKILL


@dataclass
class _Client:
    index: int
    nick: str
    channels: list[str]
    conn: IrcConnection | None = None
    joined: set[str] = field(default_factory=set)
    back_at: float | None = None
    acked: list[str] = field(default_factory=list)
    attempts: int = 0
    last_error: str = ""


class ReconnectStorm:
    """One storm against a server that ``restart`` kills and starts again."""

    def __init__(self, port: int, options: StormOptions) -> None:
        self.port = port
        self.opt = options
        self.clients: list[_Client] = []
        for i in range(options.clients):
            chans = sorted(
                {
                    f"#rc{(i + k * (options.channels // options.per_client + 1)) % options.channels}"
                    for k in range(options.per_client)
                }
            )
            self.clients.append(_Client(i, f"user{i}", chans))
        self.sent = 0
        self.acked_before_kill = 0
        self.killed_at: float | None = None
        self.back_count = 0
        self.all_back = asyncio.Event()
        self.phase = "setup"

    # -- one client -------------------------------------------------------------------------

    async def _session(self, c: _Client, *, first: bool, deadline: float) -> None:
        """Connect (retrying while refused), register, get into every channel, then read
        until the connection drops; a drop before the client was back in place is retried."""
        loop = asyncio.get_running_loop()
        wanted = {ch.lower() for ch in c.channels}
        while loop.time() < deadline:
            c.attempts += 1
            try:
                conn = await IrcConnection.open(self.port, within=max(0.1, deadline - loop.time()))
            except (OSError, TimeoutError) as exc:
                c.last_error = f"connect: {exc}"
                await asyncio.sleep(RETRY_INTERVAL)
                continue
            c.conn = conn
            c.joined = set()
            try:
                sasl = (c.nick, self.opt.password) if self.opt.accounts else None
                caps = ECHO_CAPS if self.opt.ircv3 else ()
                await conn.register(c.nick, want_caps=caps, sasl=sasl, within=max(0.1, deadline - loop.time()))
                if first or not self.opt.accounts:
                    conn.send("JOIN " + ",".join(c.channels))
                    await conn.drain()
                await self._read(c, conn, deadline)
                return
            except (IrcError, OSError, TimeoutError) as exc:
                c.last_error = str(exc) or type(exc).__name__
                conn.abort()
                c.conn = None
                if wanted <= c.joined:
                    return  # it was in place and the connection dropped: this session is over
                await asyncio.sleep(RETRY_INTERVAL)
        c.last_error = c.last_error or "deadline"

    async def _read(self, c: _Client, conn: IrcConnection, deadline: float) -> None:
        """Track channel joins and echoes; return when the connection ends (raises IrcError)."""
        loop = asyncio.get_running_loop()
        wanted = {ch.lower() for ch in c.channels}
        while True:
            try:
                line = await conn.read(60.0)
            except TimeoutError:
                if loop.time() > deadline + 120:
                    return
                continue
            if line.command == "JOIN" and line.nick == c.nick and line.params:
                c.joined.add(line.params[0].lower())
                if c.back_at is None and self.killed_at is not None and wanted <= c.joined:
                    c.back_at = loop.time()
                    self.back_count += 1
                    if self.back_count == len(self.clients):
                        self.all_back.set()
            elif line.command == "PRIVMSG" and line.nick == c.nick and len(line.params) > 1:
                msgid = line.tags.get("msgid")
                if msgid and line.params[1].startswith("RCK ") and self.killed_at is None:
                    c.acked.append(msgid)
            elif line.command in {"403", "405", "471", "473", "474", "475"}:
                raise IrcError(f"JOIN refused: {line.command}")

    # -- the storm --------------------------------------------------------------------------

    async def run(self, restart: Callable[[signal.Signals], Awaitable[float]]) -> dict[str, Any]:
        """Set up, send traffic, call ``restart`` (returns seconds until the new server
        listened), wait for everyone to come back, and report."""
        loop = asyncio.get_running_loop()
        opt = self.opt
        setup_started = loop.time()
        setup_deadline = setup_started + opt.setup_timeout_s
        gate = asyncio.Semaphore(opt.setup_concurrency)
        tasks: dict[int, asyncio.Task[None]] = {}

        async def first(c: _Client) -> None:
            async with gate:
                tasks[c.index] = asyncio.create_task(self._session(c, first=True, deadline=setup_deadline))
                while loop.time() < setup_deadline and not c.joined >= {ch.lower() for ch in c.channels}:
                    if tasks[c.index].done():
                        return
                    await asyncio.sleep(0.01)

        await asyncio.gather(*(first(c) for c in self.clients))
        in_place = sum(1 for c in self.clients if c.joined >= {ch.lower() for ch in c.channels})
        setup_s = loop.time() - setup_started
        if in_place < len(self.clients):
            await self._close(tasks)
            bad = next(c for c in self.clients if c.joined < {ch.lower() for ch in c.channels})
            return {
                "status": "setup_failed",
                "in_place": in_place,
                "setup_s": round(setup_s, 3),
                "first_error": f"{bad.nick}: {bad.last_error}",
            }

        # traffic
        self.phase = "traffic"
        interval = 1.0 / opt.rate
        started = loop.time()
        n = 0
        while loop.time() - started < opt.traffic_s and n < opt.rate * opt.traffic_s:
            c = self.clients[n % len(self.clients)]
            n += 1
            if c.conn is not None:
                self.sent += 1
                c.conn.send(f"PRIVMSG {c.channels[n % len(c.channels)]} :RCK {c.index} {n}")
            await asyncio.sleep(max(0.0, started + n * interval - loop.time()))
        await asyncio.sleep(0.2)  # let the last echoes in; later ones are simply unacknowledged

        # restart: sessions end on their own when their connection drops
        self.phase = "restart"
        self.acked_before_kill = sum(len(c.acked) for c in self.clients)
        self.killed_at = loop.time()
        kill_deadline = self.killed_at + opt.deadline_s
        for c in self.clients:
            old = tasks[c.index]
            tasks[c.index] = asyncio.create_task(self._after(c, old, kill_deadline))
        ready_s = await restart(opt.restart_signal)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_back.wait(), timeout=max(0.0, kill_deadline - loop.time()))
        back = [c.back_at - self.killed_at for c in self.clients if c.back_at is not None]
        not_back = [c for c in self.clients if c.back_at is None]
        await self._close(tasks)
        result: dict[str, Any] = {
            "status": "ok" if not not_back else "not_all_back",
            "clients": len(self.clients),
            "channels_per_client": opt.per_client,
            "mode": "accounts" if opt.accounts else "guests",
            "signal": opt.restart_signal.name,
            "setup_s": round(setup_s, 3),
            "sent": self.sent,
            "acked": self.acked_before_kill,
            "ready_s": round(ready_s, 3),
            "back": len(back),
            "not_back": len(not_back),
            "back_all_s": round(max(back), 3) if back and not not_back else None,
            "back_s": latency_summary(back),
            "attempts_max": max(c.attempts for c in self.clients),
        }
        if not_back:
            result["first_error"] = f"{not_back[0].nick}: {not_back[0].last_error}"
        return result

    async def _after(self, c: _Client, old: asyncio.Task[None], deadline: float) -> None:
        """Wait for the old session to see the drop, then come back."""
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(old, timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
        c.joined = set()
        await self._session(c, first=False, deadline=deadline)

    async def _close(self, tasks: dict[int, asyncio.Task[None]]) -> None:
        for c in self.clients:
            if c.conn is not None:
                c.conn.abort()
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)

    def acked_msgids(self) -> list[str]:
        """Every msgid the server echoed before the kill."""
        return [m for c in self.clients for m in c.acked]


def missing_from_history(database: Path, msgids: list[str]) -> int:
    """How many of ``msgids`` are not in lanchat's messages table."""
    if not msgids:
        return 0
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        found = 0
        for i in range(0, len(msgids), 500):
            chunk = msgids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found += conn.execute(f"SELECT COUNT(*) FROM messages WHERE msgid IN ({marks})", chunk).fetchone()[0]
    finally:
        conn.close()
    return len(msgids) - found


def now() -> float:
    """Monotonic seconds (for callers timing a restart)."""
    return time.monotonic()
