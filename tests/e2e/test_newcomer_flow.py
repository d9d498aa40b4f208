"""Issue 2's "done means", in a real browser: a newcomer signs up, creates a workspace, invites a
colleague, the colleague accepts from the emailed link in a second browser, the owner changes the
colleague's role and finds all of it in the audit log, then removes them. Saves the README's screenshots."""
import pytest

from extensions import db
from models import Membership, Organization, Role, User
from tests.accounts_helpers import sign_up_path_in
from tests.invitations.conftest import link_path_in
from tests.screenshots import screenshot


@pytest.mark.browser
def test_newcomer_signs_up_invites_and_manages_a_colleague(live_server, browser_context, smtp_server, run_jobs):
    ada = browser_context().new_page()

    # Sign up: the link arrives by email; finish there and land on the empty workspaces page.
    ada.goto(f"{live_server.url}/signup")
    ada.fill("#email", "ada@example.com")
    ada.click("#signup_form button[type=submit]")
    ada.wait_for_selector("text=Check your inbox")
    run_jobs(["email"])
    signup_email = next(m for m in smtp_server.wait_for(1) if m["To"] == "ada@example.com")
    ada.goto(live_server.url + sign_up_path_in(signup_email.get_body(("plain",)).get_content()))
    ada.fill("#name", "Ada Lovelace")
    ada.fill("#password", "analytical engine 1843")
    ada.click("#signup_finish_form button[type=submit]")
    ada.wait_for_url("**/app/workspaces")
    assert "No organizations yet." in ada.content()

    # Create the workspace: its creator is its owner.
    ada.fill("#name", "Acme Inc")
    ada.click("#create_workspace_form button[type=submit]")
    ada.wait_for_url("**/app/o/acme-inc/")
    ada.goto(f"{live_server.url}/app/workspaces")
    screenshot(ada, "workspaces-list")

    # Invite Grace; the list updates in place.
    ada.goto(f"{live_server.url}/app/o/acme-inc/invitations")
    ada.fill("#email", "grace@example.com")
    ada.select_option("#role", "member")
    ada.click("#invite_submit")
    ada.locator("#invitation_rows", has_text="grace@example.com").wait_for()

    # The invitation email arrives over real SMTP (real RQ worker); Grace opens it in her own browser.
    run_jobs(["email"])
    email = next(m for m in smtp_server.wait_for(2) if m["To"] == "grace@example.com")
    assert "Acme Inc" in email["Subject"]
    grace = browser_context().new_page()
    grace.goto(live_server.url + link_path_in(email.get_body(("plain",)).get_content()))
    grace.fill("#name", "Grace Hopper")
    grace.fill("#password", "compilers all the way down")
    grace.click("#signup_and_join")
    grace.wait_for_url("**/app/o/acme-inc/")

    # Ada makes Grace an admin, inline.
    ada.goto(f"{live_server.url}/app/o/acme-inc/members")
    org = Organization.by_slug("acme-inc")
    grace_user = User.by_email("grace@example.com")
    membership = db.session.scalar(db.select(Membership).filter_by(org_id=org.id, user_id=grace_user.id))
    row = ada.locator(f"#member_{membership.id}")
    row.locator("select[name=role]").select_option("admin")
    row.locator(f"#role_save_{membership.id}").click()
    ada.locator(f'#role_form_{membership.id}[data-current-role="admin"]').wait_for()
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).role == Role.admin
    screenshot(ada, "members-list")

    # Everything is in the audit log.
    ada.goto(f"{live_server.url}/app/o/acme-inc/audit")
    log = ada.locator("#audit_rows").inner_text()
    for action in ("org.created", "invitation.created", "invitation.accepted", "member.added", "member.role_changed"):
        assert action in log, f"{action} missing from the audit log"
    screenshot(ada, "audit-log")

    # Removal asks first, then Grace is gone.
    ada.goto(f"{live_server.url}/app/o/acme-inc/members")
    ada.locator(f"#member_{membership.id}").get_by_text("Remove").click()
    ada.locator("#confirm_dialog_confirm").click()
    ada.locator(f"#member_{membership.id}").wait_for(state="detached")
    assert db.session.scalar(db.select(Membership.id).filter_by(id=membership.id)) is None
    grace.goto(f"{live_server.url}/app/o/acme-inc/")
    assert "Page not found" in grace.content()
