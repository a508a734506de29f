"""The bare Python relay the issue measures lanchat against ("a bare Python relay on this
machine, with one write per recipient per loop iteration").

It speaks what ``ircsink`` (../shared/bench/ircsink.c) speaks for the rate and connect
scenarios: NICK/USER registration, PING/PONG, JOIN (echoed to the members, then 366),
PRIVMSG/NOTICE to a channel (relayed to every other member) or to a nick, QUIT. It does it in
CPython, the way lanchat's hot path does: asyncio Protocols on uvloop when installed, each line
built once and appended to every recipient's list, every connection written once per loop
iteration with one ``b"".join``. No checks, modes, tags, storage or flood control.

What lanchat does beyond this is what its rate falls short of this relay's; how far this
relay itself falls short of the C servers is the part no Python server on one core can win
back.

    python -m bench.pyrelay --port 6667 [--lifetime 3600]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import cast

SERVER = b"relay.local"
#: Unterminated input larger than this is not IRC: the connection is dropped.
MAX_PENDING = 8192


class Relay:
    """The nicks, the channels and the connections with output waiting."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.nicks: dict[bytes, Connection] = {}
        self.channels: dict[bytes, list[Connection]] = {}
        self.dirty: list[Connection] = []

    def queue(self, conn: Connection, line: bytes) -> None:
        """Append a line to a connection's output; the first one schedules the flush."""
        if not conn.out:
            if not self.dirty:
                self.loop.call_soon(self.flush)
            self.dirty.append(conn)
        conn.out.append(line)

    def flush(self) -> None:
        """One write per connection with output (runs once per loop iteration)."""
        dirty, self.dirty = self.dirty, []
        for conn in dirty:
            if conn.out and conn.transport is not None:
                conn.transport.write(b"".join(conn.out))
            conn.out.clear()

    def relay(self, sender: Connection, verb: bytes, target: bytes, text: bytes) -> None:
        """PRIVMSG/NOTICE to every other member of a channel, or to one nick."""
        line = b"%s %s %s :%s\r\n" % (sender.prefix, verb, target, text)
        if target.startswith(b"#"):
            members = self.channels.get(target)
            if members is None:
                self.queue(sender, b":%s 403 %s %s :No such channel\r\n" % (SERVER, sender.nick, target))
                return
            for member in members:
                if member is not sender:
                    self.queue(member, line)
            return
        peer = self.nicks.get(target)
        if peer is None:
            self.queue(sender, b":%s 401 %s %s :No such nick\r\n" % (SERVER, sender.nick, target))
            return
        self.queue(peer, line)

    def join(self, conn: Connection, name: bytes) -> None:
        """Add a member, tell every member (the joiner included), then 366."""
        if not name.startswith(b"#") or len(name) >= 64:
            return
        members = self.channels.setdefault(name, [])
        if conn in members:
            return
        members.append(conn)
        conn.channels.append(name)
        line = b"%s JOIN %s\r\n" % (conn.prefix, name)
        for member in members:
            self.queue(member, line)
        self.queue(conn, b":%s 366 %s %s :End of /NAMES list.\r\n" % (SERVER, conn.nick, name))

    def part_all(self, conn: Connection) -> None:
        """Forget a connection that closed."""
        for name in conn.channels:
            members = self.channels.get(name)
            if members is not None and conn in members:
                members.remove(conn)
        conn.channels.clear()
        if conn.registered and self.nicks.get(conn.nick) is conn:
            del self.nicks[conn.nick]


class Connection(asyncio.Protocol):
    """One client."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.transport: asyncio.Transport | None = None
        self.pending = b""
        self.out: list[bytes] = []
        self.nick = b""
        self.user = b""
        self.prefix = b""
        self.registered = False
        self.negotiating = False
        self.channels: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.part_all(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        for raw in lines:
            line = raw.rstrip(b"\r")
            if line:
                self.command(line)
            if self.transport is None or self.transport.is_closing():
                return
        if len(self.pending) > MAX_PENDING:
            self.close(b"Input line too long")

    def close(self, reason: bytes) -> None:
        """Say why, write what is queued, and close."""
        self.relay.queue(self, b"ERROR :Closing link (%s)\r\n" % reason)
        if self.transport is not None:
            self.transport.write(b"".join(self.out))
            self.out.clear()
            self.transport.close()

    def command(self, line: bytes) -> None:
        """Split ``[@tags] [:prefix] VERB params… [:trailing]`` and act on it."""
        if line.startswith(b"@") or line.startswith(b":"):
            _, _, line = line.partition(b" ")
        head, sep, trailing = line.partition(b" :")
        params = head.split()
        if sep:
            params.append(trailing)
        if not params:
            return
        verb = params[0].upper()
        relay = self.relay
        if verb in (b"PRIVMSG", b"NOTICE"):
            if self.registered and len(params) >= 3:
                relay.relay(self, verb, params[1], params[2])
        elif verb == b"PING":
            relay.queue(self, b":%s PONG %s :%s\r\n" % (SERVER, SERVER, params[1] if len(params) > 1 else b""))
        elif verb == b"JOIN" and len(params) > 1:
            if self.registered:
                for name in params[1].split(b","):
                    relay.join(self, name)
        elif verb == b"NICK" and len(params) > 1:
            if not self.registered:
                self.nick = params[1][:31]
                self.try_register()
        elif verb == b"USER" and len(params) > 1:
            if not self.registered:
                self.user = params[1][:31]
                self.try_register()
        elif verb == b"CAP" and len(params) > 1:
            self.cap(params)
        elif verb == b"QUIT":
            self.close(b"quit")

    def cap(self, params: list[bytes]) -> None:
        """No capabilities: LS lists none, REQ is refused, END ends the negotiation."""
        who = self.nick or b"*"
        sub = params[1].upper()
        if sub == b"LS":
            self.negotiating = True
            self.relay.queue(self, b":%s CAP %s LS :\r\n" % (SERVER, who))
        elif sub == b"REQ":
            self.negotiating = True
            wanted = params[2] if len(params) > 2 else b""
            self.relay.queue(self, b":%s CAP %s NAK :%s\r\n" % (SERVER, who, wanted))
        elif sub == b"END":
            self.negotiating = False
            self.try_register()

    def try_register(self) -> None:
        """001 once NICK and USER are in and no CAP negotiation is open."""
        if self.registered or not self.nick or not self.user or self.negotiating:
            return
        relay = self.relay
        if self.nick in relay.nicks:
            relay.queue(self, b":%s 433 * %s :Nickname is already in use\r\n" % (SERVER, self.nick))
            self.nick = b""
            return
        relay.nicks[self.nick] = self
        self.registered = True
        self.prefix = b":%s!%s@127.0.0.1" % (self.nick, self.user)
        relay.queue(self, b":%s 001 %s :Welcome to the relay %s\r\n" % (SERVER, self.nick, self.prefix[1:]))


async def serve(host: str, port: int, lifetime: float) -> None:
    """Listen until SIGTERM/SIGINT or the end of ``lifetime`` seconds."""
    loop = asyncio.get_running_loop()
    relay = Relay(loop)
    server = await loop.create_server(lambda: Connection(relay), host, port, backlog=4096)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"pyrelay: listening on {host}:{port}", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), lifetime)
    except TimeoutError:
        print("pyrelay: lifetime over, exiting", file=sys.stderr, flush=True)
    server.close()


def main(argv: list[str] | None = None) -> int:
    """Run the relay (uvloop when it is installed, as lanchat does)."""
    parser = argparse.ArgumentParser(prog="python -m bench.pyrelay", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6667)
    parser.add_argument("--lifetime", type=float, default=3600.0, help="exit by itself after this many seconds")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port, args.lifetime))
    else:
        uvloop.run(serve(args.host, args.port, args.lifetime))
    return 0


if __name__ == "__main__":
    sys.exit(main())
