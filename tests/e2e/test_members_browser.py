"""In headless Chromium: an owner changes a role inline (htmx swaps the row), removes a member after
the confirm dialog, and finds both in the audit log. Screenshots via tests/screenshots.py."""
import pytest
from sqlalchemy import select

from extensions import db
from models import Membership, Role
from tests.screenshots import screenshot


@pytest.mark.browser
def test_owner_changes_role_and_removes_member(live_server, browser_context, make):
    owner = make.user(email="olive@example.com", name="Olive Owner")
    org = make.org(owner=owner, name="Acme", slug="acme")
    mia = make.member(org, Role.member, user_=make.user(email="mia@example.com", name="Mia Member", password=None))
    make.member(org, Role.viewer, user_=make.user(email="vic@example.com", name="Vic Viewer", password=None))
    page = browser_context().new_page()
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", "olive@example.com")
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/workspaces")

    page.goto(f"{live_server.url}/app/o/acme/")
    screenshot(page, "orgs-overview")

    page.goto(f"{live_server.url}/app/o/acme/members")
    mid = db.session.scalar(select(Membership.id).where(Membership.user_id == mia.id))
    row = page.locator(f"#member_{mid}")
    assert row.locator("button.js-hide").is_hidden()  # htmx submits on change; no Save button needed
    row.locator("select[name=role]").select_option("admin")
    row.locator(".saved-note").wait_for()
    db.session.expire_all()
    assert db.session.scalar(select(Membership.role).where(Membership.id == mid)) == Role.admin
    screenshot(page, "orgs-members")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#member_{mid} >> text=Remove").click()
    page.locator(f"#member_{mid}").wait_for(state="detached")
    db.session.expire_all()
    assert db.session.scalar(select(Membership.id).where(Membership.id == mid)) is None

    page.goto(f"{live_server.url}/app/o/acme/audit")
    assert page.locator("#audit_rows code", has_text="member.removed").count() == 1
    assert page.locator("#audit_rows code", has_text="member.role_changed").count() == 1
    screenshot(page, "orgs-audit")

    page.goto(f"{live_server.url}/app/o/acme/settings")
    screenshot(page, "orgs-settings")
