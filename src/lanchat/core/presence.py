"""Who is online: connecting, nick changes, away, real names, MONITOR and WHOWAS."""

from __future__ import annotations

import time
from collections.abc import Callable

from lanchat.core.errors import ErroneousNick, NickInUse
from lanchat.core.events import (
    AccountChanged,
    AwayChanged,
    NickChanged,
    Quit,
    RealnameChanged,
    WatchedUserChanged,
)
from lanchat.core.model import Session
from lanchat.core.state import ChatState, WhowasEntry
from lanchat.proto.names import valid_nick

#: Called with (watchers, session, online, nick) when a watched nick comes or goes.
PresenceListener = Callable[[list[Session], Session, bool, str], None]


class PresenceService:
    """Tracks online sessions and tells watchers and channel peers about changes."""

    def __init__(self, state: ChatState, on_presence: PresenceListener | None = None) -> None:
        self.state = state
        self.on_presence = on_presence

    def validate_nick(self, nick: str, session: Session | None) -> str:
        """The nick's key; raises when it is invalid or taken by another online user."""
        if not valid_nick(nick, self.state.settings.nick_length):
            raise ErroneousNick(nick, "Erroneous nickname")
        key = self.state.fold(nick)
        holder = self.state.sessions.get(key)
        if holder is not None and holder is not session:
            raise NickInUse(nick, "Nickname is already in use")
        return key

    async def check_nick(self, nick: str, session: Session | None, account_key: str | None) -> str:
        """Like :meth:`validate_nick`, and refuse a nick that another account owns."""
        key = self.validate_nick(nick, session)
        if key != account_key and await self.state.store.get_account(key) is not None:
            raise NickInUse(nick, "Nickname is reserved by a registered account")
        return key

    def connect(self, session: Session) -> None:
        """Make a registered session visible. Its nick must have passed :meth:`check_nick`."""
        self.validate_nick(session.nick, session)
        state = self.state
        state.sessions[session.key] = session
        if session.account_key:
            state.by_account.setdefault(session.account_key, set()).add(session)
        state.max_sessions = max(state.max_sessions, len(state.sessions))
        state.user_mode_counts.update(session.modes)
        self._notify_watchers(session.key, session, True)

    def change_nick(self, session: Session, new_nick: str) -> None:
        """Rename an online session (already checked); tells its peers and watchers."""
        state = self.state
        new_key = self.validate_nick(new_nick, session)
        old_actor = session.actor
        old_key = session.key
        self._remember(session)
        del state.sessions[old_key]
        session.nick = new_nick
        session.key = new_key
        session.identity_changed()
        state.sessions[new_key] = session
        state.publish(NickChanged(old_actor, new_nick), state.peers(session), session)
        if old_key != new_key:
            self._notify_watchers(old_key, session, False, old_actor.nick)
            self._notify_watchers(new_key, session, True)

    def disconnect(self, session: Session, reason: str) -> None:
        """Remove a session: its channels see a QUIT, its watchers see it go offline."""
        state = self.state
        if not state.is_online(session):
            return
        peers = state.peers(session)
        for channel in list(session.channels.values()):
            channel.remove_member(session)
            state.drop_if_empty(channel)
        session.channels.clear()
        del state.sessions[session.key]
        state.user_mode_counts.subtract(session.modes)
        if session.account_key:
            mine = state.by_account.get(session.account_key)
            if mine is not None:
                mine.discard(session)
                if not mine:
                    del state.by_account[session.account_key]
                    # Not awaited: last-seen only decides which DMs were missed.
                    state.store.set_last_seen(session.account_key, state.now_ms())
        for key in session.monitoring:
            watchers = state.watchers.get(key)
            if watchers is not None:
                watchers.discard(session)
                if not watchers:
                    del state.watchers[key]
        session.monitoring.clear()
        self._remember(session)
        state.publish(Quit(session.actor, reason), peers, session)
        self._notify_watchers(session.key, session, False)

    def set_away(self, session: Session, message: str | None) -> None:
        """Mark away (with a message) or back (``None``)."""
        if message is not None:
            message = message[: self.state.settings.away_length]
        session.away = message
        self._publish_change(session, AwayChanged(session.actor, message))

    def set_realname(self, session: Session, realname: str) -> None:
        """Change the real name (SETNAME)."""
        session.realname = realname
        self._publish_change(session, RealnameChanged(session.actor, realname))

    def set_account(self, session: Session, name: str | None, key: str | None, *, admin: bool = False) -> bool:
        """Log a registered session in or out of an account. False (and nothing changes) when
        the session is no longer online, e.g. it disconnected during the password check."""
        state = self.state
        if not state.is_online(session):
            return False
        if session.account_key:
            state.by_account.get(session.account_key, set()).discard(session)
        session.account = name
        session.account_key = key
        session.admin = admin
        session.identity_changed()
        if key:
            state.by_account.setdefault(key, set()).add(session)
        self._publish_change(session, AccountChanged(session.actor, name))
        return True

    def _publish_change(self, session: Session, change: AwayChanged | AccountChanged | RealnameChanged) -> None:
        """Tell channel peers, and the users watching the nick who share no channel with it."""
        state = self.state
        peers = state.peers(session)
        state.publish(change, peers, session)
        watchers = state.watchers.get(session.key)
        if watchers:
            shared = set(peers)
            others = [w for w in watchers if w not in shared and w is not session]
            if others:
                state.publish(WatchedUserChanged(change), others, None)

    # -- MONITOR ---------------------------------------------------------------------------

    def monitor_add(self, session: Session, nicks: list[str]) -> tuple[list[Session], list[str], list[str]]:
        """Watch nicks; returns (online sessions, offline nicks, nicks over the limit)."""
        state = self.state
        online: list[Session] = []
        offline: list[str] = []
        for i, nick in enumerate(nicks):
            key = state.fold(nick)
            if key in session.monitoring:
                continue
            if len(session.monitoring) >= state.settings.monitor_limit:
                return online, offline, nicks[i:]
            session.monitoring[key] = nick
            state.watchers.setdefault(key, set()).add(session)
            target = state.sessions.get(key)
            if target is not None:
                online.append(target)
            else:
                offline.append(nick)
        return online, offline, []

    def monitor_remove(self, session: Session, nicks: list[str]) -> None:
        """Stop watching nicks."""
        for nick in nicks:
            key = self.state.fold(nick)
            session.monitoring.pop(key, None)
            watchers = self.state.watchers.get(key)
            if watchers is not None:
                watchers.discard(session)
                if not watchers:
                    del self.state.watchers[key]

    def monitor_clear(self, session: Session) -> None:
        """Stop watching everything."""
        self.monitor_remove(session, list(session.monitoring))

    def _notify_watchers(self, key: str, session: Session, online: bool, nick: str | None = None) -> None:
        watchers = self.state.watchers.get(key)
        if watchers and self.on_presence is not None:
            self.on_presence(list(watchers), session, online, nick or session.nick)

    def _remember(self, session: Session) -> None:
        self.state.whowas.appendleft(
            WhowasEntry(session.nick, session.user, session.host, session.realname, session.account, time.time())
        )

    def whowas(self, nick: str, limit: int) -> list[WhowasEntry]:
        """Recent entries for a nick, newest first."""
        key = self.state.fold(nick)
        found = [e for e in self.state.whowas if self.state.fold(e.nick) == key]
        return found[:limit] if limit > 0 else found
