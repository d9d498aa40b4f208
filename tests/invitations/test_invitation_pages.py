"""The invitations page of an org: invite form, pending list, resend, revoke, invite link; HTMX and no-JS."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from extensions import db
from models import AuditEvent, Invitation, InviteLink, Role, utcnow

HX = {"HX-Request": "true"}


def hx(target):
    return {**HX, "HX-Target": target}


@pytest.fixture
def owner_client(acme, client, login):
    org, owner = acme
    login(owner)
    return client


def test_page_shows_form_roles_and_empty_state(owner_client, acme):
    page = owner_client.get("/app/o/acme/invitations")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="invite_form"' in html and "No pending invitations." in html
    assert 'value="owner"' in html  # owners may invite owners
    assert 'id="invite_link_status"' in html and "Nobody can join with a link." in html


def test_admin_sees_roles_without_owner(acme, make, client, login):
    org, _ = acme
    login(make.member(org, role=Role.admin))
    html = client.get("/app/o/acme/invitations").get_data(as_text=True)
    assert 'value="admin"' in html and 'value="owner"' not in html


@pytest.mark.parametrize("role", [Role.member, Role.viewer])
def test_members_and_viewers_get_403(acme, make, client, login, role):
    org, _ = acme
    login(make.member(org, role=role))
    assert client.get("/app/o/acme/invitations").status_code == 403
    assert client.post("/app/o/acme/invitations", data={"email": "x@example.com", "role": "member"}).status_code == 403
    assert Invitation.query.count() == 0


def test_invite_without_js_redirects_and_lists_the_invitation(owner_client):
    response = owner_client.post("/app/o/acme/invitations", data={"email": "grace@example.com", "role": "admin"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/app/o/acme/invitations")
    page = owner_client.get("/app/o/acme/invitations").get_data(as_text=True)
    assert "Invitation sent to grace@example.com." in page
    assert "grace@example.com" in page and "Ada Lovelace" in page
    invitation = Invitation.query.one()
    assert invitation.role == Role.admin and invitation.expires_at.strftime("%Y-%m-%d %H:%M") in page


def test_invite_with_htmx_returns_the_region_with_the_new_row(owner_client):
    response = owner_client.post("/app/o/acme/invitations", data={"email": "grace@example.com", "role": "member"},
                                 headers=hx("invitations_region"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="invitations_region">')
    assert "<html" not in html
    assert "grace@example.com" in html and "Invitation sent to grace@example.com." in html
    assert 'id="invite_email"' not in html or 'value="grace@example.com"' not in html  # a fresh form
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("data, message", [
    ({"email": "", "role": "member"}, "Enter the email address to invite."),
    ({"email": "nope", "role": "member"}, "That email address is not valid"),
    ({"email": "ada@example.com", "role": "member"}, "ada@example.com is already a member of Acme."),
    ({"email": "grace@example.com", "role": "emperor"}, "Choose a role."),
])
def test_invalid_invites_show_inline_errors_with_422(owner_client, data, message):
    for headers in ({}, hx("invitations_region")):
        response = owner_client.post("/app/o/acme/invitations", data=data, headers=headers)
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert 'class="field-error"' in html and message in html
    assert Invitation.query.count() == 0


def test_admin_inviting_an_owner_gets_an_inline_error(acme, make, client, login):
    org, _ = acme
    login(make.member(org, role=Role.admin))
    response = client.post("/app/o/acme/invitations", data={"email": "x@example.com", "role": "owner"})
    assert response.status_code == 422
    assert "Your role cannot invite someone as Owner." in response.get_data(as_text=True)
    assert Invitation.query.count() == 0


def test_inviting_a_pending_invitee_again_is_refused(owner_client, acme, invite):
    invite(*acme)
    response = owner_client.post("/app/o/acme/invitations", data={"email": "grace@example.com", "role": "member"})
    assert response.status_code == 422
    assert "grace@example.com already has a pending invitation" in response.get_data(as_text=True)
    assert Invitation.query.count() == 1


def test_resend_no_js_and_htmx(owner_client, acme, invite):
    invitation, _ = invite(*acme)
    url = f"/app/o/acme/invitations/{invitation.id}/resend"
    # Within the cool-down: refused with a message, nothing sent.
    response = owner_client.post(url, headers=hx("invitation_rows"))
    assert response.status_code == 422 and "Wait a minute" in response.get_data(as_text=True)
    invitation.last_sent_at = utcnow() - timedelta(minutes=2)
    db.session.commit()
    response = owner_client.post(url, headers=hx("invitation_rows"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="invitation_rows">') and "Invitation sent again to grace@example.com" in html
    invitation = db.session.get(Invitation, invitation.id)
    invitation.last_sent_at = utcnow() - timedelta(minutes=2)
    db.session.commit()
    response = owner_client.post(url)
    assert response.status_code == 303
    assert [e.action for e in AuditEvent.query.filter_by(action="invitation.resent")] == ["invitation.resent"] * 2


def test_revoke_asks_for_confirmation_without_js_then_revokes(owner_client, acme, invite):
    invitation, _ = invite(*acme)
    url = f"/app/o/acme/invitations/{invitation.id}/revoke"
    page = owner_client.get(url)
    assert page.status_code == 200
    assert 'id="revoke_confirm"' in page.get_data(as_text=True) and db.session.get(Invitation, invitation.id).is_pending
    response = owner_client.post(url)
    assert response.status_code == 303
    assert db.session.get(Invitation, invitation.id).revoked_at is not None
    page = owner_client.get("/app/o/acme/invitations").get_data(as_text=True)
    assert "Invitation for grace@example.com revoked." in page and "No pending invitations." in page


def test_list_offers_hx_confirm_for_revoke(owner_client, acme, invite):
    invitation, _ = invite(*acme)
    html = owner_client.get("/app/o/acme/invitations").get_data(as_text=True)
    assert f'hx-post="/app/o/acme/invitations/{invitation.id}/revoke"' in html
    assert 'hx-confirm="The invitation for grace@example.com stops working at once.' in html


def test_revoke_with_htmx_returns_the_rows(owner_client, acme, invite):
    invitation, _ = invite(*acme)
    response = owner_client.post(f"/app/o/acme/invitations/{invitation.id}/revoke", headers=hx("invitation_rows"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="invitation_rows">') and "No pending invitations." in html


def test_revoking_twice_is_harmless(owner_client, acme, invite):
    invitation, _ = invite(*acme)
    owner_client.post(f"/app/o/acme/invitations/{invitation.id}/revoke")
    response = owner_client.post(f"/app/o/acme/invitations/{invitation.id}/revoke")
    assert response.status_code == 303
    assert AuditEvent.query.filter_by(action="invitation.revoked").count() == 1


def test_other_orgs_invitation_ids_are_404(owner_client, make, invite):
    other_owner = make.user()
    other = make.org(owner=other_owner, slug="globex")
    invitation, _ = invite(other, other_owner)
    for method, suffix in (("post", "resend"), ("get", "revoke"), ("post", "revoke")):
        response = getattr(owner_client, method)(f"/app/o/acme/invitations/{invitation.id}/{suffix}")
        assert response.status_code == 404
    assert owner_client.post("/app/o/acme/invitations/not-a-uuid/revoke").status_code == 404
    assert db.session.get(Invitation, invitation.id).is_pending
    # And the other org's page is not reachable at all.
    assert owner_client.get("/app/o/globex/invitations").status_code == 404


def test_expired_invitations_are_marked_and_can_be_resent(owner_client, acme, invite):
    invitation, _ = invite(*acme)
    invitation.expires_at = utcnow() - timedelta(days=1)
    invitation.last_sent_at = utcnow() - timedelta(days=8)
    db.session.commit()
    html = owner_client.get("/app/o/acme/invitations").get_data(as_text=True)
    assert "Expired" in html
    assert owner_client.post(f"/app/o/acme/invitations/{invitation.id}/resend").status_code == 303
    assert db.session.get(Invitation, invitation.id).expires_at > utcnow() + timedelta(days=6)


def test_suspended_org_refuses_invites(owner_client, acme):
    from models import OrgStatus
    org, _ = acme
    org.status = OrgStatus.suspended
    db.session.commit()
    assert owner_client.get("/app/o/acme/invitations").status_code == 200
    assert owner_client.post("/app/o/acme/invitations", data={"email": "g@example.com", "role": "member"}).status_code == 403
    assert Invitation.query.count() == 0


# --- The invite link card ----------------------------------------------------------------------------

def test_enable_invite_link_without_js(owner_client):
    response = owner_client.post("/app/o/acme/invitations/link",
                                 data={"enabled": "y", "role": "viewer", "allowed_domains": "example.com\nacme.io"})
    assert response.status_code == 303
    link = InviteLink.query.one()
    assert link.enabled and link.role == Role.viewer and link.allowed_domains == ["example.com", "acme.io"]
    html = owner_client.get("/app/o/acme/invitations").get_data(as_text=True)
    assert "Invite link turned on." in html and 'id="invite_link_url"' in html and "http://localhost/join/" in html


def test_invite_link_errors_are_inline_and_htmx_gets_the_card(owner_client):
    response = owner_client.post("/app/o/acme/invitations/link", data={"enabled": "y", "role": "member", "allowed_domains": ""},
                                 headers=hx("invite_link_card"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div class="card" id="invite_link_card">')
    assert "List at least one email domain" in html
    response = owner_client.post("/app/o/acme/invitations/link", data={"enabled": "y", "role": "owner", "allowed_domains": "acme.io"})
    assert response.status_code == 422 and "cannot become owners" in response.get_data(as_text=True)
    assert InviteLink.query.count() == 0
    response = owner_client.post("/app/o/acme/invitations/link", data={"enabled": "y", "role": "member", "allowed_domains": "acme.io"},
                                 headers=hx("invite_link_card"))
    assert response.status_code == 200 and "Invite link turned on." in response.get_data(as_text=True)


def test_regenerate_invite_link_confirm_then_new_url(owner_client):
    assert owner_client.get("/app/o/acme/invitations/link/regenerate").status_code == 303  # nothing to regenerate yet
    owner_client.post("/app/o/acme/invitations/link", data={"enabled": "y", "role": "member", "allowed_domains": "acme.io"})
    before = InviteLink.query.one().nonce
    page = owner_client.get("/app/o/acme/invitations/link/regenerate")
    assert page.status_code == 200 and 'id="regenerate_confirm"' in page.get_data(as_text=True)
    assert InviteLink.query.one().nonce == before
    assert owner_client.post("/app/o/acme/invitations/link/regenerate").status_code == 303
    assert InviteLink.query.one().nonce != before
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "invite_link.updated").order_by(AuditEvent.created_at)).all()
    assert [e.data["regenerated"] for e in events] == [False, True]


def test_invitations_page_is_in_the_side_nav_for_admins_only(acme, make, client, login):
    org, owner = acme
    login(owner)
    assert 'href="/app/o/acme/invitations"' in client.get("/app/o/acme/").get_data(as_text=True)
    login(make.member(org, role=Role.member))
    assert 'href="/app/o/acme/invitations"' not in client.get("/app/o/acme/").get_data(as_text=True)
