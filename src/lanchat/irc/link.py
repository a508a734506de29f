"""What the IRC layer needs from a transport (TCP, TLS, WebSocket)."""

from __future__ import annotations

from typing import Protocol


class Link(Protocol):
    """One connection as seen by the IRC layer; implemented in net/."""

    peer_ip: str
    secure: bool
    transport_name: str

    @property
    def local_ip(self) -> str:
        """The server address the client reached (to build URLs it can use)."""
        ...

    def write_lines(self, lines: list[bytes]) -> None:
        """Write complete lines (each ending in CR LF)."""
        ...

    def close(self, reason: str) -> None:
        """Send ``ERROR :reason`` after what is queued, then close."""
        ...
