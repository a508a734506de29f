"""The screenshots of the main screens (docs/screenshots/: a lively office conversation), and what they show."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
import urllib.request
import zlib
from typing import TYPE_CHECKING

from playwright.async_api import expect

from tests.ircclient import IrcTestClient

if TYPE_CHECKING:
    from tests.browser import Tab, WebServer

pytest_plugins = ["tests.browser"]

CAPS = ("message-tags", "server-time", "echo-message", "batch")


def photo(width: int = 480, height: int = 270) -> bytes:
    """A PNG that looks like a sunset over a skyline (drawn pixel by pixel)."""
    rows = []
    for y in range(height):
        t = y / height
        sky = (int(250 - 120 * t), int(170 - 90 * t), int(120 + 80 * t))
        row = bytearray(b"\x00")
        for x in range(width):
            colour = sky
            sun = math.hypot(x - width * 0.68, y - height * 0.52)
            if sun < 34:
                colour = (255, 226, 150)
            elif sun < 60:
                glow = (60 - sun) / 26
                colour = tuple(int(c + (255 - c) * glow * 0.45) for c in sky)  # type: ignore[assignment]
            building = height * (0.62 + 0.18 * math.sin(x / 23) * math.sin(x / 7.1))
            if (x // 18) % 3 != 0 and y > building:
                colour = (40, 44, 70)
                if (x % 6 < 2) and (int(y) % 9 < 3) and y < height - 12:
                    colour = (255, 214, 120)
            row += bytes(colour)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def upload_basic(url: str, account: str, password: str, name: str, data: bytes, media: str) -> str:
    """Upload as an IRC client would (draft/FILEHOST, HTTP Basic); returns the file's URL."""
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{account}:{password}".encode()).decode())
    request.add_header("Content-Type", media)
    request.add_header("X-Filename", name)
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, str] = json.loads(response.read())
        return answer["url"]


async def said(client: IrcTestClient, text: str) -> str:
    """The msgid of the last message with ``text`` that ``client`` saw."""
    await client.sync()
    for message in reversed(client.log):
        if message.command == "PRIVMSG" and message.params[1] == text:
            return message.tags["msgid"]
    raise AssertionError(f"nobody said {text!r}")


async def to_bottom(tab: Tab) -> None:
    """Scroll the conversation to its newest message."""
    latest = tab.page.get_by_role("button", name="Latest messages")
    if await latest.is_visible():
        await latest.click()
    await expect(latest).to_be_hidden()


async def test_screenshots_of_the_main_screens(web: WebServer) -> None:
    for name in ("alice", "bob", "dave"):
        await web.account(name)
    await web.account("carol", admin=True)
    bob = await web.irc("bob", CAPS)
    carol = await web.irc("carol", CAPS)
    dave = await web.irc("dave", CAPS)
    for client in (bob, dave):
        await client.send("JOIN #random,#projects")
    await carol.send("JOIN #projects")
    await carol.send("TOPIC #general :Office chat · lunch at 12:30 · be kind")

    alice = await web.login("alice", open_conv="#general")
    for channel in ("#projects", "#random"):
        await alice.composer.fill(f"/join {channel}")
        await alice.composer.press("Enter")
        await expect(alice.conv(channel)).to_have_attribute("aria-current", "page")
    await alice.open("#general")

    await carol.send("PRIVMSG #general :Good morning! ☀️ The coffee machine on the 2nd floor works again.")
    await bob.send("PRIVMSG #general :Finally 🙌")
    await dave.send("PRIVMSG #general :Reminder: planning meeting at 10:00 in the Blue room.")
    await alice.send("I'll bring the draft agenda.")
    agenda = await said(dave, "I'll bring the draft agenda.")
    await dave.send(f"@+draft/reply={agenda} PRIVMSG #general :Perfect, thanks! Could you add the hiring update?")
    upload_url = f"{web.url}api/upload"
    image = await asyncio.to_thread(
        upload_basic, upload_url, "carol", web.password("carol"), "view.png", photo(), "image/png"
    )
    await carol.send(f"PRIVMSG #general :The view from the new office 😍 {image}")
    plan = await asyncio.to_thread(
        upload_basic, upload_url, "bob", web.password("bob"), "floor-plan.pdf", b"%PDF-1.4 demo", "application/pdf"
    )
    await bob.send(f"PRIVMSG #general :{plan}")
    coffee = await said(bob, "Good morning! ☀️ The coffee machine on the 2nd floor works again.")
    for client, emoji in ((bob, "🎉"), (dave, "🎉"), (dave, "☕")):
        await client.send(f"@+draft/reply={coffee};+draft/react={emoji} TAGMSG #general")
    reminder = alice.message("Reminder: planning meeting")
    await reminder.hover()
    await reminder.get_by_role("button", name="React").click()
    await alice.page.get_by_role("button", name="React with 👍").click()

    await dave.send("PRIVMSG #random :Anyone up for table tennis at 4?")
    await dave.send("PRIVMSG #random :Loser buys the cake 🍰")
    await bob.send("PRIVMSG #projects :alice, the roadmap doc is ready for review")
    await carol.send("PRIVMSG alice :Do you have a minute after lunch?")
    await dave.send("AWAY :In a meeting")
    await bob.send("@+typing=active TAGMSG #general")

    page = alice.page
    await expect(page.locator(".typing")).to_have_text("bob is typing…")
    await expect(alice.conv("carol").locator(".badge")).to_have_text("1")
    await expect(alice.conv("#random").locator(".badge")).to_have_text("2")
    await expect(alice.conv("#projects").locator(".badge.mention")).to_have_text("1")
    await expect(alice.message("The view from the new office").locator(".image-preview img")).to_be_visible()
    await page.wait_for_function("() => document.querySelector('.image-preview img')?.naturalWidth > 0")
    await expect(alice.message("Perfect, thanks!").locator(".msg-quote")).to_contain_text("draft agenda")
    await expect(alice.message("Good morning!").locator(".reaction")).to_have_count(2)
    await expect(page.locator('.member[data-nick="dave"]')).to_have_attribute("aria-label", "dave, away")
    await to_bottom(alice)
    await alice.composer.fill("Sounds good, see you at ")
    await web.screenshot(alice, "chat-desktop")

    dark = await web.tab(color_scheme="dark", context=None)
    await dark.page.context.request.post(
        web.url + "api/login", data={"username": "alice", "password": web.password("alice")}
    )
    await dark.page.goto(web.url)
    await dark.wait_connected()
    await dark.open("#general")
    await dark.page.wait_for_function("() => document.querySelector('.image-preview img')?.naturalWidth > 0")
    await to_bottom(dark)
    await web.screenshot(dark, "chat-dark")

    phone = await web.login("alice", viewport=web.PHONE)
    await phone.open("#general")
    await phone.page.wait_for_function("() => document.querySelector('.image-preview img')?.naturalWidth > 0")
    await to_bottom(phone)
    await web.screenshot(phone, "chat-phone")
    await phone.page.get_by_role("button", name="Open the sidebar").click()
    await expect(phone.page.locator("#sidebar")).to_be_in_viewport()
    await web.screenshot(phone, "chat-phone-sidebar")
