"""Issue 13, SCIM: an org's SCIM token reaches only that org, owners are out of its reach, and its
tokens follow their creator. Each numbered item of the issue is reproduced and shown refused."""
import uuid

import pytest
from sqlalchemy import select

from extensions import db
from models import Membership, OutboundEmail, Role, ScimGroup, ScimToken, User
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
