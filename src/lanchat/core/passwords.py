"""Password hashing: argon2id for everything new, the report's SHA-512 digests until first login.

The report's database holds unsalted SHA-512 hex digests. Imported accounts keep them with a
scheme prefix (``sha512:`` for a digest of the password itself, ``sha512u:`` for the report
client's quirk of hashing ``_`` + password) until their first successful login, which rehashes
the password with argon2id.

argon2id hashes of one lane (lanchat's default) are made and checked by libsodium (PyNaCl),
which picks the fastest implementation the CPU supports when it starts (AVX2 where there is
one): ~1.5x quicker per check than argon2-cffi, whose wheels are built for SSE2 at most, on
the benchmark's machine, for the very same hash strings, so a room logging in again after a
restart is back sooner.
argon2-cffi reads the parameters of stored hashes and handles every other kind (more lanes,
argon2i); each library verifies the other's hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash.argon2id as sodium_argon2id
from argon2 import PasswordHasher as _Argon2
from argon2 import Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

SEED_PLAIN = "sha512:"
SEED_UNDERSCORE = "sha512u:"
#: The longest hash string libsodium reads (crypto_pwhash_STRBYTES - 1).
SODIUM_MAX_HASH_CHARS = 127


@dataclass(frozen=True, slots=True)
class HashParams:
    """argon2id cost parameters.

    The defaults are one of the five argon2id settings OWASP's Password Storage Cheat Sheet
    lists as equally strong (7 MiB with 5 passes; the others trade memory for passes down
    to 46 MiB with 1 pass): on the benchmark's machine it was the quickest of the five
    (argon2-cffi, ~14 ms per check on one core against ~17 ms for 19 MiB with 2 passes), so a
    room logging in at once after a restart (hundreds of logins) is served sooner, and two
    checks at a time take 14 MiB of memory, not 38. RFC 9106's profiles (64 MiB and more)
    take several times longer; set ``[accounts] argon2_*`` to use them. Hashes made with
    other parameters are upgraded at the account's next login.
    """

    time_cost: int = 5
    memory_kib: int = 7168
    parallelism: int = 1


class PasswordHasher:
    """Hash and verify passwords. Blocking: call from a worker thread, never the event loop."""

    def __init__(self, params: HashParams = HashParams()) -> None:
        self.params = params
        self._argon2 = _Argon2(
            time_cost=params.time_cost, memory_cost=params.memory_kib, parallelism=params.parallelism
        )

    def hash(self, password: str) -> str:
        """A new argon2id hash of ``password``."""
        params = self.params
        if params.parallelism != 1:
            return self._argon2.hash(password)
        secret = password.encode("utf-8")
        return sodium_argon2id.str(secret, opslimit=params.time_cost, memlimit=params.memory_kib * 1024).decode()

    def verify(self, stored: str, password: str) -> tuple[bool, bool]:
        """Check ``password`` against ``stored``; return (matches, should be rehashed)."""
        try:
            return self._check(stored, password)
        except UnicodeEncodeError:  # a password with a lone surrogate, or a damaged stored hash
            return False, False

    def _check(self, stored: str, password: str) -> tuple[bool, bool]:
        if stored.startswith(SEED_UNDERSCORE):
            return _digest_matches(stored[len(SEED_UNDERSCORE) :], "_" + password), True
        if stored.startswith(SEED_PLAIN):
            return _digest_matches(stored[len(SEED_PLAIN) :], password), True
        try:
            if _one_lane_argon2id(stored):
                sodium_argon2id.verify(stored.encode("ascii"), password.encode("utf-8"))
            else:
                self._argon2.verify(stored, password)
        except (nacl.exceptions.InvalidkeyError, VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        return True, self._argon2.check_needs_rehash(stored)


def _one_lane_argon2id(stored: str) -> bool:
    """True for an argon2id (version 1.3) hash of one lane that fits libsodium's 127-byte
    strings: the kind libsodium checks (the default salt and hash lengths take ~97)."""
    if len(stored) > SODIUM_MAX_HASH_CHARS or not stored.isascii():
        return False
    try:
        params = extract_parameters(stored)
    except InvalidHashError:
        return False
    return params.type is Type.ID and params.version == 19 and params.parallelism == 1


def _digest_matches(hex_digest: str, password: str) -> bool:
    candidate = hashlib.sha512(password.encode("utf-8")).hexdigest()
    return hmac.compare_digest(candidate, hex_digest.lower())


class VerifiedLogins:
    """Credentials verified recently, so that logging in again (a reconnect, another device,
    the whole office coming back after a restart of the network) costs a keyed hash instead of
    argon2.

    Only an HMAC-SHA256 under a random key made at start is kept (never the password), bound to
    the account's stored hash: a new password or a deleted account invalidates it. One entry
    per account, forgotten after ``ttl`` seconds; at most ``size`` accounts (the least recently
    used goes first). A wrong password always takes the full argon2 check.
    """

    def __init__(self, ttl: float = 3600.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    def _digest(self, stored: str, password: str) -> bytes:
        message = stored.encode() + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def known(self, account: str, stored: str, password: str) -> bool:
        """True when this password was verified against this stored hash within ``ttl``."""
        entry = self._entries.get(account)
        if entry is None:
            return False
        digest, expires = entry
        if time.monotonic() > expires:
            del self._entries[account]
            return False
        if not hmac.compare_digest(digest, self._digest(stored, password)):
            return False
        self._entries.move_to_end(account)
        return True

    def remember(self, account: str, stored: str, password: str) -> None:
        """Note a password that argon2 just accepted for ``stored``."""
        self._entries[account] = (self._digest(stored, password), time.monotonic() + self.ttl)
        self._entries.move_to_end(account)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, account: str) -> None:
        """Drop what is known of an account (its password changed, or it was deleted)."""
        self._entries.pop(account, None)
