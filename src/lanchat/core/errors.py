"""Domain errors raised by the chat core. The IRC layer maps each to a numeric in one place."""

from __future__ import annotations


class ChatError(Exception):
    """Base of every refusal the core can give; ``subject`` is the nick or channel concerned."""

    def __init__(self, subject: str = "", detail: str = "") -> None:
        super().__init__(detail or type(self).__name__)
        self.subject = subject
        self.detail = detail


class NoSuchNick(ChatError):
    """No user online with that nick."""


class NoSuchChannel(ChatError):
    """The channel does not exist (or the name is not a channel)."""


class BadChannelName(ChatError):
    """The name cannot be a channel."""


class NotOnChannel(ChatError):
    """The acting user is not a member of the channel."""


class UserNotInChannel(ChatError):
    """The target user is not a member of the channel; ``channel`` names it."""

    def __init__(self, subject: str, channel: str) -> None:
        super().__init__(subject)
        self.channel = channel


class UserOnChannel(UserNotInChannel):
    """The target user is already a member of the channel."""


class ChanOpPrivsNeeded(ChatError):
    """The action needs channel operator status."""


class CannotSendToChannel(ChatError):
    """Sending is refused (moderated, banned, or not a member of a +n channel)."""


class BannedFromChannel(ChatError):
    """JOIN refused by a ban."""


class InviteOnlyChannel(ChatError):
    """JOIN refused: +i and not invited."""


class ChannelIsFull(ChatError):
    """JOIN refused: the +l limit is reached."""


class BadChannelKey(ChatError):
    """JOIN refused: wrong or missing +k key."""


class TooManyChannels(ChatError):
    """The user is in as many channels as allowed."""


class NickInUse(ChatError):
    """Another user has that nick, or another account owns it."""


class ErroneousNick(ChatError):
    """The nick is not valid."""


class NoPrivileges(ChatError):
    """The action needs server operator privileges."""


class InvalidModeParam(ChatError):
    """A mode parameter is unacceptable; ``mode`` is the letter."""

    def __init__(self, subject: str, mode: str, param: str, detail: str) -> None:
        super().__init__(subject, detail)
        self.mode = mode
        self.param = param


class UnknownMode(ChatError):
    """A mode letter the server does not know."""


class InvalidKey(ChatError):
    """A +k key that is not acceptable."""


class NoTextToSend(ChatError):
    """The message is empty."""


class UnknownMessage(ChatError):
    """No stored message with that msgid (or not visible to the user)."""


class RedactForbidden(ChatError):
    """The user may not delete that message."""


class LoginFailed(ChatError):
    """Wrong account name or password."""


class AccountExists(ChatError):
    """An account with that name already exists."""


class InvalidAccountName(ChatError):
    """The name cannot be an account name."""
