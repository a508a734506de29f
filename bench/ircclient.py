"""A small asyncio IRC client for the Python-side tools (history latency, the reconnect
storm, the message-flow probe). Loopback only; every wait has a deadline."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
from dataclasses import dataclass, field

from bench.system import LOOPBACK

READ_LIMIT = 1 << 20


class IrcError(Exception):
    """Registration or a command did not work out (refused, timed out, disconnected)."""


@dataclass(slots=True)
class Line:
    """One parsed IRC line."""

    command: str
    params: list[str]
    source: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def nick(self) -> str:
        """The nick part of the source."""
        return self.source.split("!", 1)[0]


def parse_line(raw: str) -> Line:
    """Parse ``[@tags] [:source] COMMAND params… [:trailing]`` (tag values unescaped enough
    for msgid/time/batch, which never need escaping)."""
    rest = raw
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        head, _, rest = rest.partition(" ")
        for item in head[1:].split(";"):
            key, _, value = item.partition("=")
            tags[key] = value
    source = ""
    if rest.startswith(":"):
        head, _, rest = rest.partition(" ")
        source = head[1:]
    trailing: str | None = None
    if " :" in rest:
        rest, _, trailing = rest.partition(" :")
    elif rest.startswith(":"):
        rest, trailing = "", rest[1:]
    parts = rest.split()
    command = parts[0].upper() if parts else ""
    params = parts[1:]
    if trailing is not None:
        params.append(trailing)
    return Line(command, params, source, tags)


class IrcConnection:
    """One client connection, read line by line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.nick = ""
        self.caps: set[str] = set()

    @classmethod
    async def open(cls, port: int, *, within: float = 10.0) -> IrcConnection:
        """Connect to 127.0.0.1:port."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(LOOPBACK, port, limit=READ_LIMIT), timeout=within
        )
        return cls(reader, writer)

    def send(self, line: str) -> None:
        """Queue one line (CR LF added)."""
        self.writer.write(line.encode("utf-8") + b"\r\n")

    async def drain(self) -> None:
        """Wait for the kernel to take what was queued."""
        await self.writer.drain()

    async def read(self, within: float) -> Line:
        """The next line; answers PING itself. Raises IrcError at EOF, TimeoutError when late."""
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), timeout=within)
            if not raw:
                raise IrcError("connection closed by the server")
            line = parse_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
            if line.command == "PING":
                self.send("PONG :" + (line.params[-1] if line.params else ""))
                continue
            return line

    async def register(
        self,
        nick: str,
        *,
        want_caps: tuple[str, ...] = (),
        sasl: tuple[str, str] | None = None,
        within: float = 30.0,
    ) -> None:
        """NICK/USER, with CAP negotiation when caps or SASL are wanted; returns at 001."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        negotiating = bool(want_caps) or sasl is not None
        if negotiating:
            self.send("CAP LS 302")
        self.send(f"NICK {nick}")
        self.send(f"USER {nick[:10]} 0 * :bench {nick}")
        await self.drain()
        offered: set[str] = set()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{nick}: no welcome within {within:g} s")
            line = await self.read(remaining)
            cmd = line.command
            if cmd == "CAP" and len(line.params) >= 3:
                sub = line.params[1].upper()
                if sub == "LS":
                    offered.update(item.split("=", 1)[0] for item in line.params[-1].split())
                    if line.params[2] == "*":
                        continue  # more LS lines follow
                    wanted = [c for c in want_caps if c in offered]
                    if sasl is not None:
                        if "sasl" not in offered:
                            raise IrcError(f"{nick}: the server offers no SASL")
                        wanted.append("sasl")
                    if wanted:
                        self.send("CAP REQ :" + " ".join(wanted))
                    else:
                        self.send("CAP END")
                elif sub == "ACK":
                    self.caps.update(line.params[-1].split())
                    if sasl is not None and "sasl" in self.caps:
                        self.send("AUTHENTICATE PLAIN")
                    else:
                        self.send("CAP END")
                elif sub == "NAK":
                    self.send("CAP END")
            elif cmd == "AUTHENTICATE" and sasl is not None:
                account, password = sasl
                payload = base64.b64encode(f"\0{account}\0{password}".encode()).decode()
                self.send(f"AUTHENTICATE {payload}")
            elif cmd == "903":
                self.send("CAP END")
            elif cmd in {"902", "904", "905", "906", "464", "465", "432", "433", "436"}:
                raise IrcError(f"{nick}: {cmd} {' '.join(line.params[1:])}")
            elif cmd == "ERROR":
                raise IrcError(f"{nick}: {' '.join(line.params)}")
            elif cmd == "001":
                self.nick = line.params[0] if line.params else nick
                return
            await self.drain()

    async def join(self, channels: list[str], *, within: float = 30.0) -> None:
        """JOIN the channels and wait until the server confirms each (its JOIN echo)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        self.send("JOIN " + ",".join(channels))
        await self.drain()
        pending = {c.lower() for c in channels}
        while pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{self.nick}: JOIN not confirmed for {sorted(pending)}")
            line = await self.read(remaining)
            if line.command == "JOIN" and line.nick == self.nick and line.params:
                pending.discard(line.params[0].lower())
            elif line.command in {"403", "405", "471", "473", "474", "475"}:
                raise IrcError(f"{self.nick}: JOIN refused: {line.command} {' '.join(line.params[1:])}")

    async def close(self, message: str = "bench done") -> None:
        """QUIT and close (ignoring a connection that is already gone)."""
        with contextlib.suppress(Exception):
            self.send(f"QUIT :{message}")
            await asyncio.wait_for(self.writer.drain(), timeout=2)
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), timeout=2)

    def abort(self) -> None:
        """Drop the connection at once."""
        transport = self.writer.transport
        if transport is not None:
            transport.abort()


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q * len(sorted_values))))
    return sorted_values[rank - 1]


def latency_summary(values_ms: list[float]) -> dict[str, float]:
    """n, p50, p90, p99, max, mean of latencies in ms."""
    ordered = sorted(values_ms)
    n = len(ordered)
    return {
        "n": n,
        "p50": round(percentile(ordered, 0.50), 3),
        "p90": round(percentile(ordered, 0.90), 3),
        "p99": round(percentile(ordered, 0.99), 3),
        "max": round(ordered[-1], 3) if ordered else 0.0,
        "mean": round(sum(ordered) / n, 3) if n else 0.0,
    }
