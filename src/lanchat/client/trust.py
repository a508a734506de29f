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
    """A certificate that is trusted, and why; ``previous`` is the pin it replaces. ``server``
    is the key to pin it under: nothing is written until :meth:`KnownServers.accept`."""

    trust: Trust
    fingerprint: str
    previous: str | None = None
    server: str = ""


class CertificateChanged(Exception):
    """The server shows a certificate other than the one pinned (or, on first use, other than
    the one it announced on the LAN): refuse to talk to it."""

    def __init__(
        self, server: str, pinned: str, presented: str, path: Path, *, announced: bool = False, pinned_for: str = ""
    ) -> None:
        super().__init__(f"the TLS certificate of {server} has changed")
        self.server = server
        self.pinned = pinned
        self.presented = presented
        self.path = path
        self.announced = announced
        #: The other ``HOST:PORT`` of the same host whose pin differs ("": the pin of ``server``).
        self.pinned_for = pinned_for

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
        if self.pinned_for:
            return [
                f"WARNING: the TLS certificate of {self.server} is not the one trusted for {self.pinned_for}.",
                f"  trusted for {self.pinned_for}:  {self.pinned}",
                f"  presented by {self.server}:  {self.presented}",
                "Not connecting. Someone may be posing as the server on another port (anyone on the LAN can",
                "announce one), or another server runs on that machine. Compare with the fingerprint",
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

    def pins(self) -> list[tuple[str, str]]:
        """Every ``(HOST:PORT, FINGERPRINT)`` pinned, in file order."""
        out = []
        for line in self._lines():
            words = line.split()
            if len(words) >= 2 and not words[0].startswith("#"):
                out.append((words[0].lower(), words[1].upper()))
        return out

    def lookup(self, server: str) -> str | None:
        """The fingerprint pinned for ``HOST:PORT``, if any."""
        key = server.lower()
        return next((pinned for name, pinned in self.pins() if name == key), None)

    def check(self, server: str, presented: str, *, accept_new: bool = False) -> Verdict:
        """Decide about a certificate, writing nothing (see :meth:`accept`): known when it
        matches the pin, first use when nothing is pinned for this host, replaced when
        ``accept_new``; otherwise raise :class:`CertificateChanged`.

        With no pin for this ``HOST:PORT``, a pin of the same host on another port counts too
        (ports come from LAN announcements, which anyone can make): unless one of those pins
        is ``presented``, the certificate is treated as changed."""
        key = server.lower()
        presented = presented.upper()
        pins = self.pins()
        pinned = next((fp for name, fp in pins if name == key), None)
        if pinned == presented:
            return Verdict(Trust.KNOWN, presented, server=key)
        other = ""
        if pinned is None:
            host = _host(key)
            same_host = [(name, fp) for name, fp in pins if _host(name) == host]
            if same_host and presented not in (fp for _, fp in same_host):
                other, pinned = same_host[0]
        if pinned is not None and not accept_new:
            raise CertificateChanged(key, pinned, presented, self.path, pinned_for=other)
        return Verdict(Trust.FIRST_USE if pinned is None else Trust.REPLACED, presented, pinned, key)

    def accept(self, verdict: Verdict) -> None:
        """Pin the certificate of a first-use or replacing verdict (once the login worked)."""
        if verdict.trust is not Trust.KNOWN:
            self.pin(verdict.server, verdict.fingerprint)

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


def _host(key: str) -> str:
    """The host part of a ``HOST:PORT`` pin key."""
    return key.rpartition(":")[0]
