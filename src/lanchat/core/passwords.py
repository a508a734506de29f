"""Password hashing: argon2id for everything new, the report's SHA-512 digests until first login.

The report's database holds unsalted SHA-512 hex digests. Imported accounts keep them with a
scheme prefix (``sha512:`` for a digest of the password itself, ``sha512u:`` for the report
client's quirk of hashing ``_`` + password) until their first successful login, which rehashes
the password with argon2id.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

SEED_PLAIN = "sha512:"
SEED_UNDERSCORE = "sha512u:"


@dataclass(frozen=True, slots=True)
class HashParams:
    """argon2id cost parameters (defaults: argon2-cffi's RFC 9106 low-memory profile)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4


class PasswordHasher:
    """Hash and verify passwords. Blocking: call from a worker thread, never the event loop."""

    def __init__(self, params: HashParams = HashParams()) -> None:
        self._argon2 = _Argon2(
            time_cost=params.time_cost, memory_cost=params.memory_kib, parallelism=params.parallelism
        )

    def hash(self, password: str) -> str:
        """A new argon2id hash of ``password``."""
        return self._argon2.hash(password)

    def verify(self, stored: str, password: str) -> tuple[bool, bool]:
        """Check ``password`` against ``stored``; return (matches, should be rehashed)."""
        if stored.startswith(SEED_UNDERSCORE):
            return _digest_matches(stored[len(SEED_UNDERSCORE) :], "_" + password), True
        if stored.startswith(SEED_PLAIN):
            return _digest_matches(stored[len(SEED_PLAIN) :], password), True
        try:
            self._argon2.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        return True, self._argon2.check_needs_rehash(stored)


def _digest_matches(hex_digest: str, password: str) -> bool:
    candidate = hashlib.sha512(password.encode("utf-8")).hexdigest()
    return hmac.compare_digest(candidate, hex_digest.lower())
