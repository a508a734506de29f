"""Who is who: WHO (with WHOX), WHOIS, WHOWAS, ISON, USERHOST."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lanchat.core.model import Channel, Session
from lanchat.irc.client import R_MULTI_PREFIX, Client
from lanchat.irc.commands import Reply, command
from lanchat.irc.handlers.channels import status_prefix, visible_members
from lanchat.irc.replies import ReplyBuffer
from lanchat.proto import numerics as N
from lanchat.proto.message import Message
from lanchat.proto.names import is_channel, mask_matches, parse_decimal

if TYPE_CHECKING:
    from lanchat.irc.server import IrcServer

WHOX_ORDER = "tcuihsnfdlaor"


def _shares_channel(a: Session, b: Session) -> bool:
    return a is b or any(key in b.channels for key in a.channels)


def _flags(user: Session, status: str | None, multi: bool) -> str:
    flags = "G" if user.away is not None else "H"
    if user.is_oper:
        flags += "*"
    if status:
        flags += status_prefix(status, multi)
    if "B" in user.modes:
        flags += "B"
    return flags


@command("WHO", help="WHO #channel|nick|mask [%fields[,token]]")
def who(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    viewer = client.me
    mask = msg.params[0] if msg.params else "*"
    fields = ""
    token = ""
    if len(msg.params) > 1 and "%" in msg.params[1]:
        # WHOX: [flags]%fields[,token]; the flags before % are historical and ignored.
        fields, _, token = msg.params[1].partition("%")[2].partition(",")
    mapping = server.state.settings.casemapping
    rows: list[tuple[Session, Channel | None]] = []
    if is_channel(mask):
        channel = server.state.channel(mask)
        if channel is not None:
            rows = [(member, channel) for member, _ in visible_members(channel, viewer)]
    else:
        exact = server.state.session(mask)
        if exact is not None:
            rows = [(exact, None)]
        elif mask in ("*", "0"):
            rows = [
                (s, None) for s in server.state.sessions.values() if "i" not in s.modes or _shares_channel(viewer, s)
            ]
        else:
            for s in server.state.sessions.values():
                if "i" in s.modes and not _shares_channel(viewer, s):
                    continue
                if (
                    mask_matches(mask, s.nick, mapping)
                    or mask_matches(mask, s.mask, mapping)
                    or mask_matches(mask, s.realname, mapping)
                ):
                    rows.append((s, None))
    multi = bool(client.render_mask & R_MULTI_PREFIX)
    now = time.time()
    for user, channel in rows:
        status = channel.members.get(user, "") if channel is not None else None
        flags = _flags(user, status, multi)
        chan = channel.name if channel is not None else "*"
        if fields:
            rb.numeric(N.RPL_WHOSPCRPL, *_whox(server, viewer, user, chan, flags, fields, token, now))
        else:
            rb.numeric(N.RPL_WHOREPLY, chan, user.user, user.host, server.name, user.nick, flags, f"0 {user.realname}")
    rb.numeric(N.RPL_ENDOFWHO, mask, "End of WHO list")
    return None


def _whox(
    server: IrcServer, viewer: Session, user: Session, chan: str, flags: str, fields: str, token: str, now: float
) -> list[str]:
    values = {
        "t": token or "0",
        "c": chan,
        "u": user.user,
        "i": user.ip if viewer.is_oper or viewer is user else "255.255.255.255",
        "h": user.host,
        "s": server.name,
        "n": user.nick,
        "f": flags,
        "d": "0",
        "l": str(int(now - user.last_active)),
        "a": user.account or "0",
        "o": "n/a",
        "r": user.realname,
    }
    return [values[letter] for letter in WHOX_ORDER if letter in fields]


@command("WHOIS", min_params=1, help="WHOIS nick")
def whois(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    viewer = client.me
    queried = msg.params[-1]
    multi = bool(client.render_mask & R_MULTI_PREFIX)
    for nick in queried.split(",")[:1]:
        user = server.state.session(nick)
        if user is None:
            rb.numeric(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
            continue
        rb.numeric(N.RPL_WHOISUSER, user.nick, user.user, user.host, "*", user.realname)
        chans = [
            status_prefix(ch.members.get(user, ""), multi) + ch.name
            for ch in user.channels.values()
            if server.channels.visible(ch, viewer)
        ]
        if chans:
            rb.numeric(N.RPL_WHOISCHANNELS, user.nick, " ".join(chans))
        rb.numeric(N.RPL_WHOISSERVER, user.nick, server.name, server.config.network)
        if user.is_oper:
            rb.numeric(N.RPL_WHOISOPERATOR, user.nick, "is an IRC operator")
        if user.away is not None:
            rb.numeric(N.RPL_AWAY, user.nick, user.away)
        if user.account:
            rb.numeric(N.RPL_WHOISACCOUNT, user.nick, user.account, "is logged in as")
        if "B" in user.modes:
            rb.numeric(N.RPL_WHOISBOT, user.nick, f"is a Bot on {server.config.network}")
        if all(conn.link.secure for conn in server.conns_of(user)):
            rb.numeric(N.RPL_WHOISSECURE, user.nick, "is using a secure connection")
        if viewer is user or viewer.is_oper:
            rb.numeric(N.RPL_WHOISACTUALLY, user.nick, user.ip, "Is actually using host")
        idle = int(time.time() - user.last_active)
        rb.numeric(N.RPL_WHOISIDLE, user.nick, str(idle), str(int(user.signon)), "seconds idle, signon time")
    rb.numeric(N.RPL_ENDOFWHOIS, queried, "End of /WHOIS list")
    return None


@command("WHOWAS", help="WHOWAS nick [count]")
def whowas(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    if not msg.params or not msg.params[0]:
        rb.numeric(N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return None
    nick = msg.params[0]
    count = (parse_decimal(msg.params[1]) if len(msg.params) > 1 else None) or 0
    entries = server.presence.whowas(nick, count)
    if not entries:
        rb.numeric(N.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    for entry in entries:
        rb.numeric(N.RPL_WHOWASUSER, entry.nick, entry.user, entry.host, "*", entry.realname)
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry.time))
        rb.numeric(N.RPL_WHOISSERVER, entry.nick, server.name, when)
    rb.numeric(N.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")
    return None


@command("ISON", min_params=1, help="ISON nick [nick …]")
def ison(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    nicks = [n for p in msg.params for n in p.split()]
    online = [n for n in nicks if server.state.session(n) is not None]
    rb.numeric(N.RPL_ISON, " ".join(online))
    return None


@command("USERHOST", min_params=1, help="USERHOST nick [nick …] (up to 5)")
def userhost(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    replies = []
    for nick in [n for p in msg.params for n in p.split()][:5]:
        user = server.state.session(nick)
        if user is not None:
            oper = "*" if user.is_oper else ""
            away = "-" if user.away is not None else "+"
            replies.append(f"{user.nick}{oper}={away}{user.user}@{user.host}")
    rb.numeric(N.RPL_USERHOST, " ".join(replies))
    return None
