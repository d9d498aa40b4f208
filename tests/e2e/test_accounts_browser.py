"""Accounts in headless Chromium: sign up, the account page, log out everywhere (htmx confirm dialog),
forgot password, the emailed link (real SMTP, real worker), the new password. Saves screenshots."""
import pytest

from models import User
from tests.accounts_helpers import reset_link_in, sign_up_path_in
from tests.screenshots import screenshot


def shot(page, name):
    screenshot(page, f"accounts-{name}")


@pytest.mark.browser
def test_account_lifecycle_in_a_browser(live_server, browser_context, smtp_server, run_jobs):
    page = browser_context().new_page()
    base = live_server.url

    page.goto(f"{base}/signup")
    page.fill("#email", "ada@example.com")
    page.click("#signup_form button[type=submit]")
    page.wait_for_selector("text=Check your inbox: we sent ada@example.com a link")
    run_jobs(["email"])
    [message] = smtp_server.wait_for(1)
    page.goto(base + sign_up_path_in(message.get_body(("plain",)).get_content()))
    assert page.inner_text("#signup_email") == "ada@example.com"
    page.fill("#name", "Ada Lovelace")
    page.fill("#password", "short")
    page.click("#signup_finish_form button[type=submit]")
    page.wait_for_selector("#field_password .field-error")
    assert "Use at least 8 characters." in page.inner_text("#field_password")
    shot(page, "signup-error")
    page.fill("#password", "analytical engine notes")
    page.click("#signup_finish_form button[type=submit]")
    page.wait_for_url(f"{base}/app/workspaces")

    page.goto(f"{base}/app/account")
    assert page.inner_text("#account_email").startswith("ada@example.com")
    page.fill("#name", "Ada King")
    page.click("#profile_form button[type=submit]")
    page.wait_for_selector("text=Your name was updated.")
    assert page.input_value("#name") == "Ada King"
    page.fill("#current_password", "wrong password")
    page.fill("#new_password", "a brand new passphrase")
    page.fill("#confirm_password", "a brand new passphrase")
    page.click("#password_form button[type=submit]")
    page.wait_for_selector("#field_current_password .field-error")
    shot(page, "account")

    # Log out everywhere asks first (the page's <dialog>); then every session ends, this one included.
    page.click("#revoke_sessions_button")
    page.locator("#confirm_dialog_confirm").click()
    page.wait_for_url(f"{base}/login")
    assert "logged out of every session" in page.inner_text("#flashes")
    assert User.by_email("ada@example.com").session_epoch == 1

    page.click("text=Forgot your password?")
    page.wait_for_url(f"{base}/forgot-password")
    page.fill("#email", "ada@example.com")
    page.click("#forgot_password_form button[type=submit]")
    page.wait_for_selector("text=If an account exists for ada@example.com")
    shot(page, "forgot-password")

    run_jobs(["email"])
    # The reset link email (security notices about the session revocation above arrive too: issue 4)
    message = next(m for m in smtp_server.wait_for(2) if m["Subject"] == "Reset your Orgkit password")
    link = reset_link_in(message.get_body(("plain",)).get_content())
    page.goto(base + link[link.index("/reset-password/"):])
    assert "ada@example.com" in page.inner_text("#reset_email")
    shot(page, "reset-password")
    page.fill("#password", "a brand new passphrase")
    page.fill("#confirm_password", "a brand new passphrase")
    page.click("#reset_password_form button[type=submit]")
    page.wait_for_url(f"{base}/login")

    page.fill("#email", "ada@example.com")
    page.fill("#password", "a brand new passphrase")
    shot(page, "login")
    page.click("#login_form button[type=submit]")
    page.wait_for_url(f"{base}/app/workspaces")

    # The used link now explains itself.
    page.goto(base + link[link.index("/reset-password/"):])
    assert "already used" in page.inner_text("#link_problem")


@pytest.mark.browser
def test_rate_limited_login_shows_the_form_with_the_reason(app, live_server, browser_context, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_ACCOUNT", "2 per 15 minutes")
    page = browser_context().new_page()
    page.goto(f"{live_server.url}/login")
    for _ in range(3):
        page.fill("#email", "someone@example.com")
        page.fill("#password", "not the password")
        # Each attempt's answer arrives before the next is sent (the previous attempt's error is still
        # on the page, so waiting for an error alone let a busy machine send two at once).
        with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST"):
            page.click("#login_form button[type=submit]")
        page.wait_for_selector("#login_form .flash-error")
    page.wait_for_selector("text=Too many login attempts")
    assert page.input_value("#email") == "someone@example.com"
    shot(page, "login-rate-limited")
