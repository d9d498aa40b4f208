"""Overview, general settings (rename, change address), delete with typed confirmation, leave."""
import re

import pytest
from sqlalchemy import select

from extensions import db
from models import AuditEvent, Invitation, Membership, Organization, OrgStatus, Role, utcnow


def membership_of(org, user):
    return db.session.scalar(select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id))


@pytest.fixture
def team(make):
    owner = make.user(name="Olive Owner", password=None)
    org = make.org(owner=owner, name="Acme", slug="acme")
    admin = make.member(org, Role.admin, user_=make.user(name="Adam Admin", password=None))
    member = make.member(org, Role.member, user_=make.user(name="Mia Member", password=None))
    return org, owner, admin, member


def test_overview_for_admin_shows_counts_role_and_recent_activity(client, login, make, team):
    from datetime import timedelta
    org, owner, admin, member = team
    db.session.add(Invitation(org_id=org.id, email="new@example.com", role=Role.member, token_hash="a" * 64, expires_at=utcnow() + timedelta(days=7)))
    db.session.add(Invitation(org_id=org.id, email="old@example.com", role=Role.member, token_hash="b" * 64, expires_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    login(admin)
    html = client.get("/app/o/acme/").get_data(as_text=True)
    assert '<div class="stat" id="member_count">3</div>' in html
    assert '<div class="stat" id="pending_invitation_count">1</div>' in html  # the expired one is not pending
    assert '<div class="stat" id="my_role">Admin</div>' in html
    # Activity reads as sentences, not event codes (issue 16 item 10).
    assert 'id="recent_activity"' in html and "member.added" not in html
    assert re.search(r'class="activity-what">\S.* joined Acme as admin</span>', html), html
    assert 'id="next_steps"' not in html  # not a new workspace any more


def test_overview_for_member_hides_audit(client, login, team):
    org, owner, admin, member = team
    login(member)
    html = client.get("/app/o/acme/").get_data(as_text=True)
    assert 'id="my_role">Member<' in html and 'id="recent_activity"' not in html and "member.added" not in html


def test_new_workspace_gets_next_steps(client, login, make):
    owner = make.user(password=None)
    org = make.org(owner=owner, slug="fresh")
    login(owner)
    html = client.get("/app/o/fresh/").get_data(as_text=True)
    assert 'id="next_steps"' in html and "Invite your team" in html


def test_settings_read_only_for_members(client, login, team):
    org, owner, admin, member = team
    login(member)
    html = client.get("/app/o/acme/settings").get_data(as_text=True)
    assert 'id="settings_facts"' in html and 'id="settings_form"' not in html and 'id="danger_zone"' not in html
    assert 'id="leave"' in html
    assert client.post("/app/o/acme/settings", data={"name": "Hacked", "slug": "acme"}).status_code == 403


def test_admin_renames_and_changes_address(client, login, team):
    org, owner, admin, member = team
    login(admin)
    html = client.get("/app/o/acme/settings").get_data(as_text=True)
    assert 'id="settings_form"' in html and 'id="danger_zone"' not in html  # only owners delete
    response = client.post("/app/o/acme/settings", data={"name": "Acme Inc", "slug": "acme-inc"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/app/o/acme-inc/settings")
    assert "Settings saved." in client.get(response.headers["Location"]).get_data(as_text=True)
    org = db.session.get(Organization, org.id)
    assert (org.name, org.slug) == ("Acme Inc", "acme-inc")
    assert client.get("/app/o/acme/").status_code == 404
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "org.updated"))
    assert event.data["changes"] == {"name": ["Acme", "Acme Inc"], "slug": ["acme", "acme-inc"]}


@pytest.mark.parametrize("data, message", [
    ({"name": "Acme", "slug": "taken"}, "That address is taken."),
    ({"name": "Acme", "slug": "-bad-"}, "lowercase letters"),
    ({"name": "Acme", "slug": "x" * 61}, "60 characters"),
    ({"name": "x" * 101, "slug": "acme"}, "100 characters"),
    ({"name": "", "slug": "acme"}, "Enter a name for the workspace."),
    ({"name": "Acme", "slug": "api"}, "reserved"),
])
def test_settings_bad_input_is_inline_422_and_writes_nothing(client, login, make, team, data, message):
    org, owner, admin, member = team
    make.org(slug="taken")
    login(owner)
    response = client.post("/app/o/acme/settings", data=data)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert db.session.get(Organization, org.id).slug == "acme"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "org.updated")) is None


def test_delete_requires_owner_and_typed_confirmation(client, login, team):
    org, owner, admin, member = team
    login(admin)
    assert client.get("/app/o/acme/settings/delete").status_code == 403
    login(owner)
    page = client.get("/app/o/acme/settings/delete")
    assert page.status_code == 200 and "Type acme exactly." in page.get_data(as_text=True)
    wrong = client.post("/app/o/acme/settings/delete", data={"confirmation": "Acme"})
    assert wrong.status_code == 422 and "Type acme to confirm." in wrong.get_data(as_text=True)
    assert db.session.get(Organization, org.id) is not None
    org_id = org.id
    response = client.post("/app/o/acme/settings/delete", data={"confirmation": "acme"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/app/workspaces")
    assert "Workspace Acme was deleted." in client.get("/app/workspaces").get_data(as_text=True)
    assert db.session.get(Organization, org_id) is None
    assert client.get("/app/o/acme/").status_code == 404
    kept = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "org.deleted"))
    assert kept.org_id is None and kept.data["org"]["id"] == str(org_id)


def test_leave_confirm_page_then_leave(client, login, team):
    org, owner, admin, member = team
    login(member)
    page = client.get("/app/o/acme/leave")
    assert page.status_code == 200 and 'id="confirm_leave"' in page.get_data(as_text=True)
    response = client.post("/app/o/acme/leave")
    assert response.status_code == 303
    assert "You left Acme." in client.get(response.headers["Location"]).get_data(as_text=True)
    assert membership_of(org, member) is None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "member.removed"))
    assert event.data["reason"] == "left" and event.actor_label == member.email
    assert client.get("/app/o/acme/").status_code == 404


def test_last_owner_cannot_leave(client, login, team):
    org, owner, admin, member = team
    login(owner)
    page = client.get("/app/o/acme/leave").get_data(as_text=True)
    assert 'id="last_owner_notice"' in page and 'id="confirm_leave"' not in page
    response = client.post("/app/o/acme/leave")
    assert response.status_code == 422 and "You are the last owner of Acme" in response.get_data(as_text=True)
    assert membership_of(org, owner) is not None


def test_suspended_org_settings_are_read_only(client, login, team):
    org, owner, admin, member = team
    org.status = OrgStatus.suspended
    db.session.commit()
    login(owner)
    html = client.get("/app/o/acme/settings").get_data(as_text=True)
    assert "workspace is suspended" in html and 'id="settings_form"' not in html
    assert client.post("/app/o/acme/settings", data={"name": "X", "slug": "acme"}).status_code == 403
    assert client.post("/app/o/acme/leave").status_code == 403
