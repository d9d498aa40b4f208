"""Issue 13, SCIM: an org's SCIM token reaches only that org, owners are out of its reach, and its
tokens follow their creator. Each numbered item of the issue is reproduced and shown refused."""
import re
import uuid

import pytest
from sqlalchemy import select

from extensions import db
from models import Membership, OutboundEmail, Role, ScimGroup, ScimToken, ScimUser, User
from services import orgs
from services.events import SYSTEM, Actor
from services.scim import settings
from tests import factories
from tests.scim.conftest import USER_SCHEMA, assert_scim_error


def signed_in(app, account):
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = factories.login_id(account)
        session["_fresh"] = True
    return browser


# --- Item 3: an admin locks out a co-owner -----------------------------------------------------------

def test_scim_never_deactivates_removes_or_re_roles_an_owner(scim, make, app):
    account = make.member(scim.org, Role.owner, email="co.owner@acme.example.com")
    browser = signed_in(app, account)
    assert browser.get(f"/app/o/{scim.org.slug}/").status_code == 200
    linked = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "co.owner@acme.example.com",
                                  "emails": [{"value": "co.owner@acme.example.com", "primary": True}]})
    assert linked.status_code == 201
    user = linked.get_json()
    for response in (
        scim.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"active": False}}]),
        scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": "False"}]),
        scim.put(f"/Users/{user['id']}", {**user, "active": False}),
        scim.delete(f"/Users/{user['id']}"),
    ):
        error = assert_scim_error(response, 403)
        assert "owner" in error["detail"] and "out of reach" in error["detail"]
    # A group mapped to a role never re-roles the owner either.
    group = scim.create_group("Admins", [user["id"]])
    settings.map_group_role(scim.org, db.session.get(ScimGroup, uuid.UUID(group["id"])), "viewer", SYSTEM)
    db.session.commit()
    db.session.expire_all()
    membership = db.session.scalar(select(Membership).where(Membership.user_id == account.id))
    assert membership.role == Role.owner and membership.deactivated_at is None
    assert scim.get(f"/Users/{user['id']}").get_json()["active"] is True
    # Their session was never touched.
    assert browser.get(f"/app/o/{scim.org.slug}/").status_code == 200


# --- Item 4: a removed admin comes back --------------------------------------------------------------

def owner_token(client, login, make, org, email):
    """A co-owner signs in and generates a SCIM token on the settings page; returns (account, token)."""
    account = make.member(org, Role.owner, email=email)
    login(account)
    page = client.post(f"/app/o/{org.slug}/settings/scim/tokens").get_data(as_text=True)
    return account, page.split('<code id="new_token">')[1].split("</code>")[0]


def membership_of(org, account):
    return db.session.scalar(select(Membership).where(Membership.org_id == org.id, Membership.user_id == account.id))


@pytest.mark.parametrize("how", ["removed", "left", "demoted"])
def test_a_scim_token_stops_when_its_creator_can_no_longer_manage_scim(scim, client, login, make, how):
    creator, token = owner_token(client, login, make, scim.org, "token.maker@acme.example.com")
    assert scim.get("/Users", token=token).status_code == 200
    owner = db.session.scalar(select(User).where(User.email == "owner@acme.example.com"))
    membership = membership_of(scim.org, creator)
    if how == "removed":
        orgs.remove_member(scim.org, membership, Actor.for_user(owner), acting_role=Role.owner)
    elif how == "left":
        orgs.leave_org(scim.org, membership, Actor.for_user(creator))
    else:
        orgs.change_role(scim.org, membership, Role.admin, Actor.for_user(owner), acting_role=Role.owner)
    db.session.commit()
    # The old token no longer works: the removed person cannot re-create themself or join an admin group.
    assert_scim_error(scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": creator.email,
                                           "emails": [{"value": creator.email}]}, token=token), 401)
    row = db.session.scalar(select(ScimToken).where(ScimToken.created_by_id == creator.id))
    expected = {"removed": "creator_removed", "left": "creator_removed", "demoted": "creator_lost_permission"}[how]
    assert row.revoked_at is not None and row.revoked_reason == expected
    # Every owner gets the security notice.
    notices = db.session.scalars(select(OutboundEmail.to_address).where(OutboundEmail.subject.contains("SCIM token of"))).all()
    assert "owner@acme.example.com" in notices, notices
    # The SCIM page says why and what to do (another token of the fixture is still live there).
    settings.revoke_token(scim.org, settings.live_tokens(scim.org.id)[0], SYSTEM)
    db.session.commit()
    login(owner)
    page = client.get(f"/app/o/{scim.org.slug}/settings/scim").get_data(as_text=True)
    assert 'id="scim_token_stopped"' in page and "token.maker@acme.example.com" in page and "Generate a new token" in page


def test_a_token_whose_creator_is_deactivated_everywhere_fails_at_once(scim, client, login, make):
    creator, token = owner_token(client, login, make, scim.org, "gone.everywhere@acme.example.com")
    creator.is_deactivated = True
    db.session.commit()
    assert_scim_error(scim.get("/Users", token=token), 401)


def test_tokens_made_before_creators_were_recorded_keep_working(scim):
    """The migration leaves created_by_id NULL on existing tokens: no IdP is cut off by the upgrade."""
    assert settings.live_tokens(scim.org.id)[0].created_by_id is None
    assert scim.get("/Users").status_code == 200


# --- SCIM settings are owner-only --------------------------------------------------------------------

def test_admins_see_the_scim_page_read_only(scim, client, login, make):
    admin = make.member(scim.org, Role.admin, email="admin@acme.example.com")
    login(admin)
    page = client.get(f"/app/o/{scim.org.slug}/settings/scim")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="scim_read_only"' in html
    assert 'id="generate_token"' not in html and 'id="scim_toggle"' not in html and 'id="default_role_form"' not in html
    token_id = settings.live_tokens(scim.org.id)[0].id
    for path in ("enabled", "tokens", "default-role", f"tokens/{token_id}/revoke"):
        assert client.post(f"/app/o/{scim.org.slug}/settings/scim/{path}", data={"enabled": "off"}).status_code == 403
    assert client.get(f"/app/o/{scim.org.slug}/settings/scim/tokens/{token_id}/revoke").status_code == 403
    db.session.expire_all()
    assert settings.live_tokens(scim.org.id) and scim.get("/Users").status_code == 200


# --- Item 2: anyone signs anyone out, anywhere -------------------------------------------------------

def invitation_token(email):
    body = db.session.scalars(select(OutboundEmail.text_body).where(OutboundEmail.to_address == email)
                              .order_by(OutboundEmail.created_at.desc())).first()
    assert body is not None, f"no email to {email}"
    return re.search(r"/invitations/([A-Za-z0-9_-]+)", body).group(1)


def test_scim_of_another_org_never_touches_a_persons_own_account(scim, make, app):
    """A fresh sign-up's org turns SCIM on and names the victim's email with active false."""
    victim = make.user(email="victim@elsewhere.example.org", name="Vic Tim")
    their_org = make.org(owner=victim, name="Victim Co", slug="victim-co")
    browser = signed_in(app, victim)
    assert browser.get(f"/app/o/{their_org.slug}/").status_code == 200
    for _ in range(3):
        created = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "victim@elsewhere.example.org",
                                       "displayName": "Renamed By Attacker", "active": False,
                                       "emails": [{"value": "victim@elsewhere.example.org", "primary": True}]})
        assert created.status_code == 201 and created.get_json()["active"] is False
        user = created.get_json()
        assert scim.put(f"/Users/{user['id']}", {**user, "displayName": "Again", "active": False}).status_code == 200
        assert scim.delete(f"/Users/{user['id']}").status_code == 204
    db.session.expire_all()
    account = db.session.get(User, victim.id)
    assert account.name == "Vic Tim" and account.managed_by_org_id is None
    assert membership_of(scim.org, account) is None
    # Their sessions everywhere were never touched, and nothing was written to their org.
    assert browser.get(f"/app/o/{their_org.slug}/").status_code == 200
    from models import AuditEvent
    assert db.session.scalars(select(AuditEvent.action).where(AuditEvent.org_id == their_org.id,
                                                              AuditEvent.action.like("scim.%"))).all() == []


def test_an_existing_account_joins_only_by_accepting_the_invitation(scim, make, client, login):
    person = make.user(email="own.account@elsewhere.example.org", name="Own Account")
    created = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "own.account@elsewhere.example.org",
                                   "title": "Engineer", "emails": [{"value": "own.account@elsewhere.example.org"}]})
    assert created.status_code == 201
    user = created.get_json()
    group = scim.create_group("Viewers", [user["id"]])
    settings.map_group_role(scim.org, db.session.get(ScimGroup, uuid.UUID(group["id"])), "viewer", SYSTEM)
    db.session.commit()
    # Until they accept, SCIM sees and edits only its own record.
    assert scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "displayName", "value": "IdP Name"}]).status_code == 200
    assert membership_of(scim.org, person) is None and db.session.get(User, person.id).name == "Own Account"
    token = invitation_token("own.account@elsewhere.example.org")
    login(person)
    assert client.post(f"/invitations/{token}/accept").status_code in (302, 303)
    db.session.expire_all()
    membership = membership_of(scim.org, person)
    assert membership is not None and membership.role == Role.viewer
    row = db.session.get(ScimUser, uuid.UUID(user["id"]))
    assert row.membership_id == membership.id and row.user_id == person.id
    # Linked now, SCIM changes this org's membership only: deactivation suspends it, nothing more.
    epoch = db.session.get(User, person.id).session_epoch
    assert scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": False}]).status_code == 200
    db.session.expire_all()
    assert membership_of(scim.org, person).deactivated_at is not None
    account = db.session.get(User, person.id)
    assert account.session_epoch == epoch and account.name == "Own Account"


def test_unregistered_addresses_on_unverified_domains_stay_with_their_owner(scim, client):
    created = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "newcomer@unverified.example.net",
                                   "emails": [{"value": "newcomer@unverified.example.net"}]})
    assert created.status_code == 201
    assert User.by_email("newcomer@unverified.example.net") is None
    # The address's owner can still sign up, and joins by following the invitation.
    token = invitation_token("newcomer@unverified.example.net")
    signup = client.post(f"/invitations/{token}/signup", data={"name": "New Comer", "password": "a long enough passphrase 42"})
    assert signup.status_code in (302, 303), signup.get_data(as_text=True)[:500]
    account = User.by_email("newcomer@unverified.example.net")
    assert account is not None and account.managed_by_org_id is None and account.name == "New Comer"
    assert membership_of(scim.org, account) is not None
    assert db.session.get(ScimUser, uuid.UUID(created.get_json()["id"])).user_id == account.id


def test_on_a_verified_domain_scim_creates_a_managed_account_it_may_rename_and_sign_out(scim, make, app):
    created = scim.create_user("managed@example.com", displayName="Man Aged")
    account = User.by_email("managed@example.com")
    assert account.managed_by_org_id == scim.org.id and account.name == "Man Aged"
    other_org = make.org(name="Other", slug="other")
    make.member(other_org, Role.member, user_=account)
    browser = signed_in(app, account)
    assert browser.get(f"/app/o/{other_org.slug}/").status_code == 200
    assert scim.patch(f"/Users/{created['id']}", [
        {"op": "replace", "path": "displayName", "value": "Renamed Managed"},
        {"op": "replace", "path": "emails", "value": [{"value": "renamed@example.com", "primary": True}]},
    ]).status_code == 200
    db.session.expire_all()
    account = db.session.get(User, account.id)
    assert account.name == "Renamed Managed" and account.email == "renamed@example.com"
    # An address off the org's verified domains changes the SCIM record only: the account keeps its own.
    assert scim.patch(f"/Users/{created['id']}", [
        {"op": "replace", "path": "emails", "value": [{"value": "away@unverified.example.net", "primary": True}]}]).status_code == 200
    db.session.expire_all()
    assert db.session.get(User, account.id).email == "renamed@example.com"
    assert scim.patch(f"/Users/{created['id']}", [{"op": "replace", "path": "active", "value": False}]).status_code == 200
    assert browser.get(f"/app/o/{other_org.slug}/").status_code == 302  # signed out everywhere
