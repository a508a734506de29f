"""Browser tests' fixtures: a real lanchat server with its web port, and Debian's Chromium.

The server runs in the test's event loop (``make_server`` with the web port on), Playwright's
async API drives headless Chromium from the same loop, and raw IRC clients
(:class:`IrcTestClient`) join in where a test needs someone outside the browser.

Test modules load this file as a plugin (``pytest_plugins = ["tests.browser"]``) and import
names from it only for type checking, so that pytest rewrites its assertions.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Playwright,
    async_playwright,
    expect,
)
from playwright.async_api import Error as PlaywrightError

from tests.conftest import RunningServer, ServerFactory
from tests.ircclient import IrcTestClient

CHROMIUM = os.environ.get("LANCHAT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: Where the tests write screenshots of the main screens. docs/web-client.md shows the ones
#: in docs/screenshots/, refreshed by running the tests with LANCHAT_UPDATE_SCREENSHOTS=1;
#: otherwise they go to a scratch folder so that a test run leaves the checkout as it was.
DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SCREENSHOTS = (
    DOCS_SCREENSHOTS
    if os.environ.get("LANCHAT_UPDATE_SCREENSHOTS") == "1"
    else Path(os.environ.get("TMPDIR", "/tmp")) / f"lanchat-screenshots-{os.getuid()}"
)
#: Playwright's default wait for expect() and locator actions, in milliseconds.
WAIT_MS = 7000
#: Console errors a page may log without failing the test (the 401 of /api/session when
#: nobody is logged in, and the login form's expected 401).
EXPECTED_CONSOLE = re.compile(r"status of 40[13]")
#: What a raw IRC test user asks for.
IRC_CAPS = ("message-tags", "server-time", "echo-message")

expect.set_options(timeout=WAIT_MS)


def password_of(name: str) -> str:
    """The password the tests give an account."""
    return f"pw-{name}-secret"


@dataclass
class Tab:
    """A browser page and what went wrong in it."""

    page: Page
    context: BrowserContext
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Fail on uncaught script errors or unexpected console errors (CSP violations too)."""
        assert not self.errors, f"errors in the page: {self.errors}"

    # -- finding things ---------------------------------------------------------------------

    def conv(self, name: str) -> Locator:
        """The sidebar entry of a conversation."""
        return self.page.locator(f'.conv[data-conv="{name}"]')

    def dms(self) -> Locator:
        """The direct conversations listed in the sidebar."""
        return self.page.locator('ul[aria-labelledby="dms-title"] .conv')

    def messages(self) -> Locator:
        """The messages shown in the open conversation."""
        return self.page.locator(".message-list .msg")

    def message(self, text: str) -> Locator:
        """The message of the open conversation that holds ``text``."""
        content = self.page.locator(".msg-content", has_text=text)
        return self.page.locator(".message-list .msg").filter(has=content)

    @property
    def composer(self) -> Locator:
        return self.page.locator("#composer-input")

    # -- doing things -----------------------------------------------------------------------

    async def open(self, name: str) -> None:
        """Open a conversation from the sidebar (opening it on a phone first)."""
        nav = self.page.locator("#nav-open")
        if await nav.is_visible():
            await nav.click()
        await self.conv(name).click()
        await expect(self.conv(name)).to_have_attribute("aria-current", "page")

    async def send(self, text: str) -> None:
        """Type a message and press Enter; wait until the server has echoed it."""
        await self.composer.fill(text)
        await self.composer.press("Enter")
        first_line = text.splitlines()[0]
        content = self.page.locator(".msg-content", has_text=first_line)
        sent = self.page.locator(".message-list .msg.mine:not(.pending)").filter(has=content)
        await expect(sent.last).to_be_visible()

    async def wait_connected(self) -> None:
        """Wait until the IRC connection is up and the welcome burst is in."""
        await expect(self.page.locator("#layout")).to_have_attribute("data-connection", "connected")


@dataclass
class WebServer:
    """A running lanchat with its web port, and a browser to visit it with."""

    DESKTOP: ClassVar[dict[str, int]] = DESKTOP
    PHONE: ClassVar[dict[str, int]] = PHONE
    password = staticmethod(password_of)

    server: RunningServer
    browser: Browser
    tmp: Path
    tabs: list[Tab] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.app.web_addresses[0]
        return f"http://{host}:{port}/"

    @property
    def app(self) -> Any:
        return self.server.app

    async def account(self, name: str, *, admin: bool = False) -> str:
        """Create an account (password: ``password_of(name)``); returns its name."""
        await self.server.add_account(name, password_of(name), admin=admin)
        return name

    async def irc(self, name: str, caps: tuple[str, ...] = IRC_CAPS) -> IrcTestClient:
        """A raw IRC connection logged in to an existing account with SASL (#general joined)."""
        return await self.server.user(name, caps=caps, account=name, password=password_of(name))

    async def tab(
        self,
        *,
        viewport: dict[str, int] | None = None,
        context: BrowserContext | None = None,
        color_scheme: str = "light",
    ) -> Tab:
        """A new page (in a new browser context unless one is given: contexts share nothing)."""
        if context is None:
            context = await self.browser.new_context(
                viewport=viewport or DESKTOP,  # type: ignore[arg-type]
                color_scheme=color_scheme,  # type: ignore[arg-type]
                locale="en-GB",
                timezone_id="UTC",
                accept_downloads=True,
                reduced_motion="reduce",
            )
            context.set_default_timeout(WAIT_MS)
        page = await context.new_page()
        tab = Tab(page, context)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and not EXPECTED_CONSOLE.search(message.text):
                tab.errors.append(f"console: {message.text}")

        async def on_dialog(dialog: Dialog) -> None:
            tab.dialogs.append(f"{dialog.type}: {dialog.message}")
            with contextlib.suppress(PlaywrightError):
                await dialog.dismiss()

        page.on("pageerror", lambda exc: tab.errors.append(f"pageerror: {exc}"))
        page.on("console", on_console)
        page.on("dialog", on_dialog)
        self.tabs.append(tab)
        return tab

    async def login(
        self,
        name: str,
        *,
        viewport: dict[str, int] | None = None,
        context: BrowserContext | None = None,
        open_conv: str | None = None,
    ) -> Tab:
        """A page logged in as ``name`` (through the API, as the login form does) and connected."""
        tab = await self.tab(viewport=viewport, context=context)
        if context is None:
            response = await tab.context.request.post(
                self.url + "api/login", data={"username": name, "password": password_of(name)}
            )
            assert response.status == 200, await response.text()
        await tab.page.goto(self.url)
        await tab.wait_connected()
        if open_conv is not None:
            await expect(tab.conv(open_conv)).to_be_visible()
            await tab.open(open_conv)
        return tab

    async def screenshot(self, tab: Tab, name: str) -> None:
        """Save a screenshot of the page to SCREENSHOTS/<name>.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        viewport = tab.page.viewport_size or DESKTOP
        await tab.page.mouse.move(viewport["width"] / 2, 2)  # no hover effects
        await tab.page.wait_for_timeout(150)  # let the last frame settle
        await tab.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled", caret="initial")


def web_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Config overrides for a server with its web port on a free loopback port."""
    values: dict[str, Any] = {
        "web_enabled": True,
        "web_port": 0,
        "default_channel": "#general",
        "allow_guests": False,
    }
    values.update(overrides)
    return values


@pytest_asyncio.fixture
async def playwright() -> AsyncIterator[Playwright]:
    """Playwright's driver."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    async with async_playwright() as driver:
        yield driver


@pytest_asyncio.fixture
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    """Headless Chromium."""
    chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield chromium
    with contextlib.suppress(PlaywrightError):
        await chromium.close()


WebFactory = Callable[..., Awaitable[WebServer]]


@pytest_asyncio.fixture
async def web_factory(make_server: ServerFactory, browser: Browser, tmp_path: Path) -> AsyncIterator[WebFactory]:
    """Start web servers with config overrides (see :func:`web_config`).

    Every page opened through them must end the test without script errors."""
    sites: list[WebServer] = []

    async def start(**overrides: Any) -> WebServer:
        server = await make_server(**web_config(tmp_path, **overrides))
        site = WebServer(server, browser, tmp_path)
        sites.append(site)
        return site

    yield start
    tabs = [tab for site in sites for tab in site.tabs]
    for tab in tabs:
        with contextlib.suppress(PlaywrightError):
            await tab.context.close()
    for tab in tabs:
        tab.check()


@pytest.fixture
def free_port() -> int:
    """A loopback port that was free a moment ago (for a server restarted on the same port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest_asyncio.fixture
async def web(web_factory: WebFactory) -> WebServer:
    """A lanchat server with the web client on, #general as the default channel, and a browser."""
    return await web_factory()
