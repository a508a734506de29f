"""Web client: the admin panel (accounts and registration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.async_api import expect

if TYPE_CHECKING:
    from tests.browser import WebServer

pytest_plugins = ["tests.browser"]


async def can_log_in(web: WebServer, name: str, password: str) -> bool:
    response = await web.browser.new_context()
    try:
        answer = await response.request.post(web.url + "api/login", data={"username": name, "password": password})
        return answer.status == 200
    finally:
        await response.close()


async def test_admin_panel_manages_accounts_and_registration(web: WebServer) -> None:
    await web.account("boss", admin=True)
    await web.account("alice")
    boss = await web.login("boss", open_conv="#general")
    page = boss.page
    await page.get_by_role("button", name="Administration").click()
    panel = page.get_by_role("dialog", name="Administration")
    rows = panel.locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(panel.locator('tr[data-account="boss"] .badge').first).to_have_text("admin")
    await expect(panel.locator('tr[data-account="alice"] .badge')).to_have_count(0)
    # Connected right now (through this page), so no "last seen" time: "online now".
    await expect(panel.locator('tr[data-account="boss"] .badge.online')).to_have_text("online now")
    await expect(panel.locator('tr[data-account="alice"] td').nth(1)).to_have_text("never")

    # Create an account.
    await panel.get_by_label("Username", exact=True).fill("dave")
    await panel.get_by_label("Password", exact=True).fill("daves password")
    await panel.get_by_role("button", name="Create account").click()
    await expect(rows).to_have_count(3)
    assert await can_log_in(web, "dave", "daves password")
    await web.screenshot(boss, "admin")

    # Reset a password: the old one stops working.
    await panel.get_by_role("button", name="Reset the password of alice").click()
    reset = page.get_by_role("dialog", name="New password for alice")
    await reset.get_by_label("New password").fill("a brand new password")
    await reset.get_by_role("button", name="Set password").click()
    await expect(reset).to_have_count(0)
    await expect(page.locator(".toast", has_text="Password of alice changed")).to_be_visible()
    assert await can_log_in(web, "alice", "a brand new password")
    assert not await can_log_in(web, "alice", web.password("alice"))

    # Make an admin, and back.
    await panel.get_by_role("button", name="Make alice an admin").click()
    await expect(panel.locator('tr[data-account="alice"] .badge')).to_have_text("admin")
    record = await web.app.store.get_account("alice")
    assert record is not None
    assert record.admin
    await panel.get_by_role("button", name="Remove admin rights from alice").click()
    await expect(panel.locator('tr[data-account="alice"] .badge')).to_have_count(0)

    # Remove an account (after confirming).
    await panel.get_by_role("button", name="Remove the account dave").click()
    await page.get_by_role("dialog", name="Remove account").get_by_role("button", name="Remove").click()
    await expect(panel.locator('tr[data-account="dave"]')).to_have_count(0)
    assert await web.app.store.get_account("dave") is None
    # Admins cannot remove themselves from here.
    await expect(panel.get_by_role("button", name="Remove the account boss")).to_have_count(0)

    # Close registration: the sign-in page stops offering it.
    switch = panel.get_by_role("switch")
    await expect(switch).to_be_checked()
    await panel.locator("label.switch").click()
    await expect(switch).not_to_be_checked()
    await expect(page.locator(".toast", has_text="Registration is now closed")).to_be_visible()
    info = await (await page.request.get(web.url + "api/info")).json()
    assert info["registration"] == "closed"
    await page.keyboard.press("Escape")
    await expect(panel).to_have_count(0)
