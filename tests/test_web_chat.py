"""Web client: talking in channels and direct messages, between browsers and with IRC users."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.async_api import expect

from tests.ircclient import IrcTestClient

if TYPE_CHECKING:
    from tests.browser import Tab, WebServer

pytest_plugins = ["tests.browser"]

MULTILINE_CAPS = ("message-tags", "server-time", "echo-message", "batch", "draft/multiline")


async def privmsgs(client: IrcTestClient, target: str) -> list[str]:
    """The texts of the PRIVMSGs to ``target`` that ``client`` has received so far (after a sync)."""
    await client.sync()
    return [m.params[1] for m in client.log if m.command == "PRIVMSG" and m.params[0] == target]


async def test_two_browsers_exchange_channel_messages_and_direct_messages(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    alice = await web.login("alice", open_conv="#general")
    bob = await web.login("bob", open_conv="#general")

    await alice.send("Morning, everyone!")
    said = bob.message("Morning, everyone!")
    await expect(said).to_be_visible()
    await expect(said.locator(".msg-nick")).to_have_text("alice")
    await bob.send("Morning alice")
    await expect(alice.message("Morning alice")).to_be_visible()

    # A DM starts by clicking a name in the member list.
    await alice.page.locator('.member[data-nick="bob"]').click()
    await expect(alice.conv("bob")).to_have_attribute("aria-current", "page")
    await expect(alice.composer).to_be_focused()
    await alice.send("Only for you")
    await expect(bob.conv("alice")).to_be_visible()
    await expect(bob.conv("alice").locator(".badge")).to_have_text("1")
    await bob.open("alice")
    await expect(bob.message("Only for you")).to_be_visible()
    await expect(bob.conv("alice").locator(".badge")).to_have_count(0)
    await bob.send("Got it")
    await expect(alice.message("Got it")).to_be_visible()
    # The channel did not get the DMs.
    await alice.open("#general")
    await expect(alice.message("Only for you")).to_have_count(0)


async def test_direct_conversations_show_on_every_device(web: WebServer) -> None:
    await web.account("alice")
    await web.account("carol")
    carol = await web.irc("carol")
    laptop = await web.login("alice")
    await carol.send("PRIVMSG alice :are you free at 3?")
    await expect(laptop.conv("carol").locator(".badge")).to_have_text("1")
    # Another device signs in while the laptop is still connected: the DM is listed, unread.
    phone = await web.login("alice", viewport=web.PHONE)
    await expect(phone.conv("carol").locator(".badge")).to_have_text("1")
    await phone.open("carol")
    await expect(phone.message("are you free at 3?")).to_be_visible()
    await expect(laptop.conv("carol").locator(".badge")).to_have_count(0)


async def test_a_web_user_and_an_irc_user_talk(web: WebServer) -> None:
    await web.account("alice")
    await web.account("carol")
    alice = await web.login("alice", open_conv="#general")
    carol = await web.irc("carol")

    await carol.send("PRIVMSG #general :hello from irssi")
    await expect(alice.message("hello from irssi")).to_be_visible()
    await alice.send("hello from the browser")
    assert "hello from the browser" in await privmsgs(carol, "#general")

    await carol.send("PRIVMSG alice :a private word")
    await expect(alice.conv("carol")).to_be_visible()
    await alice.open("carol")
    await expect(alice.message("a private word")).to_be_visible()
    await alice.send("a private answer")
    assert "a private answer" in await privmsgs(carol, "carol")


async def test_html_in_messages_is_shown_as_text(web: WebServer) -> None:
    await web.account("alice")
    await web.account("mallory")
    alice = await web.login("alice", open_conv="#general")
    mallory = await web.irc("mallory")
    attack = "<img src=x onerror=alert(1)>"
    await mallory.send(f"PRIVMSG #general :{attack}")
    await mallory.send("PRIVMSG #general :<b>not bold</b> <script>alert(2)</script>")
    shown = alice.message(attack)
    await expect(shown.locator(".msg-text")).to_have_text(attack)
    await expect(alice.message("<b>not bold</b>").locator(".msg-text")).to_have_text(
        "<b>not bold</b> <script>alert(2)</script>"
    )
    await alice.send(f"me too: {attack}")
    await expect(alice.message(f"me too: {attack}").locator(".msg-text")).to_have_text(f"me too: {attack}")
    # Nothing was parsed as HTML: no image, no bold, no script, no dialog.
    assert await alice.page.locator(".message-list img, .message-list b, .message-list script").count() == 0
    await alice.page.wait_for_timeout(300)
    assert alice.dialogs == []


async def test_multiline_paste_is_one_message(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    alice = await web.login("alice", open_conv="#general")
    bob = await web.irc("bob", caps=MULTILINE_CAPS)

    # Shift+Enter adds a line; Enter sends.
    await alice.composer.fill("first line")
    await alice.composer.press("Shift+Enter")
    await alice.composer.press_sequentially("second line")
    assert await alice.composer.input_value() == "first line\nsecond line"
    await alice.composer.press("Enter")
    sent = alice.message("first line")
    await expect(sent.locator(".msg-text")).to_have_text("first line\nsecond line")
    await expect(alice.composer).to_have_value("")

    # IRC clients with draft/multiline get one batch.
    await bob.sync()
    batches = [m for m in bob.log if m.command == "BATCH" and m.params[0].startswith("+")]
    assert batches
    assert batches[-1].params[1] == "draft/multiline"
    ref = batches[-1].params[0][1:]
    lines = [m.params[1] for m in bob.log if m.command == "PRIVMSG" and m.tags.get("batch") == ref]
    assert lines == ["first line", "second line"]

    # A multi-line message from IRC shows as one message too.
    await bob.send("BATCH +x draft/multiline #general")
    await bob.send("@batch=x PRIVMSG #general :one")
    await bob.send("@batch=x PRIVMSG #general :two")
    await bob.send("BATCH -x")
    await expect(alice.message("one").locator(".msg-text")).to_have_text("one\ntwo")


async def test_reply_and_react(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    alice = await web.login("alice", open_conv="#general")
    bob = await web.login("bob", open_conv="#general")
    await alice.send("Lunch at noon?")

    question = bob.message("Lunch at noon?")
    await question.hover()
    await question.get_by_role("button", name="Reply").click()
    await expect(bob.page.locator(".reply-bar")).to_contain_text("Replying to alice")
    await bob.send("Count me in")
    answer = alice.message("Count me in")
    await expect(answer.locator(".msg-quote")).to_contain_text("alice")
    await expect(answer.locator(".msg-quote")).to_contain_text("Lunch at noon?")

    await question.hover()
    await question.get_by_role("button", name="React").click()
    await bob.page.get_by_role("button", name="React with 🎉").click()
    chip = alice.message("Lunch at noon?").locator(".reaction")
    await expect(chip).to_have_text("🎉1")
    await expect(chip).to_have_attribute("aria-pressed", "false")
    await chip.click()
    await expect(chip).to_have_text("🎉2")
    await expect(chip).to_have_attribute("aria-pressed", "true")
    await expect(bob.message("Lunch at noon?").locator(".reaction")).to_have_text("🎉2")
    await chip.click()  # again: take the reaction back
    await expect(chip).to_have_text("🎉1")
    await expect(bob.message("Lunch at noon?").locator(".reaction")).to_have_text("🎉1")

    # Replies and reactions are in the history too.
    await alice.page.reload()
    await alice.wait_connected()
    await expect(alice.message("Count me in").locator(".msg-quote")).to_contain_text("Lunch at noon?")
    await expect(alice.message("Lunch at noon?").locator(".reaction")).to_have_text("🎉1")


async def delete(tab: Tab, text: str) -> None:
    """Delete a message through its menu and the confirmation dialog."""
    message = tab.message(text)
    await message.hover()
    await message.get_by_role("button", name="Delete message").click()
    await tab.page.get_by_role("dialog").get_by_role("button", name="Delete").click()


async def test_delete_own_messages_and_ops_delete_others(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    await web.account("boss", admin=True)  # admins are operators of the default channel
    alice = await web.login("alice", open_conv="#general")
    bob = await web.login("bob", open_conv="#general")
    await alice.send("a typo-ridden mesage")
    await bob.send("something bob said")

    # Not one's own message: no delete button for alice.
    await alice.message("something bob said").hover()
    await expect(alice.message("something bob said").get_by_role("button", name="Delete message")).to_have_count(0)

    await delete(alice, "a typo-ridden mesage")
    await expect(alice.message("a typo-ridden mesage")).to_have_count(0)
    await expect(bob.message("a typo-ridden mesage")).to_have_count(0)

    boss = await web.login("boss", open_conv="#general")
    await delete(boss, "something bob said")
    await expect(bob.message("something bob said")).to_have_count(0)
    await expect(alice.message("something bob said")).to_have_count(0)
    # Gone from the history as well.
    await bob.page.reload()
    await bob.wait_connected()
    await expect(bob.page.locator(".history-status")).to_contain_text("beginning of #general")
    await expect(bob.message("something bob said")).to_have_count(0)


async def test_typing_indicator(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    alice = await web.login("alice", open_conv="#general")
    bob = await web.login("bob", open_conv="#general")
    await bob.composer.press_sequentially("I am wri")
    typing = alice.page.locator(".typing")
    await expect(typing).to_have_text("bob is typing…")
    await bob.composer.fill("")
    await bob.composer.dispatch_event("input")
    await expect(typing).to_have_text("")
    await bob.composer.press_sequentially("done now")
    await expect(typing).to_have_text("bob is typing…")
    await bob.composer.press("Enter")
    await expect(alice.message("done now")).to_be_visible()
    await expect(typing).to_have_text("")


async def test_unread_counts_and_mentions(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    bob = await web.irc("bob")
    await bob.send("JOIN #random")
    alice = await web.login("alice", open_conv="#general")
    await alice.composer.fill("/join #random")
    await alice.composer.press("Enter")
    await expect(alice.conv("#random")).to_have_attribute("aria-current", "page")
    await alice.open("#general")

    await bob.send("PRIVMSG #random :anyone around?")
    await bob.send("PRIVMSG #random :alice, have a look at this")
    entry = alice.conv("#random")
    await expect(entry.locator(".badge")).to_have_text("2")
    await expect(entry).to_have_class(re.compile(r"\bunread\b.*\bhas-mention\b"))
    await expect(entry).to_have_attribute("aria-label", "#random, 2 unread, 1 mention")
    assert (await alice.page.title()).startswith("(1) ")

    await alice.open("#random")
    await expect(alice.message("alice, have a look at this")).to_have_class(re.compile(r"\bmention\b"))
    await expect(alice.page.locator(".new-sep")).to_be_visible()
    await expect(entry.locator(".badge")).to_have_count(0)
    assert not (await alice.page.title()).startswith("(")


async def test_read_position_syncs_between_tabs(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    bob = await web.irc("bob")
    await bob.send("JOIN #random")
    first = await web.login("alice", open_conv="#general")
    await first.composer.fill("/join #random")
    await first.composer.press("Enter")
    await expect(first.conv("#random")).to_have_attribute("aria-current", "page")
    await first.open("#general")
    # A second tab of the same browser (same session).
    second = await web.login("alice", context=first.context, open_conv="#general")

    await bob.send("PRIVMSG #random :news for both tabs")
    await expect(first.conv("#random").locator(".badge")).to_have_text("1")
    await expect(second.conv("#random").locator(".badge")).to_have_text("1")
    await first.open("#random")
    await expect(first.message("news for both tabs")).to_be_visible()
    # Reading it in one tab marks it read in the other (draft/read-marker).
    await expect(second.conv("#random").locator(".badge")).to_have_count(0)
    # And after a reload, too.
    await second.page.reload()
    await second.wait_connected()
    await expect(second.conv("#random")).to_be_visible()
    await expect(second.conv("#random").locator(".badge")).to_have_count(0)


async def test_older_history_loads_on_scroll(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    bob = await web.irc("bob")
    for i in range(130):
        await bob.send(f"PRIVMSG #general :history line {i:03d}")
    await bob.sync()
    alice = await web.login("alice", open_conv="#general")
    await expect(alice.message("history line 129")).to_be_visible()
    assert await alice.message("history line 000").count() == 0
    loaded = await alice.messages().count()
    assert loaded < 130

    scroller = alice.page.locator(".scroller")
    for _ in range(10):
        await scroller.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        if await alice.message("history line 000").count():
            break
        await alice.page.wait_for_timeout(300)
    await expect(alice.message("history line 000")).to_be_attached()
    await expect(alice.page.locator(".history-status")).to_contain_text("beginning of #general")
    assert await alice.messages().count() == 130
    # Messages stay in order, oldest first.
    texts = await alice.page.locator(".message-list .msg .msg-text").all_inner_texts()
    assert texts == [f"history line {i:03d}" for i in range(130)]


async def test_search_a_conversation(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    bob = await web.irc("bob")
    for text in ("the banana bread is in the kitchen", "meeting moved to 3pm", "who ate my banana?", "ok"):
        await bob.send(f"PRIVMSG #general :{text}")
    await bob.sync()
    alice = await web.login("alice", open_conv="#general")
    await alice.page.get_by_role("button", name="Search #general").click()
    dialog = alice.page.get_by_role("dialog")
    await dialog.get_by_role("searchbox").fill("banana")
    await dialog.get_by_role("searchbox").press("Enter")
    results = dialog.locator(".search-result")
    await expect(results).to_have_count(2)
    await expect(dialog.get_by_role("status")).to_have_text("2 messages found")
    await expect(results.first.locator("mark").first).to_have_text("banana")
    await web.screenshot(alice, "search")
    await results.last.click()
    await expect(dialog).to_have_count(0)
    await expect(alice.message("the banana bread is in the kitchen")).to_be_in_viewport()


async def test_browse_join_create_and_leave_channels(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    bob = await web.irc("bob")
    await bob.send("JOIN #music")
    await bob.send("TOPIC #music :Share what you listen to")
    await bob.sync()
    alice = await web.login("alice", open_conv="#general")

    await alice.page.get_by_role("button", name="Browse channels").first.click()
    dialog = alice.page.get_by_role("dialog", name="Browse channels")
    await expect(dialog.locator(".channel-row").filter(has_text="music")).to_contain_text("Share what you listen to")
    await dialog.get_by_role("button", name="Join #music").click()
    await expect(alice.conv("#music")).to_have_attribute("aria-current", "page")
    await expect(alice.page.locator(".chat-topic")).to_have_text("Share what you listen to")
    await expect(alice.page.locator('.member[data-nick="bob"]')).to_be_visible()

    await alice.page.get_by_role("button", name="Browse channels").first.click()
    dialog = alice.page.get_by_role("dialog", name="Browse channels")
    await dialog.get_by_role("searchbox").fill("projects")
    await dialog.get_by_role("button", name="Create").click()
    await expect(alice.conv("#projects")).to_have_attribute("aria-current", "page")
    await alice.send("first!")
    # The creator is its operator and sets the topic from the header.
    await alice.page.get_by_role("button", name="Set a topic").click()
    await alice.page.get_by_role("textbox", name="Topic of #projects").fill("Roadmap and releases")
    await alice.page.get_by_role("textbox", name="Topic of #projects").press("Enter")
    await expect(alice.page.locator(".chat-topic")).to_have_text("Roadmap and releases")
    await expect(alice.page.locator(".msg-system")).to_contain_text("alice changed the topic to")

    await alice.page.get_by_role("button", name="Leave #projects").click()
    await alice.page.get_by_role("dialog").get_by_role("button", name="Leave").click()
    await expect(alice.conv("#projects")).to_have_count(0)
    await expect(alice.page.locator(".conv[aria-current=page]")).to_have_count(1)

    # Kicked by bob, the operator of #music: the channel goes away, with the reason shown.
    await bob.send("KICK #music alice :off topic")
    await expect(alice.page.locator(".toast")).to_contain_text("bob removed you from #music: off topic")
    await expect(alice.conv("#music")).to_have_count(0)
    await expect(alice.page.locator(".conv[aria-current=page]")).to_have_count(1)


async def test_away_status_and_desktop_notifications(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    bob = await web.login("bob", open_conv="#general")
    alice = await web.tab()
    # Record notifications instead of showing them, and pretend the tab is in the background.
    await alice.page.add_init_script(
        """
        window.shown = [];
        window.Notification = class {
            static permission = "granted";
            static requestPermission() { return Promise.resolve("granted"); }
            constructor(title, options) { window.shown.push({title, body: options.body}); }
            addEventListener() {}
            close() {}
        };
        """
    )
    credentials = {"username": "alice", "password": web.password("alice")}
    await alice.context.request.post(web.url + "api/login", data=credentials)
    await alice.page.goto(web.url)
    await alice.wait_connected()
    await expect(alice.page.get_by_role("button", name="Turn off desktop notifications")).to_be_visible()

    await alice.page.get_by_role("button", name="Set yourself as away").click()
    await expect(alice.page.locator(".me-status")).to_have_text("Away")
    await expect(bob.page.locator('.member[data-nick="alice"]')).to_have_attribute("aria-label", "alice, away")
    await alice.page.get_by_role("button", name="Set yourself as back").click()
    await expect(bob.page.locator('.member[data-nick="alice"]')).to_have_attribute("aria-label", "alice, online")

    await alice.page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {get: () => 'hidden'}); document.hasFocus = () => false;"
    )
    await bob.send("just chatting")
    await bob.send("alice: can you check the build?")
    await bob.page.locator('.member[data-nick="alice"]').click()
    await bob.send("psst, a direct message")
    await alice.page.wait_for_function("window.shown.length >= 2")
    shown = await alice.page.evaluate("window.shown")
    assert shown == [
        {"title": "bob in #general", "body": "alice: can you check the build?"},
        {"title": "bob", "body": "psst, a direct message"},
    ]


async def command(tab: Tab, text: str) -> None:
    """Type a slash command and press Enter; wait until the message box has taken it."""
    await tab.composer.fill(text)
    await tab.composer.press("Enter")
    await expect(tab.composer).to_have_value("")


async def test_bare_topic_command_shows_the_topic_and_changes_nothing(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    alice = await web.login("alice", open_conv="#general")
    await command(alice, "/join #projects")  # alice creates it: she is its operator
    await expect(alice.conv("#projects")).to_have_attribute("aria-current", "page")
    bob = await web.irc("bob")
    await bob.send("JOIN #projects")
    await expect(alice.page.locator('.member[data-nick="bob"]')).to_be_visible()
    topic = alice.page.locator(".chat-topic")

    await command(alice, "/topic")
    await expect(alice.page.locator(".toast")).to_contain_text("No topic set in #projects.")
    await command(alice, "/topic Roadmap and releases")
    await expect(topic).to_have_text("Roadmap and releases")
    await bob.expect("TOPIC")

    await command(alice, "/topic")
    await expect(alice.page.locator(".toast").last).to_have_text("Topic of #projects: Roadmap and releases")
    # Nothing was sent: the next message reaches bob with no TOPIC before it, and the topic stands.
    await alice.send("after the bare /topic")
    await bob.expect("PRIVMSG", lambda m: m.params[1] == "after the bare /topic")
    assert [m.params for m in bob.log if m.command == "TOPIC"] == [["#projects", "Roadmap and releases"]]
    reply = await bob.request("TOPIC #projects")
    assert [m.params[2] for m in reply if m.command == "332"] == ["Roadmap and releases"]
    await expect(topic).to_have_text("Roadmap and releases")


async def test_names_with_spaces_are_refused_not_sent(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    alice = await web.login("alice", open_conv="#general")
    bob = await web.irc("bob")

    await alice.page.get_by_role("button", name="New direct message").click()
    dialog = alice.page.get_by_role("dialog", name="New direct message")
    await dialog.get_by_label("Username").fill("bob smith")
    await dialog.get_by_label("Username").press("Enter")
    await expect(dialog.get_by_role("alert")).to_have_text("A username cannot contain spaces.")
    await expect(dialog.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    await expect(alice.dms()).to_have_count(0)
    # With the name corrected the conversation opens.
    await dialog.get_by_label("Username").fill("bob")
    await expect(dialog.get_by_role("alert")).to_be_hidden()
    await dialog.get_by_label("Username").press("Enter")
    await expect(alice.conv("bob")).to_have_attribute("aria-current", "page")
    await alice.send("hello")
    assert await privmsgs(bob, "bob") == ["hello"]

    # /msg and /join refuse a name that a new line would split, and keep the text.
    await alice.composer.fill("/msg bob\nsmith hi")
    await alice.composer.press("Enter")
    await expect(alice.page.locator(".toast").last).to_have_text("A username cannot contain spaces.")
    await expect(alice.composer).to_have_value("/msg bob\nsmith hi")
    await alice.composer.fill("/join #a\nQUIT")
    await alice.composer.press("Enter")
    await expect(alice.page.locator(".toast").last).to_have_text("A channel name cannot contain spaces.")
    await expect(alice.page.locator(".conv")).to_have_count(2)  # #general and bob
    assert await privmsgs(bob, "bob") == ["hello"]
    assert not [m for m in bob.log if m.command in ("PRIVMSG", "NOTICE") and "smith" in " ".join(m.params)]

    # The serialiser itself refuses middle parameters that would change the line.
    problems = await alice.page.evaluate(
        """async () => {
            const { formatMessage } = await import("/assets/irc.js");
            const refused = (params) => {
                try { formatMessage("PRIVMSG", params); return false; } catch { return true; }
            };
            return {
                space: refused(["bob smith", "hello"]),
                empty: refused(["", "hello"]),
                colon: refused([":bob", "hello"]),
                newline: refused(["bob\\r\\nQUIT", "hello"]),
                fine: formatMessage("PRIVMSG", ["bob", "hello there"]),
                lastEmpty: formatMessage("TOPIC", ["#a", ""]),
            };
        }"""
    )
    assert problems == {
        "space": True,
        "empty": True,
        "colon": True,
        "newline": True,
        "fine": "PRIVMSG bob :hello there",
        "lastEmpty": "TOPIC #a :",
    }
