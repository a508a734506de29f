"""A message-flow probe: a few guests in one channel, one of them sending timestamped lines
at a fixed rate, the others timing each delivery. It runs beside another load (the SASL storm)
to show whether other users' messages keep flowing meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from bench.ircclient import IrcConnection, IrcError, latency_summary

CHANNEL = "#probe"


@dataclass
class _Receiver:
    conn: IrcConnection
    next_seq: int = 1
    received: int = 0
    gaps: int = 0
    latencies_ms: list[float] = field(default_factory=list)


class FlowProbe:
    """Start with :meth:`open`, then :meth:`run` until a stop event (bounded in time)."""

    def __init__(self, port: int, *, receivers: int = 10, rate: float = 20.0) -> None:
        self.port = port
        self.receiver_count = receivers
        self.rate = rate
        self.sender: IrcConnection | None = None
        self.receivers: list[_Receiver] = []
        self.sent = 0
        self.disconnects = 0

    async def open(self, within: float = 30.0) -> None:
        """Connect and join the probe channel (guests, no capabilities)."""
        self.sender = await IrcConnection.open(self.port)
        await self.sender.register("probesend", within=within)
        await self.sender.join([CHANNEL], within=within)
        for i in range(self.receiver_count):
            conn = await IrcConnection.open(self.port)
            await conn.register(f"probe{i}", within=within)
            await conn.join([CHANNEL], within=within)
            self.receivers.append(_Receiver(conn))

    async def _receive(self, rx: _Receiver, stop: asyncio.Event) -> None:
        while not stop.is_set() or rx.received < self.sent:
            try:
                line = await rx.conn.read(1.0 if not stop.is_set() else 5.0)
            except TimeoutError:
                if stop.is_set():
                    return
                continue
            except IrcError:
                self.disconnects += 1
                return
            if line.command != "PRIVMSG" or len(line.params) < 2 or not line.params[1].startswith("PRB "):
                continue
            _, seq_text, sent_ns = line.params[1].split()[:3]
            seq = int(seq_text)
            rx.latencies_ms.append((time.perf_counter_ns() - int(sent_ns)) / 1e6)
            rx.received += 1
            if seq > rx.next_seq:
                rx.gaps += seq - rx.next_seq
            rx.next_seq = max(rx.next_seq, seq + 1)

    async def run(self, stop: asyncio.Event, max_seconds: float) -> dict[str, Any]:
        """Send at the fixed rate until ``stop`` is set (or ``max_seconds``), then report."""
        assert self.sender is not None
        readers = [asyncio.create_task(self._receive(rx, stop)) for rx in self.receivers]
        loop = asyncio.get_running_loop()
        started = loop.time()
        interval = 1.0 / self.rate
        while not stop.is_set() and loop.time() - started < max_seconds:
            self.sent += 1
            self.sender.send(f"PRIVMSG {CHANNEL} :PRB {self.sent} {time.perf_counter_ns()}")
            await self.sender.drain()
            due = started + self.sent * interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, due - loop.time()))
        stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), timeout=10)
        for task in readers:
            task.cancel()
        latencies = [v for rx in self.receivers for v in rx.latencies_ms]
        expected = self.sent * len(self.receivers)
        received = sum(rx.received for rx in self.receivers)
        return {
            "rate": self.rate,
            "receivers": len(self.receivers),
            "seconds": round(loop.time() - started, 3),
            "sent": self.sent,
            "expected": expected,
            "received": received,
            "lost": expected - received,
            "disconnects": self.disconnects,
            "latency_ms": latency_summary(latencies),
        }

    async def close(self) -> None:
        """QUIT every probe connection."""
        for conn in [self.sender, *(rx.conn for rx in self.receivers)]:
            if conn is not None:
                await conn.close()
