"""LAN discovery: announce the server by DNS-SD over multicast DNS (zeroconf).

Clients browse ``_irc._tcp.local.`` (plaintext) and ``_ircs._tcp.local.`` (TLS). The TXT
record names lanchat and carries the ports and the TLS certificate's fingerprint, so that a
client can pin the certificate it finds.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass

import ifaddr
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from lanchat import __version__

log = logging.getLogger("lanchat.discovery")

PLAINTEXT_SERVICE = "_irc._tcp.local."
TLS_SERVICE = "_ircs._tcp.local."


@dataclass(frozen=True, slots=True)
class Announcement:
    """What to announce."""

    name: str
    network: str
    hosts: tuple[str, ...]
    plaintext_port: int | None
    tls_port: int | None
    fingerprint: str
    web_port: int | None = None

    def txt(self) -> dict[str, str]:
        """The TXT record."""
        record = {"software": "lanchat", "version": __version__, "server": self.name, "network": self.network}
        if self.plaintext_port:
            record["port"] = str(self.plaintext_port)
        if self.tls_port:
            record["tls_port"] = str(self.tls_port)
            record["fp"] = self.fingerprint
        if self.web_port:
            record["web_port"] = str(self.web_port)
        return record


def _addresses(hosts: tuple[str, ...]) -> list[bytes]:
    """Packed addresses to announce: the configured ones, or every interface's."""
    chosen: list[str] = []
    for host in hosts:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            continue
        if ip.version == 4 and not ip.is_unspecified:
            chosen.append(host)
    if not chosen:
        for adapter in ifaddr.get_adapters():
            for entry in adapter.ips:
                if isinstance(entry.ip, str) and not entry.ip.startswith("127."):
                    chosen.append(entry.ip)  # IPv4: the announcement goes out over IPv4
        if not chosen:
            chosen = ["127.0.0.1"]
    return [ipaddress.ip_address(a).packed for a in chosen]


class LanAnnouncer:
    """Registers the server's services on the LAN while it runs."""

    def __init__(self, announcement: Announcement) -> None:
        self.announcement = announcement
        self._zeroconf: AsyncZeroconf | None = None
        self._infos: list[ServiceInfo] = []

    async def start(self) -> None:
        """Announce; problems (no multicast, no network) are logged, never fatal."""
        a = self.announcement
        host = socket.gethostname().split(".")[0] or "lanchat"
        addresses = _addresses(a.hosts)
        txt = a.txt()
        for service, port in ((TLS_SERVICE, a.tls_port), (PLAINTEXT_SERVICE, a.plaintext_port)):
            if port:
                self._infos.append(
                    ServiceInfo(
                        service,
                        f"{a.network} on {host}.{service}",
                        port=port,
                        properties=txt,
                        server=f"{host}.local.",
                        addresses=addresses,
                    )
                )
        try:
            self._zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only)
            for info in self._infos:
                await self._zeroconf.async_register_service(info, allow_name_change=True)
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("LAN discovery is off: %s", exc)
            await self.stop()
            return
        names = ", ".join(info.name for info in self._infos)
        log.info("announced on the LAN as %s", names)

    async def stop(self) -> None:
        """Withdraw the announcement."""
        zc, self._zeroconf = self._zeroconf, None
        if zc is None:
            return
        try:
            for info in self._infos:
                await zc.async_unregister_service(info)
        finally:
            await zc.async_close()
