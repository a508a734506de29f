"""Browser sessions: a random token in an HttpOnly cookie, only its hash in the database."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from lanchat.core.ports import AccountRecord, AccountStore, WebSessionRecord, WebSessionStore

#: A session's last-use time is written at most this often.
TOUCH_EVERY_MS = 3600 * 1000


def token_hash(token: str) -> str:
    """What is stored for a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_for(token: str) -> str:
    """The anti-CSRF value of a session (derived from its token; scripts never see the token)."""
    return hmac.new(token.encode("utf-8"), b"lanchat csrf", hashlib.sha256).hexdigest()[:32]


class WebSessionService:
    """Opens, resolves and revokes browser sessions."""

    def __init__(self, sessions: WebSessionStore, accounts: AccountStore, idle_days: int) -> None:
        self.sessions = sessions
        self.accounts = accounts
        self.idle_ms = idle_days * 86400 * 1000

    async def open(self, account: AccountRecord) -> str:
        """A new session for a logged-in account; returns its token."""
        token = secrets.token_urlsafe(32)
        now = int(time.time() * 1000)
        await self.sessions.add_web_session(WebSessionRecord(token_hash(token), account.key, now, now))
        return token

    async def resolve(self, token: str | None) -> AccountRecord | None:
        """The account behind a valid, unexpired token whose account still exists."""
        if not token or len(token) > 200:
            return None
        digest = token_hash(token)
        record = await self.sessions.get_web_session(digest)
        if record is None:
            return None
        now = int(time.time() * 1000)
        if now - record.last_used_ms > self.idle_ms:
            await self.sessions.delete_web_session(digest)
            return None
        account = await self.accounts.get_account(record.account)
        if account is None:
            return None
        if now - record.last_used_ms > TOUCH_EVERY_MS:
            await self.sessions.touch_web_session(digest, now)
        return account

    async def close(self, token: str | None) -> None:
        """Revoke a session (logout)."""
        if token:
            await self.sessions.delete_web_session(token_hash(token))
