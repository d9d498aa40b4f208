"""Headless Chromium: invite with htmx, revoke through the confirmation dialog, and a second person
joins from the emailed link. Saves screenshots of the main screens."""
import pytest

from extensions import db
from models import Invitation, Membership, Role, User
from tests.invitations.conftest import link_path_in
from tests.screenshots import screenshot


@pytest.mark.browser
def test_invite_revoke_and_join_from_the_emailed_link(acme, make, live_server, browser_context, smtp_server, run_jobs):
    org, owner = acme
    make.member(org, role=Role.admin, user_=make.user(email="bob@example.com", name="Bob Admin"))

    admin = browser_context().new_page()
    admin.goto(f"{live_server.url}/login")
    admin.fill("#email", "ada@example.com")
    admin.fill("#password", make.PASSWORD)
    admin.click("button[type=submit]")
    admin.wait_for_url("**/app/workspaces")
    admin.goto(f"{live_server.url}/app/o/acme/invitations")

    # Invite two people; htmx swaps the list in place (no page load: the marker survives).
    admin.evaluate("window.__still_same_page = true")
    for email, role in (("grace@example.com", "admin"), ("temp@example.com", "viewer")):
        admin.fill("#email", email)
        admin.select_option("#role", role)
        admin.click("#invite_submit")
        admin.locator("#invitation_rows", has_text=email).wait_for()
    assert admin.evaluate("window.__still_same_page") is True
    assert admin.locator("#invitations_notice").inner_text() == "Invitation sent to temp@example.com."
    assert admin.input_value("#email") == ""

    admin.fill("#allowed_domains", "example.com")
    admin.check("#enabled")
    admin.click("#invite_link_save")
    admin.locator("#invite_link_status", has_text="On").wait_for()
    admin.evaluate("window.scrollTo(0, 0)")
    screenshot(admin, "invitations-list")

    # Inline validation without leaving the page.
    admin.fill("#email", "grace@example.com")
    admin.click("#invite_submit")
    admin.locator(".field-error", has_text="already has a pending invitation").wait_for()

    # Revoke asks first (hx-confirm, answered in the page's own <dialog>), then the row disappears.
    temp = db.session.query(Invitation).filter_by(email="temp@example.com").one()
    admin.click(f"#revoke-{temp.id}")
    admin.locator("#confirm_dialog").wait_for()
    admin.locator("#confirm_dialog_confirm").click()
    admin.locator("#invitations_notice", has_text="Invitation for temp@example.com revoked.").wait_for()
    assert admin.locator(f"#invitation-{temp.id}").count() == 0
    assert admin.locator("#invitation_rows tbody tr").count() == 1
    assert admin.evaluate("window.__still_same_page") is True

    # Grace, in her own browser, follows the emailed link and signs up.
    run_jobs(["email"])
    messages = smtp_server.wait_for(2)
    to_grace = next(m for m in messages if m["To"] == "grace@example.com")
    path = link_path_in(to_grace.get_body(("plain",)).get_content())
    grace = browser_context().new_page()
    grace.goto(live_server.url + path)
    assert grace.input_value("#invited_email") == "grace@example.com"
    assert grace.locator("#invited_email").get_attribute("readonly") is not None
    grace.fill("#name", "Grace Hopper")
    grace.fill("#password", "a long enough passphrase")
    screenshot(grace, "invitations-accept")
    grace.click("#signup_and_join")
    grace.wait_for_url("**/app/o/acme/")
    assert "Welcome to Acme" in grace.content()

    db.session.expire_all()
    user = User.by_email("grace@example.com")
    membership = db.session.query(Membership).filter_by(org_id=org.id, user_id=user.id).one()
    assert membership.role == Role.admin
