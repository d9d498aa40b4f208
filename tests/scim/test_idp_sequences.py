"""Request sequences Okta and Microsoft Entra ID send, replayed as they document them (Okta's SCIM 2.0
reference; Entra's "Tutorial: Develop and plan provisioning for a SCIM endpoint" request examples)."""
from sqlalchemy import select

from extensions import db
from models import AuditEvent, Invitation, Membership, Role, ScimGroup, User
from tests.scim.conftest import ENTERPRISE, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, assert_scim_error

OKTA_UA = {"User-Agent": "Okta SCIM Client 1.0.0"}


def test_okta_test_connection_create_update_deactivate_reactivate(scim):
    # Test API credentials: constant queries, 200 with empty lists.
    for path in ("/Users?startIndex=1&count=1", "/Groups?startIndex=1&count=100"):
        response = scim.get(path, headers=OKTA_UA)
        assert response.status_code == 200 and response.mimetype == "application/scim+json"
        assert response.get_json()["Resources"] == [] and response.get_json()["totalResults"] == 0
    # Import/assign: look the user up by userName first.
    lookup = scim.get('/Users?filter=userName%20eq%20%22isabella.m%40example.com%22&startIndex=1&count=100')
    assert lookup.get_json()["totalResults"] == 0
    created = scim.post("/Users", {
        "schemas": [USER_SCHEMA], "userName": "isabella.m@example.com",
        "name": {"givenName": "Isabella", "familyName": "Moreno"},
        "emails": [{"primary": True, "value": "isabella.m@example.com", "type": "work"}],
        "displayName": "Isabella Moreno", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [], "password": "1mz050nq", "active": True,
    }, headers=OKTA_UA)
    assert created.status_code == 201
    user = created.get_json()
    assert user["userName"] == "isabella.m@example.com" and "password" not in user
    assert created.headers["Location"].endswith(f"/scim/v2/Users/{user['id']}")
    account = User.by_email("isabella.m@example.com")
    membership = db.session.scalar(select(Membership).where(Membership.user_id == account.id))
    assert membership.org_id == scim.org.id and membership.role == Role.member and account.password_hash is None
    # Okta reads it back by id, then updates with PUT (profile push).
    assert scim.get(f"/Users/{user['id']}").get_json()["name"]["familyName"] == "Moreno"
    put_body = {**user, "name": {"givenName": "Isabella", "familyName": "Moreno-Diaz"}, "title": "CTO"}
    put = scim.put(f"/Users/{user['id']}", put_body, headers=OKTA_UA)
    assert put.status_code == 200 and put.get_json()["title"] == "CTO"
    # Deactivate: PATCH replace active false without a path.
    off = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"active": False}}], headers=OKTA_UA)
    assert off.status_code == 200 and off.get_json()["active"] is False
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).deactivated_at is not None
    # Still readable, and found by filter with active false.
    assert scim.get('/Users?filter=active eq false').get_json()["totalResults"] == 1
    on = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"active": True}}])
    assert on.get_json()["active"] is True
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).deactivated_at is None
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.org_id == scim.org.id)).all()
    for action in ("scim.user.created", "scim.user.updated", "scim.user.deactivated", "scim.user.reactivated", "member.added"):
        assert action in actions


def test_okta_group_push_membership_and_rename(scim):
    alice = scim.create_user("alice@example.com")
    bob = scim.create_user("bob@example.com")
    carol = scim.create_user("carol@example.com")
    group = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Test SCIMv2", "members": []}).get_json()
    # Okta's rename repeats the id in a path-less replace.
    renamed = scim.patch(f"/Groups/{group['id']}", [{"op": "replace", "value": {"id": group["id"], "displayName": "Engineering"}}])
    assert renamed.status_code == 200 and renamed.get_json()["displayName"] == "Engineering"
    add = scim.patch(f"/Groups/{group['id']}", [{"op": "add", "path": "members", "value": [
        {"value": alice["id"], "display": "alice@example.com"}, {"value": bob["id"], "display": "bob@example.com"},
        {"value": carol["id"], "display": "carol@example.com"}]}])
    assert {m["value"] for m in add.get_json()["members"]} == {alice["id"], bob["id"], carol["id"]}
    # Remove one by a value-filter path: the others stay.
    removed = scim.patch(f"/Groups/{group['id']}", [{"op": "remove", "path": f'members[value eq "{bob["id"]}"]'}])
    assert {m["value"] for m in removed.get_json()["members"]} == {alice["id"], carol["id"]}
    # Okta's group lookup by name.
    found = scim.get('/Groups?filter=displayName eq "engineering"&startIndex=1&count=100').get_json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == group["id"]
    assert scim.delete(f"/Groups/{group['id']}").status_code == 204
    assert scim.get(f"/Groups/{group['id']}").status_code == 404


def test_entra_test_connection_and_user_lifecycle(scim):
    # Test Connection: a filter on a random userName and on a group name, both 200 empty.
    probe = scim.get('/Users?filter=userName eq "non-existent user 7a1f4f44"')
    assert probe.status_code == 200 and probe.get_json()["totalResults"] == 0
    probe = scim.get('/Groups?excludedAttributes=members&filter=displayName eq "non-existent group"')
    assert probe.status_code == 200 and probe.get_json()["Resources"] == []
    created = scim.post("/Users", {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "userName": "Test_User_ab6490ee@testuser.com",
        "active": True, "displayName": "Test User",
        "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        ENTERPRISE: {"employeeNumber": "E42", "department": "Finance"},
    })
    assert created.status_code == 201
    user = created.get_json()
    assert user[ENTERPRISE]["department"] == "Finance" and ENTERPRISE in user["schemas"]
    # Entra looks users up by externalId and by userName (case-insensitively).
    assert scim.get('/Users?filter=externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"').get_json()["totalResults"] == 1
    assert scim.get('/Users?filter=userName eq "test_user_AB6490EE@testuser.com"').get_json()["totalResults"] == 1
    # Update: capitalised ops, a value-filter path, a dotted path, a URN path.
    patched = scim.patch(f"/Users/{user['id']}", [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "manager-id-1"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"},
    ])
    assert patched.status_code == 200, patched.get_json()
    body = patched.get_json()
    assert body["emails"] == [{"value": "updatedEmail@microsoft.com", "type": "work", "primary": True}]
    assert body["name"]["familyName"] == "updatedFamilyName"
    assert body["phoneNumbers"] == [{"value": "+1 555 0100", "type": "mobile"}]
    assert body[ENTERPRISE]["manager"]["value"] == "manager-id-1"
    # Disable with the string "False"; the user stays readable.
    off = scim.patch(f"/Users/{user['id']}", [{"op": "Replace", "path": "active", "value": "False"}])
    assert off.get_json()["active"] is False
    assert scim.get(f'/Users?filter=userName eq "{user["userName"]}"').get_json()["Resources"][0]["active"] is False
    on = scim.patch(f"/Users/{user['id']}", [{"op": "Replace", "path": "active", "value": "True"}])
    assert on.get_json()["active"] is True
    # Delete: 204, then 404. testuser.com is not a domain the org verified, so no account was ever made
    # for the address (docs/security.md 6.1): the invitation emailed for it is revoked.
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert_scim_error(scim.get(f"/Users/{user['id']}"), 404)
    assert User.by_email("test_user_fd0ea19b@testuser.com") is None
    invitation = db.session.scalar(select(Invitation).where(Invitation.email == "test_user_fd0ea19b@testuser.com"))
    assert invitation is not None and invitation.revoked_at is not None


def test_entra_group_membership_by_value_lists(scim):
    users = [scim.create_user(f"u{i}@example.com") for i in range(4)]
    group = scim.post("/Groups", {"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName",
                                  "members": [], "meta": {"resourceType": "Group"},
                                  "schemas": [GROUP_SCHEMA]}).get_json()
    # Entra's membership check.
    probe = scim.get(f'/Groups?filter=id eq "{group["id"]}" and members[value eq "{users[0]["id"]}"]&excludedAttributes=members')
    assert probe.get_json()["totalResults"] == 0
    scim.patch(f"/Groups/{group['id']}", [{"op": "Add", "path": "members", "value": [{"value": u["id"]} for u in users]}])
    probe = scim.get(f'/Groups?filter=id eq "{group["id"]}" and members[value eq "{users[0]["id"]}"]&excludedAttributes=members')
    assert probe.get_json()["totalResults"] == 1 and "members" not in probe.get_json()["Resources"][0]
    # Remove by a value list: only the named members go.
    scim.patch(f"/Groups/{group['id']}", [{"op": "Remove", "path": "members", "value": [{"value": users[1]["id"]}]}])
    members = {m["value"] for m in scim.get(f"/Groups/{group['id']}").get_json()["members"]}
    assert members == {users[0]["id"], users[2]["id"], users[3]["id"]}
    renamed = scim.patch(f"/Groups/{group['id']}", [{"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}])
    assert renamed.get_json()["displayName"].endswith("updatedDisplayName")
    assert len(renamed.get_json()["members"]) == 3


def test_mapped_group_gives_its_role_and_owner_is_never_changed(scim, make, client):
    from services.events import SYSTEM
    from services.scim import settings
    admin_user = scim.create_user("lead@example.com")
    owner = scim.create_user("owner@acme.example.com")  # links the existing owner
    group = scim.create_group("Admins", [admin_user["id"], owner["id"]])
    settings.map_group_role(scim.org, db.session.get(ScimGroup, __import__("uuid").UUID(group["id"])), "admin", SYSTEM)
    db.session.commit()
    roles = dict(db.session.execute(select(User.email, Membership.role).join(Membership, Membership.user_id == User.id)
                                    .where(Membership.org_id == scim.org.id)).all())
    assert roles["lead@example.com"] == Role.admin and roles["owner@acme.example.com"] == Role.owner
    scim.patch(f"/Groups/{group['id']}", [{"op": "remove", "path": f'members[value eq "{admin_user["id"]}"]'}])
    db.session.expire_all()
    roles = dict(db.session.execute(select(User.email, Membership.role).join(Membership, Membership.user_id == User.id)
                                    .where(Membership.org_id == scim.org.id)).all())
    assert roles["lead@example.com"] == Role.member
    assert "member.role_changed" in db.session.scalars(select(AuditEvent.action)).all()
