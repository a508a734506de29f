"""Server operators: OPER, KILL, WALLOPS."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lanchat.core.errors import NoSuchNick
from lanchat.core.events import Wallops
from lanchat.irc.client import Client, User
from lanchat.irc.commands import Reply, command
from lanchat.irc.replies import ReplyBuffer
from lanchat.proto import numerics as N
from lanchat.proto.message import Message

if TYPE_CHECKING:
    from lanchat.irc.server import IrcServer

log = logging.getLogger("lanchat.oper")


@command("OPER", min_params=2, help="OPER name password  (server operators and admin accounts)")
def oper(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    return _oper(server, client, msg.params[0], msg.params[1], rb)


async def _oper(server: IrcServer, client: Client, name: str, password: str, rb: ReplyBuffer) -> None:
    user = client.me
    configured = {o.name: o.password_hash for o in server.config.opers}
    if not await server.accounts.verify_oper(name, password, client.ip, configured):
        rb.numeric(N.ERR_PASSWDMISMATCH, "Password incorrect")
        return
    log.warning("%s (%s) is now a server operator as %r", user.nick, client.ip, name)
    rb.numeric(N.RPL_YOUREOPER, "You are now an IRC operator")
    if server.state.set_user_mode(user, "o", True):
        line = Message("MODE", [user.nick, "+o"], user.mask)
        for conn in user.conns:
            (rb.add if conn is client else conn.send)(line)


@command("KILL", min_params=2, oper=True, help="KILL nick :reason  (operators only)")
def kill(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    target = server.state.session(msg.params[0])
    if target is None:
        raise NoSuchNick(msg.params[0])
    assert isinstance(target, User)
    reason = f"Killed ({client.nick} ({msg.params[1]}))"
    log.warning("%s killed %s: %s", client.nick, target.nick, msg.params[1])
    for conn in target.conns:
        conn.quit_reason = reason
        conn.close(reason)
    return None


@command("WALLOPS", min_params=1, oper=True, help="WALLOPS :text  (to everyone with +w; operators only)")
def wallops(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    user = client.me
    recipients = [s for s in server.state.sessions.values() if "w" in s.modes and s is not user]
    server.state.publish(Wallops(user.actor, msg.params[0]), recipients, user)
    return None
