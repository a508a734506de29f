"""The composition root: builds the store, bus, services and listeners from the config."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

from lanchat.bus.local import LocalBus
from lanchat.config import Config
from lanchat.core.accounts import AccountService
from lanchat.core.passwords import HashParams, PasswordHasher
from lanchat.core.throttle import LoginThrottle
from lanchat.irc.server import IrcServer
from lanchat.net.tcp import ConnectionLimits, listening_addresses, start_irc_listener
from lanchat.store.sqlite import SqliteStore

log = logging.getLogger("lanchat")

SWEEP_INTERVAL = 5.0
MIN_SWEEP_INTERVAL = 0.05
SHUTDOWN_GRACE = 2.0


def make_hasher(config: Config) -> PasswordHasher:
    """The password hasher with the configured argon2id cost."""
    return PasswordHasher(HashParams(config.argon2_time_cost, config.argon2_memory_kib, config.argon2_parallelism))


def make_store(config: Config) -> SqliteStore:
    """The embedded SQLite store in the data folder."""
    return SqliteStore(config.database_path, synchronous=config.sqlite_synchronous.upper())


def make_accounts(config: Config, store: SqliteStore, executor: ThreadPoolExecutor | None) -> AccountService:
    """Account operations with the configured hashing and login throttle."""
    throttle = LoginThrottle(free=config.login_throttle_free, max_delay=config.login_throttle_max_delay)
    return AccountService(store, make_hasher(config), executor, throttle=throttle, name_length=config.nick_length)


class App:
    """A running lanchat server."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = make_store(config)
        self.bus = LocalBus()
        self._hash_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
        self.accounts = make_accounts(config, self.store, self._hash_pool)
        self.irc = IrcServer(config, self.store, self.bus, self.accounts, self.accounts.hasher)
        self._listeners: list[asyncio.Server] = []
        self._sweeper: asyncio.Task[None] | None = None
        self.addresses: list[tuple[str, int]] = []

    async def start(self) -> None:
        """Open the store, load state, start listening."""
        await self.store.open()
        await self.irc.start()
        limits = ConnectionLimits(self.config.sendq_bytes, self.config.flood_burst, self.config.flood_rate)
        listener = await start_irc_listener(self.irc, self.config.irc_hosts, self.config.irc_port, limits)
        self._listeners.append(listener)
        self.addresses = listening_addresses(listener)
        self._sweeper = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        cfg = self.config
        shortest = min(cfg.registration_timeout, cfg.ping_interval, cfg.ping_timeout)
        interval = max(MIN_SWEEP_INTERVAL, min(SWEEP_INTERVAL, shortest / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                self.irc.sweep()
            except Exception:
                log.exception("connection sweep failed")

    async def stop(self, reason: str = "Server shutting down") -> None:
        """Stop listening, tell every client, flush history, close the store."""
        for listener in self._listeners:
            listener.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.irc.shutdown(reason, SHUTDOWN_GRACE)
        await self.store.close()
        await self.bus.close()
        self._hash_pool.shutdown(wait=False, cancel_futures=True)

    async def run(self) -> None:
        """Start, print the addresses, serve until SIGINT or SIGTERM, stop cleanly."""
        await self.start()
        for host, port in self.addresses:
            shown = f"[{host}]" if ":" in host else host
            print(f"lanchat: IRC listening on {shown}:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("lanchat: shutting down", flush=True)
        await self.stop()
