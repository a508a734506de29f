"""A user's own state: AWAY, SETNAME, MONITOR."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lanchat.irc.client import Client
from lanchat.irc.commands import Reply, command
from lanchat.irc.replies import ReplyBuffer
from lanchat.proto import numerics as N
from lanchat.proto.message import Message

if TYPE_CHECKING:
    from lanchat.irc.server import IrcServer

LIST_LINE_BYTES = 400


@command("AWAY", help="AWAY [:message]  (no message: you are back)")
def away(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    text = msg.params[0] if msg.params else ""
    if text:
        server.presence.set_away(client.me, text)
        rb.numeric(N.RPL_NOWAWAY, "You have been marked as being away")
    else:
        server.presence.set_away(client.me, None)
        rb.numeric(N.RPL_UNAWAY, "You are no longer marked as being away")
    return None


@command("SETNAME", min_params=1, help="SETNAME :new real name")
def setname(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    realname = msg.params[0]
    if not realname or len(realname) > server.state.settings.realname_length:
        rb.fail("SETNAME", "INVALID_REALNAME", "Realname is not valid")
        return None
    server.presence.set_realname(client.me, realname)
    return None


def _chunks(items: list[str]) -> list[str]:
    """Join items with commas into pieces that fit one line each."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for item in items:
        if current and size + len(item) + 1 > LIST_LINE_BYTES:
            out.append(",".join(current))
            current, size = [], 0
        current.append(item)
        size += len(item) + 1
    if current:
        out.append(",".join(current))
    return out


@command("MONITOR", min_params=1, help="MONITOR + nick[,nick] | - nick[,nick] | C | L | S")
def monitor(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    user = client.me
    presence = server.presence
    sub = msg.params[0]
    targets = [t for t in (msg.params[1] if len(msg.params) > 1 else "").split(",") if t]
    if sub == "+":
        nicks = [t for t in targets if "!" not in t and "@" not in t and "*" not in t]
        online, offline, rejected = presence.monitor_add(user, nicks)
        for part in _chunks([s.mask for s in online]):
            rb.numeric(N.RPL_MONONLINE, part)
        for part in _chunks(offline + [t for t in targets if t not in nicks]):
            rb.numeric(N.RPL_MONOFFLINE, part)
        if rejected:
            limit = str(server.state.settings.monitor_limit)
            rb.numeric(N.ERR_MONLISTFULL, limit, ",".join(rejected), "Monitor list is full.")
    elif sub == "-":
        presence.monitor_remove(user, targets)
    elif sub.upper() == "C":
        presence.monitor_clear(user)
    elif sub.upper() == "L":
        for part in _chunks(sorted(user.monitoring.values())):
            rb.numeric(N.RPL_MONLIST, part)
        rb.numeric(N.RPL_ENDOFMONLIST, "End of MONITOR list")
    elif sub.upper() == "S":
        online_masks = []
        offline_nicks = []
        for key, nick in sorted(user.monitoring.items()):
            target = server.state.sessions.get(key)
            if target is not None:
                online_masks.append(target.mask)
            else:
                offline_nicks.append(nick)
        for part in _chunks(online_masks):
            rb.numeric(N.RPL_MONONLINE, part)
        for part in _chunks(offline_nicks):
            rb.numeric(N.RPL_MONOFFLINE, part)
    return None
