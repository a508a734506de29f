"""Web client: signing in, creating accounts, sessions across reloads, signing out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.async_api import expect

if TYPE_CHECKING:
    from tests.browser import WebServer

pytest_plugins = ["tests.browser"]


async def test_first_account_is_created_in_the_browser_and_becomes_admin(web: WebServer) -> None:
    tab = await web.tab()
    page = tab.page
    await page.goto(web.url)
    await expect(page.get_by_role("heading", name="Set up lanchat")).to_be_visible()
    await expect(page.get_by_text("It becomes the administrator")).to_be_visible()
    await page.get_by_label("Username").fill("boss")
    await page.get_by_label("Password", exact=True).fill("short")
    await page.get_by_label("Repeat the password").fill("short")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("alert")).to_contain_text("at least 8 characters")

    await page.get_by_label("Password", exact=True).fill("long enough password")
    await page.get_by_label("Repeat the password").fill("long enough password")
    await page.get_by_role("button", name="Create account").click()
    await tab.wait_connected()
    await expect(page.get_by_role("button", name="Administration")).to_be_visible()
    await expect(tab.conv("#general")).to_have_attribute("aria-current", "page")
    session = await page.request.get(web.url + "api/session")
    assert (await session.json())["admin"] is True

    # Someone else registering later is an ordinary user.
    other = await web.tab()
    await other.page.goto(web.url)
    await expect(other.page.get_by_role("heading", name="Sign in")).to_be_visible()
    await other.page.get_by_role("button", name="Create an account").click()
    await other.page.get_by_label("Username").fill("carol")
    await other.page.get_by_label("Password", exact=True).fill("carols password")
    await other.page.get_by_label("Repeat the password").fill("carols password")
    await other.page.get_by_role("button", name="Create account").click()
    await other.wait_connected()
    await expect(other.page.get_by_role("button", name="Log out")).to_be_visible()
    await expect(other.page.get_by_role("button", name="Administration")).to_have_count(0)


async def test_wrong_password_shows_an_error_then_the_right_one_signs_in(web: WebServer) -> None:
    await web.account("alice")
    tab = await web.tab()
    page = tab.page
    await page.goto(web.url)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await web.screenshot(tab, "login")

    await page.get_by_label("Username").fill("alice")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    error = page.locator("#auth-error")
    await expect(error).to_be_visible()
    await expect(error).to_have_text("Wrong username or password.")
    await expect(page.get_by_label("Password")).to_be_focused()

    await page.get_by_label("Password").fill(web.password("alice"))
    await page.get_by_label("Password").press("Enter")
    await tab.wait_connected()
    await expect(page.locator("#auth")).to_have_count(0)


async def test_a_reload_keeps_the_session_and_shows_the_history(web: WebServer) -> None:
    await web.account("alice")
    tab = await web.tab()
    page = tab.page
    await page.goto(web.url)
    await page.get_by_label("Username").fill("alice")
    await page.get_by_label("Password").fill(web.password("alice"))
    await page.get_by_role("button", name="Sign in").click()
    await tab.wait_connected()
    await tab.send("before the reload")

    await page.reload()
    await tab.wait_connected()
    await expect(page.locator("#auth")).to_have_count(0)
    await expect(tab.message("before the reload")).to_be_visible()

    # The session token is an HttpOnly cookie: scripts cannot read it, and no password is stored.
    assert "lanchat_session" not in await page.evaluate("document.cookie")
    stored = await page.evaluate("JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
    assert web.password("alice") not in stored
    cookies = await tab.context.cookies()
    session = next(c for c in cookies if c["name"] == "lanchat_session")
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"


async def test_logout_revokes_the_session(web: WebServer) -> None:
    await web.account("alice")
    tab = await web.login("alice")
    page = tab.page
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert (await page.request.get(web.url + "api/session")).status == 401


async def test_closed_registration_offers_no_sign_up(web: WebServer) -> None:
    await web.account("alice", admin=True)
    await web.app.store.set_setting("registration", "closed")
    tab = await web.tab()
    await tab.page.goto(web.url)
    await expect(tab.page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(tab.page.get_by_text("Ask an administrator")).to_be_visible()
    await expect(tab.page.get_by_role("button", name="Create an account")).to_have_count(0)
