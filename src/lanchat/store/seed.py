"""Reading the report's user database (``chat_users.db``: ``users(Username, Password)``)."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from lanchat.core.passwords import SEED_PLAIN, SEED_UNDERSCORE

_HEX512 = re.compile(r"[0-9a-fA-F]{128}\Z")


class SeedError(Exception):
    """The file is not a database of the report's shape."""


@dataclass(frozen=True, slots=True)
class SeedUser:
    """One row turned into an account name and a stored hash with its scheme prefix."""

    name: str
    password_hash: str


def read_seed_users(path: Path) -> tuple[list[SeedUser], list[str]]:
    """Users of a report database, and one line per row that cannot be imported.

    The report's server kept the ``_`` its client sends after ``username:``, so a database
    that worked with it holds ``_NAME`` rows hashed from ``_PASSWORD``; those become NAME
    with the ``sha512u:`` scheme, which checks SHA-512 of ``_`` + password.
    """
    if not path.is_file():
        raise SeedError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SeedError(f"{path}: {exc}") from None
    try:
        columns = {row[1].lower() for row in conn.execute("PRAGMA table_info(users)")}
        if not {"username", "password"} <= columns:
            raise SeedError(f"{path}: no users(Username, Password) table")
        rows = conn.execute("SELECT Username, Password FROM users").fetchall()
    except sqlite3.DatabaseError as exc:
        raise SeedError(f"{path}: {exc}") from None
    finally:
        conn.close()
    users: list[SeedUser] = []
    problems: list[str] = []
    for username, digest in rows:
        if not isinstance(username, str) or not isinstance(digest, str) or not _HEX512.match(digest):
            problems.append(f"row {username!r}: not a name with a SHA-512 hex digest")
            continue
        if username.startswith("_") and len(username) > 1:
            users.append(SeedUser(username[1:], SEED_UNDERSCORE + digest.lower()))
        else:
            users.append(SeedUser(username, SEED_PLAIN + digest.lower()))
    return users, problems
