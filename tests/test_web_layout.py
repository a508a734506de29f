"""Web client: phone-sized screens, keyboard-only use, reconnecting after a server restart."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.async_api import expect

if TYPE_CHECKING:
    from tests.browser import WebFactory, WebServer

pytest_plugins = ["tests.browser"]


async def test_a_phone_sized_screen_is_usable(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    bob = await web.irc("bob")
    await bob.send("JOIN #random")
    await bob.send("PRIVMSG #general :hi from a desk")
    tab = await web.tab(viewport=web.PHONE)
    page = tab.page
    await page.goto(web.url)
    await page.get_by_label("Username").fill("alice")
    await page.get_by_label("Password").fill(web.password("alice"))
    await page.get_by_role("button", name="Sign in").click()
    await tab.wait_connected()

    # The sidebar is folded away; the conversation fills the screen.
    sidebar = page.locator("#sidebar")
    await expect(sidebar).not_to_be_in_viewport()
    await expect(tab.message("hi from a desk")).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= web.PHONE["width"]
    await tab.send("typed on a phone")
    box = await tab.composer.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= web.PHONE["height"]

    # The menu button opens the sidebar; picking a conversation closes it again.
    menu = page.get_by_role("button", name="Open the sidebar")
    await menu.click()
    await expect(sidebar).to_be_in_viewport()
    await expect(menu).to_have_attribute("aria-expanded", "true")
    await page.get_by_role("button", name="Browse channels").first.click()
    await page.get_by_role("dialog").get_by_role("button", name="Join #random").click()
    await expect(tab.conv("#random")).to_have_attribute("aria-current", "page")
    await expect(sidebar).not_to_be_in_viewport()
    # Escape closes the sidebar too.
    await menu.click()
    await expect(sidebar).to_be_in_viewport()
    await page.keyboard.press("Escape")
    await expect(sidebar).not_to_be_in_viewport()

    # The member list opens over the conversation and starts a DM.
    await page.get_by_role("button", name="Members (2)").click()
    await page.locator('.member[data-nick="bob"]').click()
    await expect(tab.conv("bob")).to_have_attribute("aria-current", "page")
    await expect(page.locator("#members")).to_be_hidden()
    await tab.send("a DM from the phone")
    assert "a DM from the phone" in [m.params[1] for m in await bob.sync() if m.command == "PRIVMSG"]


async def test_keyboard_only(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    bob = await web.irc("bob")
    await bob.send("PRIVMSG #general :reply to me with the keyboard")
    await bob.send("JOIN #random")
    tab = await web.tab()
    page = tab.page
    keyboard = page.keyboard
    await page.goto(web.url)
    # Sign in: the username field has the focus, Tab moves on, Enter submits.
    await expect(page.get_by_label("Username")).to_be_focused()
    await keyboard.type("alice")
    await keyboard.press("Tab")
    await keyboard.type(web.password("alice"))
    await keyboard.press("Enter")
    await tab.wait_connected()

    # The message box has the focus; Enter sends.
    await expect(tab.composer).to_be_focused()
    await expect(tab.message("reply to me with the keyboard")).to_be_visible()
    await keyboard.type("sent with Enter")
    await keyboard.press("Enter")
    await expect(tab.message("sent with Enter")).not_to_have_class(re.compile(r"\bpending\b"))

    # Up from the empty box walks the messages; R replies; Escape cancels the reply.
    await keyboard.press("ArrowUp")
    await expect(tab.message("sent with Enter")).to_be_focused()
    await keyboard.press("ArrowUp")
    target = tab.message("reply to me with the keyboard")
    await expect(target).to_be_focused()
    outline = await target.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "the focused message shows where the focus is"
    await keyboard.press("Tab")
    await expect(target.get_by_role("button", name="React")).to_be_focused()
    await keyboard.press("Enter")
    await expect(page.get_by_role("button", name="React with 👍")).to_be_focused()
    await keyboard.press("ArrowRight")
    await expect(page.get_by_role("button", name="React with ❤️")).to_be_focused()
    await keyboard.press("Escape")
    await expect(target.get_by_role("button", name="React")).to_be_focused()
    await keyboard.press("Shift+Tab")
    await expect(target).to_be_focused()
    await keyboard.press("r")
    await expect(tab.composer).to_be_focused()
    await expect(page.locator(".reply-bar")).to_contain_text("Replying to bob")
    await keyboard.press("Escape")
    await expect(page.locator(".reply-bar")).to_be_hidden()
    await keyboard.press("ArrowUp")
    await keyboard.press("r")
    await keyboard.type("with pleasure")
    await keyboard.press("Enter")
    await expect(tab.message("with pleasure").locator(".msg-quote")).to_contain_text("sent with Enter")

    # Alt+Down moves to the next conversation; dialogs close with Escape and give the focus back.
    await page.get_by_role("button", name="Browse channels").first.focus()
    await keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Browse channels")
    await expect(dialog.get_by_role("searchbox")).to_be_focused()
    await keyboard.type("random")
    await keyboard.press("Enter")
    await expect(tab.conv("#random")).to_have_attribute("aria-current", "page")
    await expect(dialog).to_have_count(0)
    await keyboard.press("Alt+ArrowUp")
    await expect(tab.conv("#general")).to_have_attribute("aria-current", "page")
    await expect(tab.composer).to_be_focused()

    # Every control in the sidebar has an accessible name.
    for button in await page.locator("#sidebar button").all():
        name = (await button.get_attribute("aria-label")) or (await button.inner_text())
        assert name.strip(), await button.evaluate("el => el.outerHTML")


async def test_reconnects_after_the_server_restarts(web_factory: WebFactory, free_port: int) -> None:
    port = free_port
    web = await web_factory(web_port=port)
    await web.account("alice")
    tab = await web.login("alice", open_conv="#general")
    await tab.send("before the restart")

    await web.server.stop()
    await expect(tab.page.locator(".banner")).to_contain_text("Reconnecting")
    await expect(tab.page.locator("#layout")).not_to_have_attribute("data-connection", "connected")

    restarted = await web_factory(web_port=port)
    await tab.wait_connected()
    await expect(tab.page.locator(".banner")).to_be_hidden()
    await expect(tab.message("before the restart")).to_be_visible()
    await tab.send("after the restart")
    # The same session works after the restart: no sign-in needed.
    await expect(tab.page.locator("#auth")).to_have_count(0)
    assert restarted.url == web.url
