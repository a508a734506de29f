"""The server announces itself on the LAN (DNS-SD over mDNS): a browse started by the test finds
the server started by the test. Runs in a network namespace of its own, so nothing reaches the
real network."""

from __future__ import annotations

import asyncio

import pytest
from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from tests import netns
from tests.conftest import ServerFactory

SERVICES = ["_irc._tcp.local.", "_ircs._tcp.local."]


async def _browse(seconds: float) -> dict[str, dict[str, str]]:
    """Service name -> its properties (plus its port), for every lanchat service seen."""
    azc = AsyncZeroconf()
    seen: set[tuple[str, str]] = set()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Removed:
            seen.add((service_type, name))

    browser = AsyncServiceBrowser(azc.zeroconf, SERVICES, handlers=[on_change])
    found: dict[str, dict[str, str]] = {}
    try:
        await asyncio.sleep(seconds)
        for service_type, name in sorted(seen):
            info = await azc.async_get_service_info(service_type, name, timeout=3000)
            if info is None:
                continue
            props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
            props["_port"] = str(info.port)
            found[name] = props
    finally:
        await browser.async_cancel()
        await azc.async_close()
    return found


async def test_a_browse_finds_the_server_with_its_ports_and_fingerprint(
    request: pytest.FixtureRequest, make_server: ServerFactory
) -> None:
    if not netns.isolated(request):
        return  # it ran (and passed) in its own namespace
    server = await make_server(discovery=True, tls_enabled=True, tls_port=0, web_enabled=True, web_port=0)
    app = server.app
    found = await _browse(2.0)
    names = sorted(found)
    assert len(names) == 2, found
    assert {n.split(".", 1)[1] for n in names} == {"_irc._tcp.local.", "_ircs._tcp.local."}
    for props in found.values():
        assert props["software"] == "lanchat"
        assert props["port"] == str(app.addresses[0][1])
        assert props["tls_port"] == str(app.tls_addresses[0][1])
        assert props["web_port"] == str(app.web_addresses[0][1])
        assert props["fp"] == app.fingerprint.replace(":", "").lower()
    ports = {name.split(".", 1)[1]: props["_port"] for name, props in found.items()}
    assert ports["_irc._tcp.local."] == str(app.addresses[0][1])
    assert ports["_ircs._tcp.local."] == str(app.tls_addresses[0][1])
    await server.stop()
    assert await _browse(1.5) == {}  # withdrawn when the server stops


async def test_discovery_can_be_switched_off(request: pytest.FixtureRequest, make_server: ServerFactory) -> None:
    if not netns.isolated(request):
        return
    await make_server(discovery=False)
    assert await _browse(1.5) == {}
