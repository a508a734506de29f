"""Accounts: create, authenticate (off the event loop), change passwords."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Executor

from lanchat.core.errors import AccountExists, ChatError, InvalidAccountName, LoginFailed
from lanchat.core.passwords import PasswordHasher, VerifiedLogins
from lanchat.core.ports import AccountData, AccountRecord
from lanchat.core.throttle import LoginThrottle
from lanchat.proto.names import casefold, valid_account_name

log = logging.getLogger("lanchat.accounts")


class RegistrationClosed(ChatError):
    """A sign-up while registration is closed (and the server already has accounts)."""


class AccountService:
    """Account operations shared by the server and the command line."""

    def __init__(
        self,
        store: AccountData,
        hasher: PasswordHasher,
        executor: Executor | None,
        *,
        throttle: LoginThrottle | None = None,
        name_length: int = 32,
        casemapping: str = "rfc1459",
    ) -> None:
        self.store = store
        self.hasher = hasher
        self.executor = executor
        self.throttle = throttle or LoginThrottle()
        self.name_length = name_length
        self.casemapping = casemapping
        self._dummy_hash: str | None = None
        #: Failed logins and OPER attempts since start (for /metrics).
        self.failed_logins = 0
        #: Held while deciding and creating an account, so "is it the first?" stays true.
        self._creating = asyncio.Lock()
        self.verified = VerifiedLogins()

    def key(self, name: str) -> str:
        """The casefolded key of an account name."""
        return casefold(name, self.casemapping)

    async def _blocking(self, fn: object, *args: str) -> object:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)  # type: ignore[arg-type]

    async def hash_password(self, password: str) -> str:
        """argon2id hash, computed in a worker thread."""
        return str(await self._blocking(self.hasher.hash, password))

    async def create(self, name: str, password: str, *, admin: bool = False) -> AccountRecord:
        """Create an account; raises :class:`InvalidAccountName` or :class:`AccountExists`."""
        if not valid_account_name(name, self.name_length):
            raise InvalidAccountName(name, "not a valid account name")
        password_hash = await self.hash_password(password)
        async with self._creating:
            return await self._add(name, password_hash, admin=admin)

    async def register(self, name: str, password: str, *, registration_open: bool) -> AccountRecord:
        """Self-service sign-up: the first account ever is an admin, later ones need open
        registration.

        Deciding "first" and creating the account happen under the lock every creation takes,
        so parallel sign-ups on a fresh server make one admin, and the others count as later
        sign-ups. Raises :class:`RegistrationClosed`, :class:`InvalidAccountName` or
        :class:`AccountExists`.
        """
        if not valid_account_name(name, self.name_length):
            raise InvalidAccountName(name, "not a valid account name")
        password_hash = await self.hash_password(password)
        async with self._creating:
            first = await self.store.count_accounts() == 0
            if not first and not registration_open:
                raise RegistrationClosed(name, "registration is closed")
            return await self._add(name, password_hash, admin=first)

    async def _add(self, name: str, password_hash: str, *, admin: bool) -> AccountRecord:
        record = AccountRecord(
            name=name,
            key=self.key(name),
            password_hash=password_hash,
            admin=admin,
            created_ms=int(time.time() * 1000),
        )
        if not await self.store.add_account(record):
            raise AccountExists(name, "an account with that name exists")
        return record

    async def set_password(self, name: str, password: str) -> bool:
        """Replace an account's password and log out its browser sessions; False when there is
        no such account."""
        key = self.key(name)
        changed = await self.store.set_password_hash(key, await self.hash_password(password))
        self.verified.forget(key)
        if changed:
            await self.store.delete_web_sessions_of(key)
        return changed

    async def authenticate(self, name: str, password: str, address: str) -> AccountRecord:
        """Check a login. Raises :class:`LoginFailed`; upgrades old hashes on success.

        Failures are throttled per address and per account and logged without the password.
        """
        key = self.key(name)
        keys = [f"ip:{address}", f"account:{key}"]
        async with self.throttle.attempt(keys) as attempt:
            record = await self.store.get_account(key) if name else None
            if record is None:
                # Spend the same time as a real check so account names cannot be probed by timing.
                if self._dummy_hash is None:
                    self._dummy_hash = await self.hash_password("not a real password")
                await self._blocking(self.hasher.verify, self._dummy_hash, password)
                matches, rehash = False, False
            elif self.verified.known(key, record.password_hash, password):
                matches, rehash = True, False
            else:
                result = await self._blocking(self.hasher.verify, record.password_hash, password)
                matches, rehash = result  # type: ignore[misc]
                if matches and not rehash:
                    self.verified.remember(key, record.password_hash, password)
            if record is None or not matches:
                self.failed_logins += 1
                count = attempt.failed()
                log.warning("login failed for account %r from %s (%d recent failures)", name, address, count)
                raise LoginFailed(name, "invalid account name or password")
            attempt.succeeded()
        if rehash:
            await self.store.set_password_hash(key, await self.hash_password(password))
            log.info("password hash of account %r upgraded to argon2id", record.name)
        return record

    async def verify_oper(self, name: str, password: str, address: str, configured: Mapping[str, str]) -> bool:
        """Check OPER credentials: a configured operator, else an admin account. Throttled."""
        keys = [f"ip:{address}", f"oper:{self.key(name)}"]
        async with self.throttle.attempt(keys) as attempt:
            stored = configured.get(name)
            if stored is None:
                record = await self.store.get_account(self.key(name))
                stored = record.password_hash if record is not None and record.admin else None
            if stored is None:
                matches = False
            else:
                result = await self._blocking(self.hasher.verify, stored, password)
                matches = bool(result[0])  # type: ignore[index]
            if matches:
                attempt.succeeded()
            else:
                self.failed_logins += 1
                count = attempt.failed()
                log.warning("OPER failed for %r from %s (%d recent failures)", name, address, count)
        return matches
