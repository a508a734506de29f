"""Web client: sharing files (pick, drop, paste), progress, previews, byte-identical downloads."""

from __future__ import annotations

import asyncio
import os
import re
import struct
import urllib.request
import zlib
from typing import TYPE_CHECKING

from playwright.async_api import FilePayload, expect

if TYPE_CHECKING:
    from tests.browser import WebFactory, WebServer

pytest_plugins = ["tests.browser"]

FILE_URL = re.compile(r"^http://127\.0\.0\.1:\d+/files/[^/ ]+/[^/ ]+$")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small solid-colour PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: bytes = response.read()
        return data


async def test_a_file_uploads_and_downloads_byte_identical(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    await web.account("carol")
    alice = await web.login("alice", open_conv="#general")
    bob = await web.login("bob", open_conv="#general")
    carol = await web.irc("carol")
    payload = os.urandom(300_000) + b"\x00\r\n end"

    # Slow the upload down so that the progress bar shows.
    cdp = await alice.context.new_cdp_session(alice.page)
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 400_000},
    )
    report = FilePayload(name="quarterly report.bin", mimeType="application/octet-stream", buffer=payload)
    await alice.page.locator("input[type=file]").set_input_files(files=[report])
    progress = alice.page.locator(".uploads progress")
    await expect(progress).to_be_visible()
    await expect(alice.page.locator(".uploads")).to_contain_text("quarterly report.bin")
    await expect(progress).to_have_count(0, timeout=10_000)
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )

    card = bob.page.locator(".message-list .file-card")
    await expect(card).to_have_count(1)
    await expect(card).to_contain_text("quarterly report.bin")
    async with bob.page.expect_download() as info:
        await card.click()
    download = await info.value
    assert download.suggested_filename == "quarterly report.bin"
    saved = web.tmp / "downloaded.bin"
    await download.save_as(saved)
    assert saved.read_bytes() == payload

    # IRC clients see a link they can fetch.
    await carol.sync()
    links = [m.params[1] for m in carol.log if m.command == "PRIVMSG" and "/files/" in m.params[1]]
    assert len(links) == 1
    assert FILE_URL.match(links[0])
    assert await asyncio.to_thread(fetch, links[0]) == payload


async def test_images_show_a_preview_and_files_can_be_dropped_or_pasted(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    alice = await web.login("alice", open_conv="#general")
    bob = await web.login("bob", open_conv="#general")
    image = png(64, 48, (79, 91, 213))

    # Drag and drop onto the conversation.
    await alice.page.evaluate(
        """([bytes, name]) => {
            const file = new File([new Uint8Array(bytes)], name, {type: "image/png"});
            const data = new DataTransfer();
            data.items.add(file);
            const target = document.querySelector(".timeline");
            for (const type of ["dragenter", "dragover", "drop"]) {
                target.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
            }
        }""",
        [list(image), "blue square.png"],
    )
    preview = bob.page.locator(".message-list .image-preview img")
    await expect(preview).to_have_count(1)
    await expect(preview).to_have_attribute("alt", "blue square.png")
    # The image loads (the page's Content-Security-Policy allows same-origin images).
    await bob.page.wait_for_function(
        "() => { const img = document.querySelector('.image-preview img'); return img && img.naturalWidth === 64; }"
    )
    src = await preview.get_attribute("src")
    assert src is not None
    assert src.startswith("/files/")
    assert await asyncio.to_thread(fetch, web.url.rstrip("/") + src) == image

    # Pasting a file into the message box uploads it too.
    await alice.page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["pasted text file\\n"], "notes.txt", {type: "text/plain"}));
            const input = document.querySelector("#composer-input");
            input.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
        }"""
    )
    await expect(bob.page.locator(".message-list .file-card")).to_contain_text("notes.txt")
    await expect(alice.page.locator(".message-list .file-card")).to_contain_text("notes.txt")


async def test_files_over_the_size_limit_are_refused_in_the_browser(web: WebServer) -> None:
    await web.account("alice")
    alice = await web.login("alice", open_conv="#general")
    limit = await alice.page.evaluate("fetch('/api/info').then(r => r.json()).then(i => i.max_upload_bytes)")
    await alice.page.evaluate(
        """(size) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(size)], "huge.iso"));
            document.querySelector(".timeline").dispatchEvent(
                new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
        }""",
        limit + 1,
    )
    await expect(alice.page.locator(".toast")).to_contain_text("huge.iso is too large")
    await expect(alice.page.locator(".uploads progress")).to_have_count(0)


async def test_an_upload_over_the_quota_shows_why(web_factory: WebFactory) -> None:
    web = await web_factory(web_upload_quota_mb=1)
    await web.account("alice")
    alice = await web.login("alice", open_conv="#general")
    for name in ("first.bin", "second.bin"):
        await alice.page.locator("input[type=file]").set_input_files(
            files=[FilePayload(name=name, mimeType="application/octet-stream", buffer=os.urandom(700_000))]
        )
        await expect(alice.page.locator(".uploads progress")).to_have_count(0, timeout=10_000)
    await expect(alice.page.locator(".message-list .file-card")).to_have_count(1)
    await expect(alice.page.locator(".toast")).to_contain_text(
        "second.bin: This file does not fit in your 1 MB for shared files (0.7 MB used)"
    )
    # Chromium logs the refused request itself; that one is expected.
    alice.errors[:] = [e for e in alice.errors if "status of 413" not in e]


async def test_links_to_files_on_other_sites_stay_links(web: WebServer) -> None:
    await web.account("alice")
    await web.account("bob")
    alice = await web.login("alice", open_conv="#general")
    bob = await web.irc("bob")
    external = "https://www.kernel.org/files/v6/linux-6.9.tar.xz"
    await bob.send(f"PRIVMSG #general :see {external} for the sources")
    message = alice.message("for the sources")
    link = message.locator(".msg-text a")
    await expect(link).to_have_text(external)
    await expect(link).to_have_attribute("href", external)
    await expect(message.locator(".msg-text")).to_have_text(f"see {external} for the sources")
    assert await message.locator(".file-card, .image-preview").count() == 0

    # The same path on this server's own origin is a shared file: a card.
    own = web.url + "files/abc123/linux-6.9.tar.xz"
    await bob.send(f"PRIVMSG #general :{own}")
    card = alice.page.locator(".message-list .file-card")
    await expect(card).to_have_count(1)
    await expect(card).to_have_attribute("href", "/files/abc123/linux-6.9.tar.xz")
