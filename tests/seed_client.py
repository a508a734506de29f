"""A faithful transcription of the report's client protocol (../shared/seed, "Client Code").

It sends ``username:_NAME`` and compares one recv(1024) with "verifieduser", sends
``password:_PW`` and compares one recv(1024) with "authenticated", then sends each message as
raw bytes with no line ending and treats every recv(1024) as something to print. Blocking
sockets, as in the report; the tests run it in a thread.
"""

from __future__ import annotations

import socket


class ReportClient:
    """The report's client, minus its threads and its terminal."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=10)

    def login(self, username: str, password: str) -> str:
        """The report's login loop, once: returns what it would print."""
        self.sock.send(bytes("username:_" + username, "utf-8"))
        data = str(self.sock.recv(1024), "utf-8")
        if data != "verifieduser":
            # The report's client has no working branch here (its "not verified" is unreachable).
            return data
        self.sock.send(bytes("password:_" + password, "utf-8"))
        data = str(self.sock.recv(1024), "utf-8")
        if data == "authenticated":
            return "authenticated"
        if data == "notauthenticated":
            return "Username and Password are not valid."
        return data

    def send(self, text: str) -> None:
        """One input() line, sent as is."""
        self.sock.send(bytes(text, "utf-8"))

    def receive(self, timeout: float = 5.0) -> str:
        """One recv(1024), decoded, as the report's client prints it."""
        self.sock.settimeout(timeout)
        return str(self.sock.recv(1024), "utf-8")

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()
