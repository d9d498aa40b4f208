"""Passkeys in headless Chromium with the DevTools virtual authenticator (CDP WebAuthn domain): adding
one on the account page, signing in with it and no password, and using it as the second step after a
password. The authenticator is a platform one with user verification, like Touch ID or Windows Hello."""
import re

import pytest

from extensions import db
from models import AuditEvent, Passkey
from tests.factories import PASSWORD


def add_virtual_authenticator(context, page):
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    answer = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    return cdp, answer["authenticatorId"]


@pytest.mark.browser
def test_passkey_registration_and_sign_in(app, make, live_server, browser_context, monkeypatch):
    # WebAuthn needs a secure context and a domain for the RP ID: http://localhost is both.
    base = f"http://localhost:{live_server.port}"
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", base)
    person = make.user(email="ada@example.com", name="Ada Lovelace")
    context = browser_context()
    page = context.new_page()
    cdp, authenticator_id = add_virtual_authenticator(context, page)

    page.goto(f"{base}/login")
    page.fill("#email", person.email)
    page.fill("#password", PASSWORD)
    page.click("#login_form button[type=submit]")
    page.wait_for_url(f"{base}/app/workspaces")

    # Add a passkey: an empty name is refused with a message, then a named one is created.
    page.goto(f"{base}/app/account/two-factor")
    page.wait_for_selector("#passkey_form", state="visible")
    assert page.is_hidden("[data-passkey-unsupported]")
    page.click("#add_passkey")
    page.wait_for_selector("#passkey_error", state="visible")
    assert "Name this passkey" in page.inner_text("#passkey_error")
    assert Passkey.query.count() == 0
    page.fill("#passkey_name", "Work laptop")
    page.click("#add_passkey")
    page.wait_for_selector("text=Passkey “Work laptop” was added.")
    assert "Work laptop" in page.inner_text("#passkey_rows")
    passkey = Passkey.query.filter_by(user_id=person.id).one()
    assert passkey.name == "Work laptop"
    assert AuditEvent.query.filter_by(action="user.second_factor_added").one().data["factor"]["type"] == "passkey"
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"]
    # Its first passkey turned two-factor on: recovery codes are offered.
    assert page.is_visible("#generate_codes")

    # Sign in with the passkey alone: no email, no password.
    page.click("#user_menu summary")
    page.click("#logout_button")
    page.wait_for_url(f"{base}/login")
    page.wait_for_selector("#passkey_login_button", state="visible")
    page.click("#passkey_login_button")
    page.wait_for_url(f"{base}/app/workspaces")
    db.session.expire_all()
    passkey = db.session.get(Passkey, passkey.id)
    assert passkey.last_used_at is not None

    # With a password, the passkey is the second step.
    page.click("#user_menu summary")
    page.click("#logout_button")
    page.wait_for_url(f"{base}/login")
    page.fill("#email", person.email)
    page.fill("#password", PASSWORD)
    page.click("#login_form button[type=submit]")
    page.wait_for_url(f"{base}/login/two-factor")
    assert page.query_selector("#two_factor_form") is None  # no authenticator app: the passkey is the way
    page.click("#passkey_step_button")
    page.wait_for_url(f"{base}/app/workspaces")

    # Removing it needs a recent confirmation: with the passkey itself (the login above was recent, so
    # the clock is turned forward to make it stale first).
    from blueprints.twofactor import account
    monkeypatch.setattr(account, "REAUTH_MINUTES", 0)
    page.goto(f"{base}/app/account/two-factor/passkeys/{passkey.id}/remove")
    page.wait_for_url(re.compile(r".*/app/account/confirm-access\?next=.*"))
    monkeypatch.setattr(account, "REAUTH_MINUTES", 10)
    page.wait_for_selector("#passkey_reauth_button", state="visible")
    page.click("#passkey_reauth_button")
    page.wait_for_url(f"{base}/app/account/two-factor/passkeys/{passkey.id}/remove")
    assert "It is your last second factor" in page.inner_text("main")
    page.click("#confirm_remove")
    page.wait_for_selector("text=Passkey “Work laptop” was removed.")
    assert Passkey.query.count() == 0
    assert AuditEvent.query.filter_by(action="user.second_factor_removed").count() == 1

    # A passkey this site no longer knows is refused with a clear message.
    page.click("#user_menu summary")
    page.click("#logout_button")
    page.wait_for_url(f"{base}/login")
    page.click("#passkey_login_button")
    page.wait_for_selector("#passkey_login_button_error", state="visible")
    assert "not registered" in page.inner_text("#passkey_login_button_error")
