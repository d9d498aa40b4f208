"""Issue 13, SCIM: an org's SCIM token reaches only that org, owners are out of its reach, and its
tokens follow their creator. Each numbered item of the issue is reproduced and shown refused."""
import uuid

from sqlalchemy import select

from extensions import db
from models import Membership, Role, ScimGroup, User
from services.events import SYSTEM
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
