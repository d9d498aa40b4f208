"""The public pages behind invitation links and the shareable invite link, end to end with real SMTP."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from extensions import db
from models import AuditEvent, Invitation, Membership, OutboundEmail, Role, User, utcnow
from tests.invitations.conftest import last_email_to, link_path_in
from tests import factories
from tests.tokens import tampered


def membership_of(org, user):
    return db.session.scalar(select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id))


def test_emailed_link_arrives_by_smtp_and_signing_up_from_it_joins(acme, client, app, smtp_server, run_jobs):
    org, owner = acme
    owner_client = app.test_client()
    with owner_client.session_transaction() as session:
        session["_user_id"] = factories.login_id(owner)
    response = owner_client.post("/app/o/acme/invitations", data={"email": "grace@example.com", "role": "admin"})
    assert response.status_code == 303

    run_jobs(["email"])
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "grace@example.com"
    assert message["Subject"] == "Ada Lovelace invited you to join Acme on Orgkit"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Acme" in text and "Role: Admin" in text and "Ada Lovelace" in text and "expires on" in text
    path = link_path_in(text)
    assert path in html

    # A second person, in another browser: the link shows a sign-up form locked to the invited address.
    page = client.get(path)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'id="invitation_signup_form"' in body
    assert 'value="grace@example.com" readonly' in body and "Ada Lovelace" in body and "Admin" in body
    # A different address sent in the form is ignored: the account is the invited address.
    response = client.post(f"{path}/signup", data={"name": "Grace Hopper", "password": "a long enough passphrase",
                                                  "email": "mallory@example.com"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/app/o/acme/")
    grace = User.by_email("grace@example.com")
    assert User.by_email("mallory@example.com") is None
    assert membership_of(org, grace).role == Role.admin
    overview = client.get("/app/o/acme/")
    assert overview.status_code == 200 and "Welcome to Acme" in overview.get_data(as_text=True)

    # The link worked once: anyone else opening it gets a clear 410.
    again = app.test_client().get(path)
    assert again.status_code == 410 and "already accepted" in again.get_data(as_text=True)
    assert app.test_client().post(f"{path}/signup", data={"name": "M", "password": "a long enough passphrase"}).status_code == 410


def test_accept_while_logged_in_as_the_invited_address(acme, invite, make, client, login):
    org, owner = acme
    _, path = invite(org, owner, role=Role.viewer)
    grace = make.user(email="grace@example.com")
    login(grace)
    page = client.get(path)
    assert page.status_code == 200 and 'id="accept_invitation"' in page.get_data(as_text=True)
    response = client.post(f"{path}/accept")
    assert response.status_code == 303 and response.headers["Location"].endswith("/app/o/acme/")
    assert membership_of(org, grace).role == Role.viewer
    assert client.post(f"{path}/accept").status_code == 410
    assert Membership.query.filter_by(org_id=org.id).count() == 2
    # Opening the used link again while a member just leads to the workspace.
    again = client.get(path)
    assert again.status_code == 302 and again.headers["Location"].endswith("/app/o/acme/")


def test_logged_in_as_someone_else_explains_and_offers_to_switch(acme, invite, make, client, login):
    org, owner = acme
    _, path = invite(org, owner)
    login(make.user(email="mallory@example.com"))
    page = client.get(path)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="wrong_account"' in body
    assert "This invitation is for <strong>grace@example.com</strong>" in body and "mallory@example.com" in body
    refused = client.post(f"{path}/accept")
    assert refused.status_code == 403 and "This invitation is for grace@example.com" in refused.get_data(as_text=True)
    assert Invitation.query.one().is_pending

    response = client.post(f"{path}/switch-account")
    assert response.status_code == 303 and response.headers["Location"].endswith(path)
    page = client.get(path)
    assert page.status_code == 200 and 'id="invitation_signup_form"' in page.get_data(as_text=True)


def test_existing_account_logs_in_then_accepts(acme, invite, make, client):
    org, owner = acme
    _, path = invite(org, owner)
    grace = make.user(email="grace@example.com")
    page = client.get(path)
    body = page.get_data(as_text=True)
    assert 'id="login_to_accept"' in body and "/login?next=" in body and path.rsplit("/", 1)[1] in body
    # Accepting while logged out goes to the login page and comes back.
    response = client.post(f"{path}/accept")
    assert response.status_code == 303 and "/login?next=" in response.headers["Location"]
    response = client.post(f"/login?next={path}", data={"email": "grace@example.com", "password": make.PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == path
    assert client.post(f"{path}/accept").status_code == 303
    assert membership_of(org, grace).role == Role.member


def test_sign_up_errors_are_inline_and_write_nothing(acme, invite, client):
    org, owner = acme
    _, path = invite(org, owner)
    response = client.post(f"{path}/signup", data={"name": "", "password": "password"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Enter your name." in body
    response = client.post(f"{path}/signup", data={"name": "Grace", "password": "password"})
    assert response.status_code == 422 and "commonly used passwords" in response.get_data(as_text=True)
    assert User.by_email("grace@example.com") is None and Invitation.query.one().is_pending


@pytest.mark.parametrize("mutate, status, text", [
    (lambda inv: setattr(inv, "expires_at", utcnow() - timedelta(minutes=1)), 410, "This invitation expired"),
    (lambda inv: setattr(inv, "revoked_at", utcnow()), 410, "was revoked"),
    (lambda inv: setattr(inv, "accepted_at", utcnow()), 410, "already accepted"),
])
def test_expired_revoked_and_used_links_get_a_clear_410(acme, invite, client, mutate, status, text):
    org, owner = acme
    invitation, path = invite(org, owner)
    mutate(invitation)
    db.session.commit()
    for response in (client.get(path), client.post(f"{path}/signup", data={"name": "G", "password": "a long enough passphrase"})):
        assert response.status_code == status
        assert text in response.get_data(as_text=True) and 'id="invitation_unavailable"' in response.get_data(as_text=True)
    assert User.by_email("grace@example.com") is None


@pytest.mark.parametrize("suffix", ["", "/accept", "/signup"])
def test_tampered_tokens_get_404_pages(acme, invite, client, make, login, suffix):
    org, owner = acme
    _, path = invite(org, owner)
    login(make.user(email="grace@example.com"))
    bad_path = tampered(path)
    response = client.get(bad_path) if not suffix else client.post(bad_path + suffix, data={"name": "x", "password": "y" * 12})
    assert response.status_code in (404, 303)  # logged-in sign-up goes back to the (404) invitation page
    if response.status_code == 303:
        response = client.get(response.headers["Location"])
    assert response.status_code == 404 and "Invitation not found" in response.get_data(as_text=True)
    assert client.get("/invitations/" + "x" * 500).status_code == 404
    assert Membership.query.filter_by(org_id=org.id).count() == 1


def test_resent_email_replaces_the_old_link(acme, invite, client, make, login):
    org, owner = acme
    invitation, old_path = invite(org, owner)
    invitation.last_sent_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    login(owner)
    client.post(f"/app/o/acme/invitations/{invitation.id}/resend")
    new_path = link_path_in(last_email_to("grace@example.com").text_body)
    assert client.get(old_path).status_code == 404
    login(make.user(email="grace@example.com"))
    assert client.get(new_path).status_code == 200


# --- The shareable invite link -----------------------------------------------------------------------

@pytest.fixture
def link_path(acme, client, login):
    org, owner = acme
    login(owner)
    client.post("/app/o/acme/invitations/link", data={"enabled": "y", "role": "member", "allowed_domains": "acme.io"})
    client.post("/logout")
    from services.invitations import get_invite_link, invite_link_token
    return "/join/" + invite_link_token(get_invite_link(org))


def test_join_link_accepts_only_listed_domains_then_email_then_signup(acme, link_path, client, app, smtp_server, run_jobs):
    org, _ = acme
    page = client.get(link_path)
    assert page.status_code == 200 and "acme.io" in page.get_data(as_text=True)
    refused = client.post(link_path, data={"email": "eve@example.com"})
    assert refused.status_code == 422 and "only accepts addresses at acme.io" in refused.get_data(as_text=True)
    assert OutboundEmail.query.count() == 0

    response = client.post(link_path, data={"email": "carol@acme.io"})
    assert response.status_code == 303
    assert "Check your inbox" in client.get(link_path).get_data(as_text=True)
    run_jobs(["email"])
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "carol@acme.io" and message["Subject"] == "Confirm your email to join Acme on Orgkit"
    path = link_path_in(message.get_body(("plain",)).get_content())

    other = app.test_client()
    response = other.post(f"{path}/signup", data={"name": "Carol", "password": "a long enough passphrase"})
    assert response.status_code == 303
    carol = User.by_email("carol@acme.io")
    assert membership_of(org, carol).role == Role.member
    assert AuditEvent.query.filter_by(action="invitation.created").one().actor_type == "invite_link"


def test_logged_in_member_opening_the_link_is_told_so(acme, link_path, client, login):
    org, owner = acme
    login(owner)
    page = client.get(link_path)
    assert page.status_code == 200 and 'id="already_member"' in page.get_data(as_text=True)


def test_logged_in_user_gets_the_address_prefilled(acme, link_path, client, make, login):
    login(make.user(email="dan@acme.io"))
    page = client.get(link_path)
    assert 'value="dan@acme.io"' in page.get_data(as_text=True)


def test_tampered_and_disabled_join_links(acme, link_path, client, login):
    org, owner = acme
    response = client.get(tampered(link_path))
    assert response.status_code == 404 and "not valid" in response.get_data(as_text=True)
    assert client.get("/join/garbage").status_code == 404
    login(owner)
    client.post("/app/o/acme/invitations/link", data={"role": "member", "allowed_domains": "acme.io"})
    response = client.get(link_path)
    assert response.status_code == 410 and "no longer works" in response.get_data(as_text=True)
    assert client.post(link_path, data={"email": "carol@acme.io"}).status_code == 410
    assert Invitation.query.count() == 0


def test_join_requests_are_rate_limited_per_ip(acme, link_path, client, app, monkeypatch):
    monkeypatch.setitem(app.config, "INVITE_LINK_RATE_LIMIT", "2 per hour")
    assert client.post(link_path, data={"email": "a@acme.io"}).status_code == 303
    assert client.post(link_path, data={"email": "b@acme.io"}).status_code == 303
    limited = client.post(link_path, data={"email": "c@acme.io"})
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert Invitation.query.count() == 2
