"""Consistent copies of the database while the server runs, and putting one back."""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import time
from pathlib import Path

from lanchat.store.schema import current_version

LOCK_NAME = "lanchat.lock"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


class DataLock:
    """An exclusive lock on the data folder, held by a running server."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; raises :class:`BackupError` when a server already holds it."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise BackupError(f"another lanchat server is using {self.path.parent}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock back."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def backup(database: Path, destination: Path) -> Path:
    """Copy the database with SQLite's online backup (consistent even while it is written)."""
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    if destination.is_dir():
        destination = destination / f"lanchat-{time.strftime('%Y%m%d-%H%M%S')}.db"
    # Created owner-only before anything is written (it holds password hashes and DMs);
    # O_EXCL: never overwrite, even a file that appears meanwhile.
    try:
        os.close(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise BackupError(f"{destination} exists: choose another name") from None
    except OSError as exc:
        raise BackupError(f"cannot write {destination}: {exc.strerror}") from None
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        target = sqlite3.connect(destination)
        try:
            source.backup(target)
            if target.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError("the copy failed its integrity check")
        finally:
            source.close()
            target.close()
    except sqlite3.Error as exc:
        destination.unlink(missing_ok=True)
        raise BackupError(f"cannot copy {database}: {exc}") from None
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return destination


def check_backup(path: Path) -> int:
    """The schema version of a lanchat database file; raises for anything else."""
    if not path.is_file():
        raise BackupError(f"no file at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a lanchat database: {exc}") from None
    if not {"accounts", "channels", "messages"} <= tables:
        raise BackupError(f"{path} is not a lanchat database")
    if not ok:
        raise BackupError(f"{path} failed its integrity check")
    if version > current_version():
        raise BackupError(f"{path} comes from a newer lanchat (schema {version}); upgrade first")
    return version


def restore(source: Path, database: Path, lock: DataLock) -> Path | None:
    """Put a backup in place of the database (the server must be stopped). The replaced
    database is kept beside it; returns its path (None when there was none)."""
    check_backup(source)
    try:
        lock.acquire()  # held until the new file is in place: no server may start meanwhile
    except BackupError:
        raise BackupError("the server is running on this data folder: stop it first") from None
    try:
        kept: Path | None = None
        if database.exists():
            kept = database.with_name(f"{database.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
            backup(database, kept)
        partial = database.with_name(database.name + ".restoring")
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out)
        for suffix in ("-wal", "-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        os.replace(partial, database)
        return kept
    finally:
        lock.release()
