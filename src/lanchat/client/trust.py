"""Trust on first use: each server's TLS certificate fingerprint, pinned in the user's config.

The file ``known_servers`` in ``platformdirs.user_config_dir("lanchat")`` has one line per
server, ``HOST:PORT FINGERPRINT`` (SHA-256 of the DER certificate, uppercase hex pairs joined by
colons, as ``lanchat serve`` prints it). Comment lines start with ``#``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import platformdirs

KNOWN_SERVERS = "known_servers"
_HEADER = (
    "# lanchat: TLS certificates trusted on first use, one server a line: HOST:PORT SHA-256-FINGERPRINT\n"
    "# Delete a server's line to trust whatever certificate it shows next time.\n"
)


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as uppercase hex pairs joined by colons."""
    return format_fingerprint(hashlib.sha256(der).digest())


def format_fingerprint(digest: bytes) -> str:
    """Bytes as ``AA:BB:…``."""
    return ":".join(f"{byte:02X}" for byte in digest)


def default_path() -> Path:
    """Where the pins live: ``known_servers`` in the user's lanchat config folder."""
    return Path(platformdirs.user_config_dir("lanchat")) / KNOWN_SERVERS


class Trust(Enum):
    """How a presented certificate relates to the pin."""

    FIRST_USE = "first use"
    KNOWN = "known"
    REPLACED = "replaced"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A certificate that is trusted, and why; ``previous`` is the pin it replaced."""

    trust: Trust
    fingerprint: str
    previous: str | None = None


class CertificateChanged(Exception):
    """The server shows a certificate other than the one pinned (or, on first use, other than
    the one it announced on the LAN): refuse to talk to it."""

    def __init__(self, server: str, pinned: str, presented: str, path: Path, *, announced: bool = False) -> None:
        super().__init__(f"the TLS certificate of {server} has changed")
        self.server = server
        self.pinned = pinned
        self.presented = presented
        self.path = path
        self.announced = announced

    def explain(self) -> list[str]:
        """The warning for the user: both fingerprints and how to accept the new one."""
        if self.announced:
            return [
                f"WARNING: the TLS certificate of {self.server} is not the one it announces on the LAN.",
                f"  announced on the LAN:  {self.pinned}",
                f"  presented:             {self.presented}",
                "Someone may be intercepting the connection. Not connecting. Compare with the fingerprint",
                "`lanchat serve` printed at start; if the presented one is right, run again with",
                "--accept-new-certificate.",
            ]
        return [
            f"WARNING: the TLS certificate of {self.server} has changed. Not connecting.",
            f"  trusted until now:     {self.pinned}",
            f"  presented this time:   {self.presented}",
            "Someone may be intercepting the connection, or the server has a new certificate (for example,",
            "its data folder was reset). Compare with the fingerprint `lanchat serve` printed at start.",
            "If the new one is right, run again with --accept-new-certificate,",
            f"or delete the line starting with {self.server} from {self.path}.",
        ]


class KnownServers:
    """The file of pinned fingerprints."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_path()

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    def lookup(self, server: str) -> str | None:
        """The fingerprint pinned for ``HOST:PORT``, if any."""
        key = server.lower()
        for line in self._lines():
            words = line.split()
            if len(words) >= 2 and not words[0].startswith("#") and words[0].lower() == key:
                return words[1].upper()
        return None

    def check(self, server: str, presented: str, *, accept_new: bool = False) -> Verdict:
        """Decide about a certificate: pin it on first use, accept it when it matches, replace
        the pin when ``accept_new``; otherwise raise :class:`CertificateChanged`."""
        presented = presented.upper()
        pinned = self.lookup(server)
        if pinned == presented:
            return Verdict(Trust.KNOWN, presented)
        if pinned is not None and not accept_new:
            raise CertificateChanged(server, pinned, presented, self.path)
        self.pin(server, presented)
        return Verdict(Trust.FIRST_USE if pinned is None else Trust.REPLACED, presented, pinned)

    def pin(self, server: str, presented: str) -> None:
        """Store ``presented`` as the fingerprint of ``server``, replacing any earlier one."""
        key = server.lower()
        kept = [line for line in self._lines() if [w.lower() for w in line.split()[:1]] != [key]]
        if not kept:
            kept = _HEADER.splitlines()
        kept.append(f"{key} {presented.upper()}")
        self._write("\n".join(kept) + "\n")

    def _write(self, text: str) -> None:
        """Replace the file atomically, readable by its owner only."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".known_servers.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temp, 0o600)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
