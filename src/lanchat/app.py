"""The composition root: builds the store, bus, services and listeners from the config."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from lanchat.bus.local import LocalBus
from lanchat.config import Config
from lanchat.core.accounts import AccountService
from lanchat.core.passwords import HashParams, PasswordHasher
from lanchat.core.throttle import LoginThrottle
from lanchat.core.websessions import WebSessionService
from lanchat.irc.link import Link
from lanchat.irc.server import IrcServer
from lanchat.net.pipeline import ConnectionLimits
from lanchat.net.seedcompat import SniffingProtocol
from lanchat.net.tcp import listening_addresses, start_irc_listener
from lanchat.stats import Histogram
from lanchat.store.backup import DataLock
from lanchat.store.sqlite import SqliteStore

if TYPE_CHECKING:
    # The web, LAN-announcement and TLS stacks (aiohttp, zeroconf, cryptography: ~0.3 s to
    # import on a slow core) are imported when they start, after the IRC listener, so that
    # clients can come back sooner after a restart and a server without them never loads them.
    from aiohttp import web

    from lanchat.net.discovery import Announcement, LanAnnouncer

log = logging.getLogger("lanchat")

SWEEP_INTERVAL = 5.0
LAG_SAMPLE_INTERVAL = 1.0
MIN_SWEEP_INTERVAL = 0.05
SHUTDOWN_GRACE = 2.0
#: How much nicer than the event loop the password-hashing threads run.
HASHING_NICENESS = 10


#: Allocations (minus frees) between two collections of the youngest generation (Python's
#: default is 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_garbage_collector() -> None:
    """Set the cyclic garbage collector up for a long-running server, once started.

    What exists after start (modules, configuration, loaded state) lives as long as the
    process: it is collected once, then frozen out of every later collection. The youngest
    generation is collected after 10,000 allocations instead of 700: each connection
    allocates a few dozen containers that live as long as it, and with the defaults a storm
    of connections spent ~12 % of its CPU in the collector (timed with ``gc.callbacks``).
    Measured with ircload (2,000 registrations on a fresh server, 4 runs each): ~9 % more
    registrations per second and ~12 % less CPU per round than with the defaults
    (docs/performance.md). Cycles are still collected, in bigger steps.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def hashing_threads() -> int:
    """Password checks run at once: two, or one when this process may use only one CPU
    (there a second thread only slows both checks down: a storm of 500 logins on one CPU
    took ~13 % longer with two, measured with the benchmark's reconnect storm)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(2, cpus))


def _yield_cpu() -> None:
    """Run this worker thread (password hashing) at a lower priority than the event loop, so
    that messages keep flowing during a storm of logins (Linux sets it per thread)."""
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + HASHING_NICENESS))


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
        self._hash_pool = ThreadPoolExecutor(
            max_workers=hashing_threads(), thread_name_prefix="argon2", initializer=_yield_cpu
        )
        self.accounts = make_accounts(config, self.store, self._hash_pool)
        self.irc = IrcServer(config, self.store, self.bus, self.accounts, self.accounts.hasher)
        self.sessions = WebSessionService(self.store, self.store, config.web_session_days)
        self._web_runner: web.AppRunner | None = None
        self.web_addresses: list[tuple[str, int]] = []
        self.loop_lag = Histogram((0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
        self._lag_sampler: asyncio.Task[None] | None = None
        self._lock = DataLock(config.data_dir)
        self._listeners: list[asyncio.Server] = []
        self._sweeper: asyncio.Task[None] | None = None
        self.announcer: LanAnnouncer | None = None
        #: (address, port) of the plaintext and the TLS listeners.
        self.addresses: list[tuple[str, int]] = []
        self.tls_addresses: list[tuple[str, int]] = []
        self.tls_context: ssl.SSLContext | None = None
        self.tls_files: tuple[Path, Path] | None = None
        self.fingerprint = ""

    async def start(self) -> None:
        """Take the data folder, open the store, load state, start listening and announcing."""
        cfg = self.config
        self._lock.acquire()
        await self.store.open()
        await self.irc.start()
        limits = ConnectionLimits(cfg.sendq_bytes, cfg.flood_burst, cfg.flood_rate)
        if cfg.tls_enabled:
            self._load_tls()
            assert self.tls_context is not None
            listener = await start_irc_listener(self.irc, cfg.irc_hosts, cfg.tls_port, limits, self.tls_context)
            self._listeners.append(listener)
            self.tls_addresses = listening_addresses(listener)
            if cfg.sts_duration:
                self.irc.set_sts(self.tls_addresses[0][1], cfg.sts_duration)
        if cfg.irc_plaintext:
            sniff = (lambda: SniffingProtocol(self.irc, limits)) if cfg.seed_compat else None
            listener = await start_irc_listener(self.irc, cfg.irc_hosts, cfg.irc_port, limits, protocol=sniff)
            self._listeners.append(listener)
            self.addresses = listening_addresses(listener)
        if cfg.web_enabled:
            from lanchat.metrics import metrics_registry, render
            from lanchat.net.web import WebApp, start_web

            web_tls = self.tls_context if cfg.web_uses_https else None
            registry = metrics_registry(self)
            web_app = WebApp(cfg, self.irc, self.store, self.accounts, self.sessions, limits, lambda: render(registry))
            self._web_runner, self.web_addresses = await start_web(web_app, cfg.irc_hosts, cfg.web_port, web_tls)
            self.irc.filehost = self._filehost
        self._sweeper = asyncio.create_task(self._sweep())
        self._lag_sampler = asyncio.create_task(self._sample_lag())
        if cfg.discovery:
            from lanchat.net.discovery import LanAnnouncer

            self.announcer = LanAnnouncer(self._announcement())
            await self.announcer.start()

    def _load_tls(self) -> None:
        from lanchat.net.tls import ensure_self_signed, fingerprint, load_context

        cfg = self.config
        if cfg.tls_cert is not None and cfg.tls_key is not None:
            files = (cfg.tls_cert, cfg.tls_key)
        else:
            files = ensure_self_signed(cfg.data_dir, cfg.server_name)
        self.tls_context = load_context(*files, context=self.tls_context)
        self.tls_files = files
        self.fingerprint = fingerprint(files[0])

    def reload_tls(self) -> None:
        """Load the certificate and key again (SIGHUP); new connections get the new pair."""
        if self.tls_context is None:
            return
        from lanchat.net.tls import TlsError

        try:
            self._load_tls()
        except TlsError as exc:
            log.error("TLS reload failed, keeping the old certificate: %s", exc)
            return
        print(f"lanchat: TLS certificate reloaded, SHA-256 fingerprint {self.fingerprint}", flush=True)

    def _filehost(self, link: Link) -> str:
        """The upload URL a connection can reach (draft/FILEHOST)."""
        host = f"[{link.local_ip}]" if ":" in link.local_ip else link.local_ip
        scheme = "https" if self.config.web_uses_https else "http"
        return f"{scheme}://{host}:{self.web_addresses[0][1]}/api/upload"

    def _announcement(self) -> Announcement:
        from lanchat.net.discovery import Announcement

        plain = self.addresses[0][1] if self.addresses else None
        tls = self.tls_addresses[0][1] if self.tls_addresses else None
        return Announcement(
            name=self.config.server_name,
            network=self.config.network,
            hosts=self.config.irc_hosts,
            plaintext_port=plain,
            tls_port=tls,
            fingerprint=self.fingerprint.replace(":", "").lower(),
            web_port=self.web_addresses[0][1] if self.web_addresses else None,
        )

    async def _sample_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(LAG_SAMPLE_INTERVAL)
            self.loop_lag.observe(max(0.0, loop.time() - asked - LAG_SAMPLE_INTERVAL))

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
        """Stop announcing and listening, tell every client, flush history, close the store."""
        if self.announcer is not None:
            await self.announcer.stop()
        for listener in self._listeners:
            listener.close()
        if self._web_runner is not None:
            await self._web_runner.shutdown()
        for task in (self._sweeper, self._lag_sampler):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.irc.shutdown(reason, SHUTDOWN_GRACE)
        if self._web_runner is not None:
            await self._web_runner.cleanup()
        await self.store.close()
        await self.bus.close()
        self._lock.release()
        self._hash_pool.shutdown(wait=False, cancel_futures=True)

    async def run(self) -> None:
        """Start, print the addresses, serve until SIGINT or SIGTERM, stop cleanly."""
        # The handlers come first: a signal sent once the addresses are printed (or while
        # starting) must stop the server cleanly, not kill it.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_tls)
        await self.start()
        tune_garbage_collector()
        for kind, addresses in (("IRC", self.addresses), ("IRC over TLS", self.tls_addresses)):
            for host, port in addresses:
                shown = f"[{host}]" if ":" in host else host
                print(f"lanchat: {kind} listening on {shown}:{port}", flush=True)
        scheme = "https" if self.config.web_uses_https else "http"
        for host, port in self.web_addresses:
            shown = f"[{host}]" if ":" in host else host
            print(f"lanchat: web client on {scheme}://{shown}:{port}/", flush=True)
        if self.fingerprint:
            print(f"lanchat: TLS certificate SHA-256 fingerprint {self.fingerprint}", flush=True)
        await stop.wait()
        print("lanchat: shutting down", flush=True)
        await self.stop()
