"""Fixtures: a real lanchat server on a loopback port with its SQLite file in a temp folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_asyncio

from lanchat.app import App
from lanchat.config import Config
from tests.ircclient import IrcTestClient

FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1}


def test_config(data_dir: Path, **overrides: Any) -> Config:
    """A config for tests: loopback, any free port, cheap hashing, no flood delay."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "irc_hosts": ("127.0.0.1",),
        "irc_port": 0,
        "allow_guests": True,
        "default_channel": "",
        "history_replay": 0,
        "flood_rate": 0.0,
        "tls_enabled": False,
        "discovery": False,
        "web_enabled": False,
        "login_throttle_free": 1000,
        **FAST_ARGON2,
    }
    values.update(overrides)
    return Config(**values)


@dataclass
class RunningServer:
    """A server started by a test, and the clients connected to it."""

    app: App
    config: Config
    clients: list[IrcTestClient] = field(default_factory=list)
    stopped: bool = False

    @property
    def port(self) -> int:
        """The IRC port it listens on."""
        return self.app.addresses[0][1]

    async def connect(self) -> IrcTestClient:
        """A new, unregistered connection."""
        client = await IrcTestClient.connect(self.port)
        self.clients.append(client)
        return client

    async def user(self, nick: str, **kwargs: Any) -> IrcTestClient:
        """A new registered connection (see IrcTestClient.register for the options)."""
        client = await self.connect()
        await client.register(nick, **kwargs)
        return client

    async def add_account(self, name: str, password: str, *, admin: bool = False) -> None:
        """Create an account while the server runs."""
        await self.app.accounts.create(name, password, admin=admin)

    async def stop(self) -> None:
        """Close the test's clients and stop the server cleanly (once)."""
        if self.stopped:
            return
        self.stopped = True
        for client in self.clients:
            await client.close()
        self.clients.clear()
        await self.app.stop()


ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest_asyncio.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start servers with config overrides; all are stopped after the test.

    Servers started with the same ``data_dir`` share the SQLite file (a restart)."""
    running: list[RunningServer] = []

    async def start(**overrides: Any) -> RunningServer:
        overrides.setdefault("data_dir", tmp_path / "data")
        app = App(test_config(**overrides))
        await app.start()
        server = RunningServer(app, app.config)
        running.append(server)
        return server

    yield start
    for server in running:
        await server.stop()


@pytest_asyncio.fixture
async def server(make_server: ServerFactory) -> RunningServer:
    """A running server with guests allowed and no default channel."""
    return await make_server()
