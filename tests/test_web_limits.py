"""Web client: what other users can make a browser hold, and what signing out leaves behind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.async_api import expect

if TYPE_CHECKING:
    from tests.browser import Tab, WebServer

pytest_plugins = ["tests.browser"]


async def test_typing_and_reactions_from_a_stranger_open_no_conversation(web: WebServer) -> None:
    await web.account("alice")
    await web.account("mallory")
    alice = await web.login("alice", open_conv="#general")
    mallory = await web.irc("mallory")

    await mallory.send("@+typing=active TAGMSG alice")
    await mallory.send("@+draft/react=👍;+draft/reply=no-such-message TAGMSG alice")
    await mallory.send("REDACT alice no-such-message")
    # Mallory's lines reach alice in order: once this one shows, the ones before were handled.
    await mallory.send("PRIVMSG #general :just passing by")
    await expect(alice.message("just passing by")).to_be_visible()
    await alice.page.wait_for_timeout(300)  # a render or two
    await expect(alice.dms()).to_have_count(0)
    assert await alice.page.evaluate("window.lanchat.state.convs.has('mallory')") is False

    # A message does open one.
    await mallory.send("PRIVMSG alice :hello there")
    await expect(alice.conv("mallory")).to_be_visible()
    await expect(alice.dms()).to_have_count(1)


async def test_reactions_to_unknown_messages_are_held_up_to_a_limit(web: WebServer) -> None:
    await web.account("alice")
    alice = await web.login("alice", open_conv="#general")
    held = await alice.page.evaluate(
        """() => {
            const state = window.lanchat.state;
            const conv = state.active;
            for (let i = 0; i < 800; i++) {
                state.applyReaction(conv, {
                    source: "mallory!m@host",
                    tags: {"+draft/reply": `unknown-${i}`, "+draft/react": "👍", msgid: `r${i}`},
                    params: [conv.name],
                });
            }
            return {
                targets: conv.pendingReactions.size,
                oldest: conv.pendingReactions.has("unknown-0"),
                newest: conv.pendingReactions.has("unknown-799"),
            };
        }"""
    )
    assert held == {"targets": 500, "oldest": False, "newest": True}


async def joined(tab: Tab, channel: str) -> None:
    await tab.composer.fill(f"/join {channel}")
    await tab.composer.press("Enter")
    await expect(tab.conv(channel)).to_have_attribute("aria-current", "page")


async def test_a_conversation_in_the_background_keeps_only_its_newest_messages(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    bob = await web.irc("bob")
    await bob.send("JOIN #random")
    alice = await web.login("alice", open_conv="#general")
    await joined(alice, "#random")
    await alice.open("#general")
    await alice.page.evaluate("window.lanchat.state.keepMessages = 30")

    for i in range(120):
        await bob.send(f"PRIVMSG #random :busy line {i:03d}")
    await alice.page.wait_for_function(
        "() => window.lanchat.state.convs.get('#random').messages.some(m => m.text === 'busy line 119')"
    )
    held = await alice.page.evaluate(
        "(() => { const c = window.lanchat.state.convs.get('#random');"
        " return [c.messages.length, c.byId.size, c.messages[0].text]; })()"
    )
    assert held == [30, 30, "busy line 090"]

    # Opened, it loads the rest again when scrolled up: all of it, once each, in order.
    await alice.open("#random")
    await expect(alice.message("busy line 119")).to_be_visible()
    scroller = alice.page.locator(".scroller")
    for _ in range(15):
        await scroller.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        if await alice.message("busy line 000").count():
            break
        await alice.page.wait_for_timeout(300)
    await expect(alice.message("busy line 000")).to_be_attached()
    await expect(alice.page.locator(".history-status")).to_contain_text("beginning of #random")
    texts = await alice.page.locator(".message-list .msg .msg-text").all_inner_texts()
    assert texts == [f"busy line {i:03d}" for i in range(120)]


LISTENER_COUNTER = """
(() => {
    const live = new Set();
    const watched = (target, type) =>
        (target === document && type === "visibilitychange") ||
        (target === window && type === "focus") ||
        (target instanceof MediaQueryList && type === "change");
    const add = EventTarget.prototype.addEventListener;
    const remove = EventTarget.prototype.removeEventListener;
    const keys = new WeakMap();
    const key = (target, type, fn) => {
        if (!keys.has(fn)) keys.set(fn, Math.random());
        return `${target === document ? "d" : target === window ? "w" : target.media}|${type}|${keys.get(fn)}`;
    };
    EventTarget.prototype.addEventListener = function (type, fn, options) {
        if (fn && watched(this, type)) live.add(key(this, type, fn));
        return add.call(this, type, fn, options);
    };
    EventTarget.prototype.removeEventListener = function (type, fn, options) {
        if (fn && watched(this, type)) live.delete(key(this, type, fn));
        return remove.call(this, type, fn, options);
    };
    window.liveListeners = () => live.size;
})();
"""


async def test_signing_out_removes_the_chat_screens_listeners(web: WebServer) -> None:
    await web.account("alice")
    tab = await web.tab()
    page = tab.page
    await page.add_init_script(LISTENER_COUNTER)
    await page.goto(web.url)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    signed_out = await page.evaluate("window.liveListeners()")

    counts = []
    for _ in range(3):
        await page.get_by_label("Username").fill("alice")
        await page.get_by_label("Password").fill(web.password("alice"))
        await page.get_by_role("button", name="Sign in").click()
        await tab.wait_connected()
        counts.append(await page.evaluate("window.liveListeners()"))
        await page.get_by_role("button", name="Log out").click()
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        assert await page.evaluate("window.liveListeners()") == signed_out
    assert counts[0] > signed_out
    assert counts == [counts[0]] * 3
