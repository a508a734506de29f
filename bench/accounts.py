"""Accounts for the SASL storm and the reconnect storm.

Each account gets its own argon2id hash (own salt) with the cost the server under test is
configured with, so a credential cache in the server cannot turn 2000 logins into one. Hashing
2000 passwords takes minutes, so the filled database is kept in the build folder as a template
(keyed by count and argon2 cost) and copied into each run's fresh data folder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.servers import Lanchat

NAME_PATTERN = "user%d"
PASSWORD = "bench-password-1"


def _all_cpus() -> None:
    """Pool initializer: setup is not measured, so hash on every CPU (the driver itself is
    pinned to the load CPU and its children inherit that)."""
    os.sched_setaffinity(0, range(os.cpu_count() or 1))


def _hash_many(params: tuple[int, int, int], count: int) -> list[str]:
    from lanchat.core.passwords import HashParams, PasswordHasher

    hasher = PasswordHasher(HashParams(*params))
    return [hasher.hash(PASSWORD) for _ in range(count)]


def _argon2_params(server: Lanchat) -> tuple[int, int, int]:
    from lanchat.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lanchat.toml"
        path.write_text(server.config_text())
        config = load_config(path, environ={})
    return config.argon2_time_cost, config.argon2_memory_kib, config.argon2_parallelism


async def _write(path: Path, hashes: list[str]) -> None:
    from lanchat.core.ports import AccountRecord
    from lanchat.proto.names import casefold
    from lanchat.store.sqlite import SqliteStore

    store = SqliteStore(path)
    await store.open()
    now = int(time.time() * 1000)
    try:
        pending = []
        for i, password_hash in enumerate(hashes):
            name = NAME_PATTERN % i
            pending.append(store.add_account(AccountRecord(name, casefold(name), password_hash, created_ms=now)))
        added = await asyncio.gather(*pending)
    finally:
        await store.close()
    if not all(added):
        raise RuntimeError("some benchmark accounts already existed in a fresh database")


def template(server: Lanchat, count: int, build_dir: Path) -> Path:
    """A database holding accounts user0 … user{count-1}, made once per argon2 cost."""
    params = _argon2_params(server)
    folder = build_dir / "accounts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"accounts-{count}-t{params[0]}-m{params[1]}-p{params[2]}.db"
    if path.is_file():
        return path
    started = time.monotonic()
    workers = max(1, os.cpu_count() or 1)
    share = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]
    print(f"bench: hashing {count} account passwords (argon2id t={params[0]} m={params[1]} KiB p={params[2]})")
    with ProcessPoolExecutor(workers, initializer=_all_cpus) as pool:
        parts = list(pool.map(_hash_many, [params] * workers, share))
    hashes = [h for part in parts for h in part]
    partial = path.with_suffix(".partial")
    for leftover in folder.glob(partial.name + "*"):
        leftover.unlink()
    asyncio.run(_write(partial, hashes))
    partial.rename(path)
    print(f"bench: {count} accounts ready in {time.monotonic() - started:.0f} s ({path})")
    return path


def install(template_db: Path, data_dir: Path) -> None:
    """Copy the template into a fresh data folder as the server's database."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = data_dir / "lanchat.db"
    shutil.copyfile(template_db, target)
    os.chmod(target, 0o600)
