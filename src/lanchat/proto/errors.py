"""Protocol errors: anything a peer can send that is not a valid IRC line."""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error raised on bad input. Carries the command name when it is known."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class InputTooLong(ProtocolError):
    """The line or its tags section is over the size limit (ERR_INPUTTOOLONG)."""

    def __init__(self, command: str = "*") -> None:
        super().__init__("Input line was too long")
        self.command = command


class InvalidUtf8(ProtocolError):
    """The line is not valid UTF-8 (the server advertises UTF8ONLY)."""

    def __init__(self, command: str = "*") -> None:
        super().__init__("Message rejected, your message contained invalid UTF-8")
        self.command = command


class MalformedMessage(ProtocolError):
    """The line does not parse as an IRC message."""
