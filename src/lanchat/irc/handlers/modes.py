"""MODE for channels and for users."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lanchat.core.channels import ModeChange
from lanchat.core.errors import NoSuchNick, UnknownMode
from lanchat.core.model import FLAG_MODES, LIST_MODES, STATUS_MODES, Channel
from lanchat.irc.client import Client
from lanchat.irc.commands import Reply, command
from lanchat.irc.errors import reply_error
from lanchat.irc.isupport import MODES_PER_COMMAND
from lanchat.irc.replies import ReplyBuffer
from lanchat.proto import numerics as N
from lanchat.proto.message import Message
from lanchat.proto.names import is_channel

if TYPE_CHECKING:
    from lanchat.irc.server import IrcServer

_LIST_REPLIES = {
    "b": (N.RPL_BANLIST, N.RPL_ENDOFBANLIST, "End of channel ban list"),
    "e": (N.RPL_EXCEPTLIST, N.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
    "I": (N.RPL_INVEXLIST, N.RPL_ENDOFINVEXLIST, "End of channel invite exception list"),
}
SETTABLE_USER_MODES = "iwB"


@command("MODE", min_params=1, help="MODE #channel [+-modes [args]] | MODE yournick [+-iwB]")
def mode(server: IrcServer, client: Client, msg: Message, rb: ReplyBuffer) -> Reply:
    if is_channel(msg.params[0]):
        _channel_mode(server, client, msg.params, rb)
    else:
        _user_mode(server, client, msg.params, rb)
    return None


def _channel_mode(server: IrcServer, client: Client, params: list[str], rb: ReplyBuffer) -> None:
    user = client.me
    channel = server.state.existing_channel(params[0])
    if len(params) == 1:
        modes, args = channel.mode_string(show_key=user in channel.members)
        rb.numeric(N.RPL_CHANNELMODEIS, channel.name, modes, *args)
        rb.numeric(N.RPL_CREATIONTIME, channel.name, str(channel.created))
        return
    changes, queries, unknown = parse_channel_modes(params[1], params[2:])
    for letter in unknown:
        reply_error(rb, "MODE", UnknownMode(letter))
    for letter in queries:
        _send_list(channel, letter, rb)
    if changes:
        for error in server.channels.change_modes(user, channel.name, changes):
            reply_error(rb, "MODE", error)


def parse_channel_modes(modestring: str, args: list[str]) -> tuple[list[ModeChange], list[str], list[str]]:
    """Split a MODE request into changes, list queries (``+b`` without a mask) and unknown letters."""
    changes: list[ModeChange] = []
    queries: list[str] = []
    unknown: list[str] = []
    adding = True
    remaining = list(args)
    with_param = 0
    for letter in modestring:
        if letter in "+-":
            adding = letter == "+"
            continue
        if letter in LIST_MODES:
            if not remaining:
                if letter not in queries:
                    queries.append(letter)
                continue
            arg: str | None = remaining.pop(0)
        elif letter in STATUS_MODES or (letter == "k" and adding) or (letter == "l" and adding):
            if not remaining:
                continue
            arg = remaining.pop(0)
        elif letter == "k":
            arg = remaining.pop(0) if remaining else None
        elif letter == "l" or letter in FLAG_MODES:
            arg = None
        else:
            unknown.append(letter)
            continue
        if arg is not None:
            with_param += 1
            if with_param > MODES_PER_COMMAND:
                break
        changes.append(ModeChange(adding, letter, arg))
    return changes, queries, unknown


def _send_list(channel: Channel, letter: str, rb: ReplyBuffer) -> None:
    item, end, text = _LIST_REPLIES[letter]
    for entry in channel.lists.get(letter, {}).values():
        rb.numeric(item, channel.name, entry.mask, entry.set_by, str(entry.set_at))
    rb.numeric(end, channel.name, text)


def _user_mode(server: IrcServer, client: Client, params: list[str], rb: ReplyBuffer) -> None:
    user = client.me
    target = server.state.session(params[0])
    if target is None:
        raise NoSuchNick(params[0])
    if target is not user:
        rb.numeric(N.ERR_USERSDONTMATCH, "Can't change mode for other users")
        return
    if len(params) == 1:
        rb.numeric(N.RPL_UMODEIS, "+" + "".join(sorted(user.modes)))
        return
    adding = True
    applied: list[tuple[bool, str]] = []
    bad = False
    for letter in params[1]:
        if letter in "+-":
            adding = letter == "+"
        elif letter in SETTABLE_USER_MODES or (letter == "o" and not adding):
            if server.state.set_user_mode(user, letter, adding):
                applied.append((adding, letter))
        elif letter != "o":
            bad = True
    if applied:
        if any(letter == "B" for _, letter in applied):
            user.identity_changed()
        line = Message("MODE", [user.nick, _format(applied)], user.mask)
        for conn in user.conns:
            (rb.add if conn is client else conn.send)(line)
    if bad:
        rb.numeric(N.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")


def _format(applied: list[tuple[bool, str]]) -> str:
    out = []
    sign: bool | None = None
    for adding, letter in applied:
        if adding is not sign:
            out.append("+" if adding else "-")
            sign = adding
        out.append(letter)
    return "".join(out)
