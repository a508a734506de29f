"""Numeric replies in the client role: registration, SASL, and replies worth showing."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lanchat.client.session import events as ev
from lanchat.client.session.wire import param, when
from lanchat.proto import numerics as N
from lanchat.proto.message import Message

if TYPE_CHECKING:
    from lanchat.client.session.state import ClientSession

NumericHandler = Callable[["ClientSession", Message], list[ev.Event]]
NUMERICS: dict[str, NumericHandler] = {}

#: Replies that carry nothing worth a line of its own (welcome details, counts, end markers).
QUIET = frozenset(
    {
        N.RPL_YOURHOST,
        N.RPL_CREATED,
        N.RPL_MYINFO,
        "250",
        N.RPL_LUSERCLIENT,
        N.RPL_LUSEROP,
        N.RPL_LUSERUNKNOWN,
        N.RPL_LUSERCHANNELS,
        N.RPL_LUSERME,
        N.RPL_LOCALUSERS,
        N.RPL_GLOBALUSERS,
        N.RPL_MOTDSTART,
        N.RPL_ENDOFMOTD,
        N.ERR_NOMOTD,
        N.RPL_TOPICWHOTIME,
        N.RPL_CREATIONTIME,
        N.RPL_LOGGEDOUT,
        N.RPL_SASLMECHS,
        "396",
    }
)
#: Most times "_" is appended to a nick the server says is taken before giving up.
MAX_NICK_RETRIES = 3
#: SASL replies that end a login attempt without it being a matter of wrong credentials.
SASL_TROUBLE = frozenset({N.ERR_NICKLOCKED, N.ERR_SASLTOOLONG, N.ERR_SASLABORTED, N.ERR_SASLALREADY})


def numeric(session: ClientSession, code: str, msg: Message) -> list[ev.Event]:
    """Handle one numeric reply."""
    handler = NUMERICS.get(code)
    if handler is not None:
        return handler(session, msg)
    if code in QUIET:
        return []
    moment = when(session, msg)
    text = describe(msg)
    if code[0] in "45":
        return [ev.ServerError(text, moment)]
    return [ev.Notice(text, moment)] if session.registered and text else []


def describe(msg: Message) -> str:
    """A numeric as one line: its middle parameters, then its text."""
    middle = " ".join(msg.params[1:-1])
    last = msg.params[-1] if len(msg.params) > 1 else ""
    return f"{middle}: {last}" if middle and last else middle or last


def on(*codes: str) -> Callable[[NumericHandler], NumericHandler]:
    """Register a numeric handler."""

    def register(func: NumericHandler) -> NumericHandler:
        for code in codes:
            NUMERICS[code] = func
        return func

    return register


# -- registration and login ------------------------------------------------------------------


@on(N.RPL_WELCOME)
def _welcome(session: ClientSession, msg: Message) -> list[ev.Event]:
    session.nick = param(msg, 0) or session.nick
    session.registered = True
    words = param(msg, 1).split()
    if words and "!" in words[-1] and "@" in words[-1]:
        session.source = words[-1]
    return [ev.Registered(session.nick, session.account)]


@on(N.RPL_ISUPPORT)
def _isupport(session: ClientSession, msg: Message) -> list[ev.Event]:
    for token in msg.params[1:-1]:
        if token.startswith("-"):
            session.isupport.pop(token[1:], None)
        else:
            key, _, value = token.partition("=")
            session.isupport[key] = value
    return []


@on(N.RPL_LOGGEDIN)
def _logged_in(session: ClientSession, msg: Message) -> list[ev.Event]:
    session.account = param(msg, 2) or session.account
    return []


@on(N.RPL_SASLSUCCESS)
def _sasl_success(session: ClientSession, msg: Message) -> list[ev.Event]:
    session.logged_in(session.account or "")
    return []


@on(N.ERR_SASLFAIL)
def _sasl_fail(session: ClientSession, msg: Message) -> list[ev.Event]:
    return [ev.LoginFailed(msg.params[-1] if msg.params else "SASL authentication failed")]


@on(*SASL_TROUBLE)
def _sasl_trouble(session: ClientSession, msg: Message) -> list[ev.Event]:
    return [ev.LoginFailed(msg.params[-1] if msg.params else "SASL authentication failed", bad_credentials=False)]


@on(N.ERR_PASSWDMISMATCH)
def _password_mismatch(session: ClientSession, msg: Message) -> list[ev.Event]:
    return [ev.LoginFailed(msg.params[-1] if msg.params else "Password incorrect")]


@on(N.ERR_YOUREBANNEDCREEP)
def _banned(session: ClientSession, msg: Message) -> list[ev.Event]:
    return [ev.LoginFailed(msg.params[-1] if msg.params else "You are banned", bad_credentials=False)]


@on(N.ERR_NICKNAMEINUSE, N.ERR_ERRONEUSNICKNAME)
def _bad_nick(session: ClientSession, msg: Message) -> list[ev.Event]:
    if session.registered:
        return [ev.ServerError(describe(msg), when(session, msg))]
    if msg.command == N.ERR_NICKNAMEINUSE and session.nick_retries < MAX_NICK_RETRIES:
        session.nick_retries += 1
        session.send("NICK", (session.account or "guest") + "_" * session.nick_retries)
        return []
    return [ev.LoginFailed(describe(msg), bad_credentials=False)]


# -- channel information ---------------------------------------------------------------------


@on(N.RPL_NOTOPIC, N.RPL_TOPIC)
def _topic(session: ClientSession, msg: Message) -> list[ev.Event]:
    name = param(msg, 1)
    text = param(msg, 2) if msg.command == N.RPL_TOPIC else None
    channel = session.channels.get(session.fold(name))
    if channel is not None:
        channel.topic = text
        name = channel.name
    return [ev.TopicShown(name, text)]


@on(N.RPL_NAMREPLY)
def _names(session: ClientSession, msg: Message) -> list[ev.Event]:
    session.names.setdefault(session.fold(param(msg, 2)), []).extend(param(msg, 3).split())
    return []


@on(N.RPL_ENDOFNAMES)
def _end_of_names(session: ClientSession, msg: Message) -> list[ev.Event]:
    name = param(msg, 1)
    listed = session.names.pop(session.fold(name), [])
    channel = session.channels.get(session.fold(name))
    if channel is not None:
        name = channel.name
        for entry in listed:
            nick = entry.lstrip(session.status_prefixes).partition("!")[0]
            channel.members[session.fold(nick)] = nick
    return [ev.NamesListed(name, tuple(entry.partition("!")[0] for entry in listed))]


@on(N.RPL_WHOREPLY)
def _who_reply(session: ClientSession, msg: Message) -> list[ev.Event]:
    if len(msg.params) >= 8:
        flags = msg.params[6]
        _, _, realname = msg.params[7].partition(" ")
        prefix = "".join(ch for ch in flags if ch in session.status_prefixes)
        entry = ev.WhoEntry(msg.params[5], msg.params[2], msg.params[3], realname, flags.startswith("G"), prefix)
        session.who_entries.append(entry)
    return []


@on(N.RPL_ENDOFWHO)
def _end_of_who(session: ClientSession, msg: Message) -> list[ev.Event]:
    entries, session.who_entries = session.who_entries, []
    return [ev.WhoListed(param(msg, 1), tuple(entries))]


# -- things to show --------------------------------------------------------------------------


@on(N.RPL_MOTD)
def _motd(session: ClientSession, msg: Message) -> list[ev.Event]:
    text = param(msg, 1)
    text = text[2:] if text.startswith("- ") else text
    return [ev.Notice(text, when(session, msg))]


@on(N.RPL_AWAY)
def _away(session: ClientSession, msg: Message) -> list[ev.Event]:
    text = f"{param(msg, 1)} is away: {param(msg, 2)}"
    return [ev.Notice(text, when(session, msg))]


@on(N.RPL_UNAWAY, N.RPL_NOWAWAY)
def _own_away(session: ClientSession, msg: Message) -> list[ev.Event]:
    text = param(msg, 1)
    return [ev.Notice(text, when(session, msg))] if text else []


@on(N.RPL_INVITING)
def _inviting(session: ClientSession, msg: Message) -> list[ev.Event]:
    text = f"Invited {param(msg, 1)} to {param(msg, 2)}"
    return [ev.Notice(text, when(session, msg))]
