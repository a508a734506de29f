"""Finding lanchat servers on the LAN with DNS-SD over multicast DNS (zeroconf).

A lanchat server announces ``_ircs._tcp.local.`` (its TLS port) and ``_irc._tcp.local.`` (its
plaintext port), each with the TXT record ``software=lanchat``, ``tls_port=N`` and ``fp=`` (the
certificate's SHA-256). Other IRC servers announcing the same types are ignored. The two
announcements of one server are merged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from zeroconf import DNSQuestionType, InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from lanchat.client.connection import Endpoint
from lanchat.client.render import sanitize
from lanchat.proto.names import parse_decimal

TLS_SERVICE = "_ircs._tcp.local."
PLAIN_SERVICE = "_irc._tcp.local."
SERVICE_TYPES = (TLS_SERVICE, PLAIN_SERVICE)
SOFTWARE = "lanchat"
#: Seconds to listen for announcements at most; once one is found, seconds without another
#: before stopping early; milliseconds to resolve each one found.
BROWSE_SECONDS = 2.0
SETTLE_SECONDS = 0.5
RESOLVE_MS = 1500


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """One resolved DNS-SD service instance."""

    service_type: str
    name: str
    server: str
    addresses: tuple[str, ...]
    port: int
    properties: dict[str, str]

    @property
    def instance(self) -> str:
        """The instance label: the name without the service type."""
        suffix = "." + self.service_type
        return self.name[: -len(suffix)] if self.name.endswith(suffix) else self.name


@dataclass(slots=True)
class DiscoveredServer:
    """A lanchat server found on the LAN, with its ports (``None``: not offered)."""

    name: str
    host: str
    addresses: tuple[str, ...]
    tls_port: int | None = None
    plain_port: int | None = None
    properties: dict[str, str] = field(default_factory=dict)

    def endpoints(self, *, plaintext: bool) -> list[Endpoint]:
        """Where to connect: TLS on each address, or plaintext with ``plaintext``; empty when
        the server does not offer that."""
        port = self.plain_port if plaintext else self.tls_port
        if port is None:
            return []
        hosts = self.addresses or (self.host,)
        announced = "" if plaintext else self.fingerprint
        return [Endpoint(address, port, not plaintext, self.host, announced) for address in hosts]

    @property
    def fingerprint(self) -> str:
        """The certificate fingerprint from the TXT record (``fp``), as ``AA:BB:…``, or ""."""
        digits = self.properties.get("fp", "").replace(":", "").upper()
        if len(digits) != 64 or any(ch not in "0123456789ABCDEF" for ch in digits):
            return ""
        return ":".join(digits[i : i + 2] for i in range(0, 64, 2))

    def describe(self) -> str:
        """One line for a choice list, safe for a terminal (announcements are anyone's text)."""
        where = ", ".join(self.addresses) or self.host
        ports = []
        if self.tls_port is not None:
            ports.append(f"TLS port {self.tls_port}")
        if self.plain_port is not None:
            ports.append(f"plaintext port {self.plain_port}")
        return f"{sanitize(self.name)} — {sanitize(self.host)} ({sanitize(where)}; {', '.join(ports)})"


def _port(value: str | None) -> int | None:
    port = parse_decimal(value) if value else None
    return port if port is not None and 0 < port < 65536 else None


def merge_services(records: Iterable[ServiceRecord]) -> list[DiscoveredServer]:
    """lanchat servers from resolved services: others dropped, a server's TLS and plaintext
    announcements merged (same host, and same instance name or matching ``tls_port``)."""
    mine = [r for r in records if r.properties.get("software", "").lower() == SOFTWARE]
    servers: list[DiscoveredServer] = []
    for record in sorted(mine, key=lambda r: r.service_type != TLS_SERVICE):
        host = record.server.rstrip(".").lower()
        tls_port = record.port if record.service_type == TLS_SERVICE else _port(record.properties.get("tls_port"))
        match = None
        for server in servers:
            if server.host != host:
                continue
            same_name = server.name.lower() == record.instance.lower()
            if same_name or (tls_port is not None and server.tls_port == tls_port):
                match = server
                break
        if match is None:
            match = DiscoveredServer(record.instance, host, record.addresses, properties=dict(record.properties))
            servers.append(match)
        if record.service_type == TLS_SERVICE:
            match.tls_port = record.port
        else:
            match.plain_port = record.port
            match.tls_port = match.tls_port if match.tls_port is not None else tls_port
        match.addresses = tuple(dict.fromkeys((*match.addresses, *record.addresses)))
    return sorted(servers, key=lambda s: (s.name.lower(), s.host))


def _decode(properties: dict[bytes, bytes | None]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in properties.items():
        with contextlib.suppress(UnicodeDecodeError):
            out[key.decode("utf-8").lower()] = (value or b"").decode("utf-8")
    return out


async def browse(
    seconds: float = BROWSE_SECONDS,
    interfaces: Sequence[str] | None = None,
    settle: float = SETTLE_SECONDS,
) -> list[DiscoveredServer]:
    """Listen for lanchat servers and return the ones found: for ``seconds`` at most, or until
    ``settle`` seconds pass without a new service once one has been found.

    ``interfaces`` limits multicast to those addresses (e.g. ``["127.0.0.1"]``); by default
    every interface is used."""
    choice: Sequence[str] | InterfaceChoice = list(interfaces) if interfaces else InterfaceChoice.All
    aiozc = AsyncZeroconf(interfaces=choice, ip_version=IPVersion.V4Only)
    seen: set[tuple[str, str]] = set()
    news = asyncio.Event()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            seen.add((service_type, name))
            news.set()

    # Multicast answers (QM): a unicast answer can land in another mDNS stack's socket on this
    # host (avahi, or a lanchat server running here), which shares port 5353.
    browser = AsyncServiceBrowser(
        aiozc.zeroconf, list(SERVICE_TYPES), handlers=[on_change], question_type=DNSQuestionType.QM
    )
    try:
        await _listen(news, seconds, settle)
        records = await asyncio.gather(*(_resolve(aiozc, kind, name) for kind, name in sorted(seen)))
    finally:
        await browser.async_cancel()
        await aiozc.async_close()
    return merge_services(r for r in records if r is not None)


async def _listen(news: asyncio.Event, seconds: float, settle: float) -> None:
    """Wait ``seconds``, or less: until ``settle`` seconds bring no news after the first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    wait = seconds
    while wait > 0:
        try:
            await asyncio.wait_for(news.wait(), wait)
        except TimeoutError:
            return
        news.clear()
        wait = min(settle, deadline - loop.time())


async def _resolve(aiozc: AsyncZeroconf, service_type: str, name: str) -> ServiceRecord | None:
    info = AsyncServiceInfo(service_type, name)
    if not await info.async_request(aiozc.zeroconf, RESOLVE_MS, question_type=DNSQuestionType.QM) or not info.port:
        return None
    return ServiceRecord(
        service_type=service_type,
        name=name,
        server=info.server or name,
        addresses=tuple(info.parsed_scoped_addresses()),
        port=info.port,
        properties=_decode(info.properties),
    )
