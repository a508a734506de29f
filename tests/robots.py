"""A thin test harness around ircrobots, a third-party IRCv3 client library from PyPI.

ircrobots does the client side of CAP 302, SASL PLAIN and message tags itself (and ircstates
tracks channels and users from what the server sends), so tests through it check lanchat
against an implementation we did not write.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from ircrobots.bot import Bot
from ircrobots.interface import IServer
from ircrobots.ircv3 import Capability
from ircrobots.params import ConnectionParams, SASLUserPass
from ircrobots.sasl import SASLResult
from ircrobots.server import Server
from ircstates.server import ServerDisconnectedException
from irctokens.line import Line, build

#: Caps ircrobots does not ask for by itself.
EXTRA_CAPS = ("server-time", "echo-message")


class RobotConnection(Server):
    """One ircrobots connection; every line read is also put in ``inbox``."""

    def __init__(self, bot: Bot, name: str) -> None:
        super().__init__(bot, name)
        self.inbox: asyncio.Queue[Line] = asyncio.Queue()
        self.closed = asyncio.Event()

    async def line_read(self, line: Line) -> None:
        self.inbox.put_nowait(line)

    async def expect(self, matches: Callable[[Line], bool], timeout: float = 5.0) -> Line:
        """The first line (queued or incoming) that ``matches``; others are dropped."""
        async with asyncio.timeout(timeout):
            while True:
                line = await self.inbox.get()
                if matches(line):
                    return line


class _RobotBot(Bot):
    def create_server(self, name: str) -> Server:
        return RobotConnection(self, name)

    async def disconnected(self, server: IServer) -> None:
        # The default reconnects; a test wants to see the disconnect.
        assert isinstance(server, RobotConnection)
        server.closed.set()


@dataclass
class Robot:
    """A connected ircrobots client."""

    bot: _RobotBot
    conn: RobotConnection
    task: asyncio.Task[None]

    async def send(self, command: str, *params: str, tags: dict[str, str] | None = None) -> None:
        """Send a line built (and escaped) by irctokens."""
        await self.conn.send(build(command, list(params), tags=tags))

    async def join(self, channel: str) -> None:
        """JOIN and wait for the end of NAMES (ircrobots' send_join deadlocks from a test)."""
        await self.send("JOIN", channel)
        await self.expect(lambda line: line.command == "366" and line.params[1] == channel)

    async def expect(self, matches: Callable[[Line], bool], timeout: float = 5.0) -> Line:
        """Wait for a line."""
        return await self.conn.expect(matches, timeout)

    @property
    def sasl_ok(self) -> bool:
        """Whether SASL succeeded."""
        return self.conn.sasl_state == SASLResult.SUCCESS

    async def quit(self, message: str = "bye") -> None:
        """QUIT, wait for the server to close, then stop the bot."""
        if not self.conn.closed.is_set():
            with contextlib.suppress(ConnectionError, TimeoutError):
                await self.send("QUIT", message)
                await asyncio.wait_for(self.conn.closed.wait(), 5)
        await self.close()

    async def close(self) -> None:
        """Stop the bot and close the socket without leaking ircrobots' tasks."""
        if not self.conn.closed.is_set():
            with contextlib.suppress(ConnectionError):
                await self.conn.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.conn.closed.wait(), 5)
        # ircrobots leaves a helper task waiting on this event when its read loop ends.
        self.conn._wait_for.set()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ServerDisconnectedException, ConnectionError):
            await self.task
        await asyncio.sleep(0)
        with contextlib.suppress(ConnectionError):
            await self.conn.disconnect()


async def connect_robot(
    port: int,
    nick: str,
    *,
    sasl: tuple[str, str] | None = None,
    caps: tuple[str, ...] = EXTRA_CAPS,
    timeout: float = 5.0,
) -> Robot:
    """Connect an ircrobots client to 127.0.0.1:port and wait for 001."""
    bot = _RobotBot()
    params = ConnectionParams(
        nickname=nick, host="127.0.0.1", port=port, tls=None, sasl=SASLUserPass(*sasl) if sasl else None
    )
    conn = await bot.add_server(nick, params)
    assert isinstance(conn, RobotConnection)
    conn.desired_caps.update(Capability(c) for c in caps)
    robot = Robot(bot, conn, asyncio.create_task(bot.run()))
    try:
        await conn.expect(lambda line: line.command == "001", timeout)
    except BaseException:
        await robot.close()
        raise
    conn.set_throttle(1000, 1)  # ircrobots slows itself to 4 lines per 2 s after 001
    return robot
