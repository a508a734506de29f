"""Domain errors -> numeric replies, in one place."""

from __future__ import annotations

from lanchat.core import errors as E
from lanchat.irc.replies import ReplyBuffer
from lanchat.proto import numerics as N

# Errors whose numeric takes the error's subject (a nick or channel) as its one parameter.
_SUBJECT_NUMERICS: dict[type[E.ChatError], tuple[str, str]] = {
    E.NoSuchNick: (N.ERR_NOSUCHNICK, "No such nick/channel"),
    E.NoSuchChannel: (N.ERR_NOSUCHCHANNEL, "No such channel"),
    E.BadChannelName: (N.ERR_NOSUCHCHANNEL, "Invalid channel name"),
    E.NotOnChannel: (N.ERR_NOTONCHANNEL, "You're not on that channel"),
    E.ChanOpPrivsNeeded: (N.ERR_CHANOPRIVSNEEDED, "You're not channel operator"),
    E.CannotSendToChannel: (N.ERR_CANNOTSENDTOCHAN, "Cannot send to channel"),
    E.BannedFromChannel: (N.ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"),
    E.InviteOnlyChannel: (N.ERR_INVITEONLYCHAN, "Cannot join channel (+i)"),
    E.ChannelIsFull: (N.ERR_CHANNELISFULL, "Cannot join channel (+l)"),
    E.BadChannelKey: (N.ERR_BADCHANNELKEY, "Cannot join channel (+k)"),
    E.TooManyChannels: (N.ERR_TOOMANYCHANNELS, "You have joined too many channels"),
    E.NickInUse: (N.ERR_NICKNAMEINUSE, "Nickname is already in use"),
    E.ErroneousNick: (N.ERR_ERRONEUSNICKNAME, "Erroneous nickname"),
    E.UnknownMode: (N.ERR_UNKNOWNMODE, "is unknown mode char to me"),
    E.InvalidKey: (N.ERR_INVALIDKEY, "Key is not well-formed"),
}


def reply_error(rb: ReplyBuffer, command: str, exc: E.ChatError) -> None:
    """Add the numeric that answers ``exc`` (raised while handling ``command``)."""
    if isinstance(exc, E.UserOnChannel):
        rb.numeric(N.ERR_USERONCHANNEL, exc.subject, exc.channel, "is already on channel")
    elif isinstance(exc, E.UserNotInChannel):
        rb.numeric(N.ERR_USERNOTINCHANNEL, exc.subject, exc.channel, "They aren't on that channel")
    elif isinstance(exc, E.InvalidModeParam):
        rb.numeric(N.ERR_INVALIDMODEPARAM, exc.subject, exc.mode, exc.param, exc.detail)
    elif isinstance(exc, E.NoPrivileges):
        rb.numeric(N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
    elif isinstance(exc, E.NoTextToSend):
        rb.numeric(N.ERR_NOTEXTTOSEND, "No text to send")
    elif isinstance(exc, E.LoginFailed):
        rb.numeric(N.ERR_PASSWDMISMATCH, "Password incorrect")
    else:
        for kind in type(exc).__mro__:
            found = _SUBJECT_NUMERICS.get(kind)
            if found is not None:
                code, text = found
                rb.numeric(code, exc.subject, exc.detail or text)
                return
        rb.numeric(N.ERR_UNKNOWNERROR, command, exc.detail or "Request refused")
