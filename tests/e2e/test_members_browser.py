"""In headless Chromium: an owner changes roles (an explicit Save; ownership asks first in a <dialog>,
focus stays put), removes a member through the dialog (toast, count updated) and another from the
confirmation page with JavaScript on, and finds it all in the audit log. Issue 16 items 2, 3 and 9."""
import pytest
from sqlalchemy import select

from extensions import db
from models import Membership, Role
from tests.screenshots import screenshot


def sign_in(page, base_url, email, password):
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/workspaces")


def role_of(membership_id):
    db.session.expire_all()
    return db.session.scalar(select(Membership.role).where(Membership.id == membership_id))


def membership_id(user):
    return db.session.scalar(select(Membership.id).where(Membership.user_id == user.id))


def posts_after(page, action, base_url):
    """The POSTs the page sent while doing action: a fetch of /healthz afterwards is reported after
    any request the action started, so the list is complete when it returns."""
    posts = []
    listener = lambda request: posts.append(request.url) if request.method == "POST" else None  # noqa: E731
    page.on("request", listener)
    action()
    with page.expect_request(f"{base_url}/healthz"):
        page.evaluate("fetch('/healthz')")
    page.remove_listener("request", listener)
    return posts


@pytest.mark.browser
def test_owner_changes_role_and_removes_member(live_server, browser_context, make):
    owner = make.user(email="olive@example.com", name="Olive Owner")
    org = make.org(owner=owner, name="Acme", slug="acme")
    mia = make.member(org, Role.member, user_=make.user(email="mia@example.com", name="Mia Member", password=None))
    vic = make.member(org, Role.viewer, user_=make.user(email="vic@example.com", name="Vic Viewer", password=None))
    make.member(org, Role.member, user_=make.user(email="max@example.com", name="Max Member", password=None))
    mid, vid = membership_id(mia), membership_id(vic)
    page = browser_context().new_page()
    sign_in(page, live_server.url, "olive@example.com", make.PASSWORD)

    page.goto(f"{live_server.url}/app/o/acme/")
    screenshot(page, "orgs-overview")

    page.goto(f"{live_server.url}/app/o/acme/members")
    row = page.locator(f"#member_{mid}")
    select_role = row.locator("select[name=role]")
    # An arrow key on a closed select fires `change` in Chromium: it must not post anything.
    select_role.focus()
    assert posts_after(page, lambda: page.keyboard.press("ArrowUp"), live_server.url) == []
    assert role_of(mid) == Role.member

    # An ordinary change: Save posts it, the row is swapped and focus stays on the same Save button.
    select_role.select_option("admin")
    row.locator(f"#role_save_{mid}").click()
    page.locator(f'#role_form_{mid}[data-current-role="admin"]').wait_for()
    assert role_of(mid) == Role.admin
    assert page.evaluate("document.activeElement.id") == f"role_save_{mid}"
    screenshot(page, "orgs-members")

    # Granting ownership asks first, says what it means; Escape cancels and changes nothing.
    row.locator("select[name=role]").select_option("owner")
    row.locator(f"#role_save_{mid}").click()
    dialog = page.locator("#confirm_dialog")
    dialog.wait_for(state="visible")
    assert dialog.locator("h2").inner_text() == "Make owner?"
    assert "Mia Member will be an owner of Acme" in dialog.inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == f"role_save_{mid}"
    assert role_of(mid) == Role.admin
    # Confirmed, it happens, and focus is still on the Save button of that row.
    row.locator(f"#role_save_{mid}").click()
    page.locator("#confirm_dialog_confirm").click()
    page.locator(f'#role_form_{mid}[data-current-role="owner"]').wait_for()
    assert role_of(mid) == Role.owner
    assert page.evaluate("document.activeElement.id") == f"role_save_{mid}"

    # Remove through the dialog: the row goes, the count follows, a toast confirms.
    page.locator(f"#remove_{mid}").click()
    dialog.wait_for(state="visible")
    assert dialog.locator("h2").inner_text() == "Remove Mia Member?"
    screenshot(page, "members-remove-dialog")
    page.locator("#confirm_dialog_confirm").click()
    page.locator(f"#member_{mid}").wait_for(state="detached")
    page.locator(".toast", has_text="Mia Member was removed from Acme.").wait_for()
    assert page.locator("#member_total").inner_text().startswith("3 members")
    db.session.expire_all()
    assert db.session.scalar(select(Membership.id).where(Membership.id == mid)) is None

    # From the confirmation page (the no-JS path) with JavaScript on: back to the list, not a blank page.
    page.goto(f"{live_server.url}/app/o/acme/members/{vid}/remove")
    page.locator("#confirm_remove").click()
    page.wait_for_url(f"{live_server.url}/app/o/acme/members")
    page.locator(".flash-success", has_text="Vic Viewer was removed from Acme.").wait_for()
    assert page.locator("#member_table").is_visible()

    page.goto(f"{live_server.url}/app/o/acme/audit")
    assert page.locator("#audit_rows code", has_text="member.removed").count() == 2
    assert page.locator("#audit_rows code", has_text="member.role_changed").count() == 2
    screenshot(page, "orgs-audit")

    page.goto(f"{live_server.url}/app/o/acme/settings")
    screenshot(page, "orgs-settings")
