"""SCIM races and edge input (issue 15): concurrent creates end in one 201 and 409 uniqueness, every
attribute is checked against what stores it, read-only attributes are ignored, Entra's removal of a
deleted member is a no-op, malformed input is 400, Retry-After tells when a request will succeed, and
discovery says what the endpoints do."""
import json
import threading
import time

import httpx2
import pytest
from sqlalchemy import func, select

from extensions import db
from models import Invitation, Membership, ScimGroup, ScimUser, User
from tests.scim.conftest import ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA, assert_scim_error, scim_for

RACERS = 5


def user_body(user_name, email=None):
    email = email or user_name
    return {"schemas": [USER_SCHEMA], "userName": user_name, "active": True,
            "emails": [{"value": email, "type": "work", "primary": True}]}


def race(live_server, token, path, bodies):
    """Send the bodies at once from RACERS threads (on PostgreSQL; one after another on SQLite, whose
    writers are serialised by its file lock anyway). Returns the statuses and error bodies."""
    results = []
    concurrent = db.engine.dialect.name == "postgresql"
    barrier = threading.Barrier(len(bodies))

    def send(body):
        with httpx2.Client(base_url=f"{live_server.url}/scim/v2", timeout=30,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}) as http:
            if concurrent:
                barrier.wait()
            response = http.post(path, content=json.dumps(body))
            results.append((response.status_code, response.json()))

    if concurrent:
        threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    else:
        for body in bodies:
            send(body)
    return results


@pytest.fixture
def racing(live_server, client, make):
    org = make.org(owner=make.user(email="owner@race.example.com"), name="Race", slug="race")
    return live_server, scim_for(client, org)


def assert_one_created(results):
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (RACERS - 1), results
    for status, body in results:
        if status == 409:
            assert body["scimType"] == "uniqueness" and body["detail"], body


def test_concurrent_creates_with_one_user_name_end_in_one_201(racing):
    server, scim = racing
    assert_one_created(race(server, scim.token, "/Users", [user_body("same@example.com")] * RACERS))
    assert db.session.scalar(select(func.count(ScimUser.id)).where(ScimUser.org_id == scim.org.id)) == 1


def test_concurrent_creates_with_one_email_under_different_user_names_end_in_one_201(racing):
    server, scim = racing
    bodies = [user_body(f"handle{i}", "shared@example.com") for i in range(RACERS)]
    assert_one_created(race(server, scim.token, "/Users", bodies))
    assert db.session.scalar(select(func.count(ScimUser.id)).where(ScimUser.org_id == scim.org.id)) == 1


def test_concurrent_creates_for_an_existing_account_end_in_one_201(racing, make):
    server, scim = racing
    make.user(email="existing@example.com")
    bodies = [user_body(f"existing{i}", "existing@example.com") for i in range(RACERS)]
    assert_one_created(race(server, scim.token, "/Users", bodies))
    assert db.session.scalar(select(func.count(ScimUser.id)).where(ScimUser.org_id == scim.org.id)) == 1


def test_concurrent_group_creates_with_one_display_name_end_in_one_201(racing):
    server, scim = racing
    bodies = [{"schemas": [GROUP_SCHEMA], "displayName": "Engineering", "members": []}] * RACERS
    assert_one_created(race(server, scim.token, "/Groups", bodies))
    assert db.session.scalar(select(func.count(ScimGroup.id)).where(ScimGroup.org_id == scim.org.id)) == 1


# --- Lengths -----------------------------------------------------------------------------------------

TOO_LONG = [
    ({"displayName": "d" * 255}, "displayName"),
    ({"locale": "l" * 100}, "locale"),
    ({"timezone": "t" * 65}, "timezone"),
    ({"name": {"givenName": "g" * 255}}, "name.givenName"),
    ({"name": {"honorificPrefix": "p" * 65}}, "name.honorificPrefix"),
    ({"externalId": "e" * 255}, "externalId"),
    ({ENTERPRISE: {"department": "x" * 255}}, f"{ENTERPRISE}:department"),
    ({ENTERPRISE: {"manager": {"value": "m" * 255}}}, f"{ENTERPRISE}:manager.value"),
    ({"emails": [{"value": "long@example.com", "type": "w" * 65}]}, "emails.type"),
    ({"emails": [{"value": "long@example.com", "display": "d" * 255}]}, "emails.display"),
    ({"phoneNumbers": [{"value": "1" * 1025}]}, "phoneNumbers.value"),
    ({"userName": "u" * 250 + "@example.com"}, "userName"),
]


def test_a_managed_account_takes_its_new_name_by_the_account_pages_rules(scim):
    """A name arriving by SCIM after the create meets the same rules as one typed on the account page
    (services/names.py): no line breaks or control characters; the change is refused whole."""
    user = scim.create_user("named@example.com", displayName="Ada Lovelace")
    account = User.by_email("named@example.com")
    assert account.managed_by_org_id == scim.org.id and account.name == "Ada Lovelace"
    error = assert_scim_error(scim.patch(f"/Users/{user['id']}", [
        {"op": "replace", "path": "displayName", "value": "Ada\nAdmin: approved"}]), 400, "invalidValue")
    assert "displayName" in error["detail"] and "line break" in error["detail"]
    db.session.expire_all()
    assert User.by_email("named@example.com").name == "Ada Lovelace"
    assert scim.get(f"/Users/{user['id']}").get_json()["displayName"] == "Ada Lovelace"
    assert scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "displayName", "value": "  Ada King  "}]).status_code == 200
    db.session.expire_all()
    assert User.by_email("named@example.com").name == "Ada King"


def test_every_attribute_is_checked_against_what_stores_it(scim):
    for attributes, named in TOO_LONG:
        body = {**user_body("long@example.com"), **attributes}
        if ENTERPRISE in attributes:
            body["schemas"] = [USER_SCHEMA, ENTERPRISE]
        error = assert_scim_error(scim.post("/Users", body), 400, "invalidValue")
        assert f"'{named}'" in error["detail"], (named, error)
    assert db.session.scalar(select(func.count(ScimUser.id))) == 0
    user = scim.create_user("fits@example.com", displayName="d" * 254, locale="l" * 64)
    error = assert_scim_error(scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "title", "value": "t" * 255}]),
                              400, "invalidValue")
    assert "'title'" in error["detail"]
    assert_scim_error(scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "g" * 255}), 400, "invalidValue")
    group = scim.create_group("Fits")
    error = assert_scim_error(scim.patch(f"/Groups/{group['id']}", [{"op": "replace", "path": "externalId", "value": "e" * 255}]),
                              400, "invalidValue")
    assert "'externalId'" in error["detail"]


# --- Read-only attributes ----------------------------------------------------------------------------

def test_read_only_attributes_sent_by_a_client_are_ignored(scim):
    manager = scim.create_user("boss@example.com")
    body = {**user_body("report@example.com"), "schemas": [USER_SCHEMA, ENTERPRISE],
            "groups": [{"value": "x", "display": "Made up"}],
            ENTERPRISE: {"manager": {"value": manager["id"], "displayName": "The Boss"}}}
    created = scim.post("/Users", body)
    assert created.status_code == 201, created.get_json()
    user = created.get_json()
    assert user[ENTERPRISE]["manager"]["value"] == manager["id"] and "groups" not in user
    # PUT (RFC 7644 section 3.5.1) and PATCH (section 3.5.2), with and without a path.
    put = scim.put(f"/Users/{user['id']}", {**body, "title": "Engineer", "meta": {"created": "1999-01-01T00:00:00Z"}})
    assert put.status_code == 200 and put.get_json()["title"] == "Engineer"
    for operation in (
        {"op": "replace", "path": f"{ENTERPRISE}:manager.displayName", "value": "Ignored"},
        {"op": "replace", "path": "groups", "value": [{"value": "x"}]},
        {"op": "replace", "path": "meta.created", "value": "1999-01-01T00:00:00Z"},
        {"op": "replace", "value": {ENTERPRISE: {"manager": {"value": manager["id"], "displayName": "Ignored"}}, "nickName": "Rep"}},
    ):
        response = scim.patch(f"/Users/{user['id']}", [operation])
        assert response.status_code == 200, (operation, response.get_json())
    final = scim.get(f"/Users/{user['id']}").get_json()
    assert final["nickName"] == "Rep" and final["meta"]["created"] == user["meta"]["created"]
    assert "displayName" not in final[ENTERPRISE]["manager"]


def test_changing_id_is_a_mutability_error_and_repeating_it_is_not(scim):
    user = scim.create_user("ident@example.com")
    for operation in ({"op": "replace", "path": "id", "value": "other"},
                      {"op": "replace", "value": {"id": "other"}}):
        assert_scim_error(scim.patch(f"/Users/{user['id']}", [operation]), 400, "mutability")
    same = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"id": user["id"], "title": "Same id"}}])
    assert same.status_code == 200 and same.get_json()["title"] == "Same id"


# --- Group members -----------------------------------------------------------------------------------

def test_removing_a_member_that_no_longer_exists_is_a_no_op_and_the_rest_applies(scim):
    kept = scim.create_user("kept@example.com")
    gone = scim.create_user("gone@example.com")
    group = scim.create_group("Team", [kept["id"], gone["id"]])
    assert scim.delete(f"/Users/{gone['id']}").status_code == 204
    # What Entra ID sends after deleting a user: remove the member by id, next to other changes.
    response = scim.patch(f"/Groups/{group['id']}", [
        {"op": "Remove", "path": "members", "value": [{"value": gone["id"]}, {"value": "not-even-a-uuid"}]},
        {"op": "Replace", "path": "displayName", "value": "Team renamed"},
    ])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["displayName"] == "Team renamed" and [m["value"] for m in body["members"]] == [kept["id"]]
    # Adding an unknown id is still refused.
    assert_scim_error(scim.patch(f"/Groups/{group['id']}", [{"op": "add", "path": "members", "value": [{"value": gone["id"]}]}]),
                      400, "invalidValue")


# --- Malformed input ---------------------------------------------------------------------------------

def test_deep_nesting_nul_and_huge_start_index_are_400(scim):
    deep = "[" * 100_000 + "]" * 100_000
    assert_scim_error(scim.request("POST", "/Users", raw=deep), 400, "invalidSyntax")
    nested = {"userName": "deep@example.com", "name": {"givenName": "x"}}
    for _ in range(40):
        nested = {"value": nested}
    assert_scim_error(scim.post("/Users", {**user_body("deep@example.com"), "addresses": [nested]}), 400, "invalidSyntax")
    error = assert_scim_error(scim.post("/Users", user_body("nul\u0000@example.com")), 400, "invalidValue")
    assert "NUL" in error["detail"]
    assert_scim_error(scim.request("POST", "/Users", raw=json.dumps(user_body("key@example.com")).replace('"active"', '"act\\u0000ive"')),
                      400, "invalidValue")
    # A lone surrogate escape decodes to text no database or log line can encode (found by the property test).
    error = assert_scim_error(scim.request("POST", "/Users", raw='{"userName": "\\ud800"}'), 400, "invalidValue")
    assert "surrogate" in error["detail"]
    assert_scim_error(scim.get("/Users?startIndex=99999999999999999999"), 400, "invalidValue")
    assert_scim_error(scim.post("/Users/.search", {"startIndex": 10**20}), 400, "invalidValue")
    assert_scim_error(scim.post("/Users/.search", {"attributes": [1, 2]}), 400, "invalidValue")
    assert_scim_error(scim.post("/Users/.search", {"schemas": False}), 400, "invalidValue")  # found by the property test
    assert scim.get("/Users?startIndex=2147483647").status_code == 200
    assert User.by_email("deep@example.com") is None


# --- Rate limit --------------------------------------------------------------------------------------

def test_retry_after_says_when_a_request_will_succeed(scim, app, monkeypatch):
    monkeypatch.setitem(app.config, "SCIM_RATE_LIMIT", "3 per 2 seconds")
    time.sleep(2 - time.time() % 2 + 0.01)   # start with a fresh window (windows are calendar-aligned)
    statuses = [scim.get("/ServiceProviderConfig").status_code for _ in range(3)]
    assert statuses == [200] * 3
    limited = scim.get("/ServiceProviderConfig")
    assert_scim_error(limited, 429)
    wait = int(limited.headers["Retry-After"])
    assert 1 <= wait <= 2  # within the 2-second window, not the 60 s default
    time.sleep(wait)
    assert scim.get("/ServiceProviderConfig").status_code == 200


# --- Discovery matches behaviour ---------------------------------------------------------------------

def test_discovery_says_what_the_endpoints_do(scim, client):
    schemas = {doc["id"]: doc for doc in scim.get("/Schemas").get_json()["Resources"]}
    user_attributes = {a["name"]: a for a in schemas[USER_SCHEMA]["attributes"]}
    required = {name for name, a in user_attributes.items() if a["required"]}
    assert required == {"userName"}
    # So a create without any address succeeds, as published: the IdP's record alone, joining no one.
    bare = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "handle-only", "active": True})
    assert bare.status_code == 201 and "emails" not in bare.get_json()
    # Once an address arrives, the person is provisioned as a create would (here: an invitation).
    assert scim.patch(f"/Users/{bare.get_json()['id']}", [
        {"op": "add", "path": "emails", "value": [{"value": "handle@unverified.example.net"}]}]).status_code == 200
    assert db.session.scalar(select(Invitation.id).where(Invitation.email == "handle@unverified.example.net")) is not None
    # members.display is accepted (IdPs send it) but neither published nor returned: Orgkit keeps ids only.
    members = {s["name"] for s in next(a for a in schemas[GROUP_SCHEMA]["attributes"] if a["name"] == "members")["subAttributes"]}
    assert members == {"value", "$ref"}
    member = scim.create_user("member@example.com", displayName="Mem Ber")
    group = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Shown",
                                  "members": [{"value": member["id"], "display": "Mem Ber", "type": "User"}]})
    assert group.status_code == 201 and set(group.get_json()["members"][0]) == members
    # manager.displayName is readOnly and never returned, as published.
    manager = next(a for a in schemas[ENTERPRISE]["attributes"] if a["name"] == "manager")
    shown = {s["name"]: s for s in manager["subAttributes"]}
    assert shown["displayName"]["mutability"] == "readOnly" and shown["displayName"]["returned"] == "never"
    # documentationUri is a public page: no sign-in needed.
    uri = scim.get("/ServiceProviderConfig").get_json()["documentationUri"]
    assert uri.endswith("/docs/scim")
    page = client.get("/docs/scim")
    assert page.status_code == 200 and b'id="scim_docs_base_url"' in page.data


def test_an_account_row_is_never_left_behind_by_a_refused_create(scim):
    """A create refused after the account was found or made writes nothing at all."""
    assert_scim_error(scim.post("/Users", {**user_body("half@example.com"), "locale": "x" * 100}), 400, "invalidValue")
    assert User.by_email("half@example.com") is None
    assert db.session.scalar(select(func.count(Membership.id)).where(Membership.org_id == scim.org.id)) == 1


def test_removing_active_leaves_it_unassigned_which_counts_as_true(scim):
    """active is not required (as /Schemas says), so a PATCH may remove it (RFC 7644 section 3.5.2.2)."""
    user = scim.create_user("unassigned@example.com")
    scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": False}])
    removed = scim.patch(f"/Users/{user['id']}", [{"op": "remove", "path": "active"}])
    assert removed.status_code == 200 and "active" not in removed.get_json()
    assert "active" not in scim.get(f"/Users/{user['id']}").get_json()
    account = User.by_email("unassigned@example.com")
    membership = db.session.scalar(select(Membership).where(Membership.user_id == account.id))
    assert membership.deactivated_at is None  # unassigned counts as true: access is back
    assert scim.get('/Users?filter=active pr').get_json()["totalResults"] == 0
    again = scim.patch(f"/Users/{user['id']}", [{"op": "add", "path": "active", "value": True}])
    assert again.get_json()["active"] is True
