import time
"""The /scim/v2 protocol: filters (every operator, in SQL), paging, projection, PATCH semantics, ETags,
errors, rate limit, tenant isolation and what deactivation does to a signed-in person."""
from urllib.parse import quote

import pytest
from sqlalchemy import event, select

from extensions import db
from models import ScimRequestLog, ScimUser, User
from services.scim import settings
from services.events import SYSTEM
from tests.scim.conftest import ENTERPRISE, USER_SCHEMA, assert_scim_error
from tests import factories


def names(response):
    assert response.status_code == 200, response.get_json()
    return sorted(r["userName"] for r in response.get_json()["Resources"])


@pytest.fixture
def people(scim):
    scim.create_user("ada@example.com", title="Engineer", displayName="Ada Lovelace", externalId="ext-ADA",
                     emails=[{"value": "ada@example.com", "type": "work", "primary": True},
                             {"value": "ada@home.example.org", "type": "home"}],
                     **{ENTERPRISE: {"department": "R&D", "employeeNumber": "100"}})
    scim.create_user("bob@example.com", title="Manager", displayName="Bob Builder", externalId="ext-bob",
                     **{ENTERPRISE: {"department": "Sales", "employeeNumber": "200"}})
    carol = scim.create_user("carol@example.org", displayName="Carol 100% Sure_")
    scim.patch(f"/Users/{carol['id']}", [{"op": "replace", "path": "active", "value": False}])
    return scim


FILTER_CASES = [
    ('userName eq "ADA@example.com"', ["ada@example.com"]),
    ('USERNAME Eq "ada@example.com"', ["ada@example.com"]),
    ('userName ne "ada@example.com"', ["bob@example.com", "carol@example.org"]),
    ('userName co "EXAMPLE.ORG"', ["carol@example.org"]),
    ('userName sw "b"', ["bob@example.com"]),
    ('userName ew ".com"', ["ada@example.com", "bob@example.com"]),
    ('title pr', ["ada@example.com", "bob@example.com"]),
    ('userName gt "b"', ["bob@example.com", "carol@example.org"]),
    ('userName ge "bob@example.com"', ["bob@example.com", "carol@example.org"]),
    ('userName lt "b"', ["ada@example.com"]),
    ('userName le "bob@example.com"', ["ada@example.com", "bob@example.com"]),
    ('title eq "engineer" and active eq true', ["ada@example.com"]),
    ('title eq "manager" or userName sw "carol"', ["bob@example.com", "carol@example.org"]),
    # and binds tighter than or (RFC 7644 section 3.4.2.2)
    ('userName sw "carol" or title eq "engineer" and active eq false', ["carol@example.org"]),
    ('(userName sw "carol" or title eq "engineer") and active eq true', ["ada@example.com"]),
    ('not (title pr)', ["carol@example.org"]),
    ('active eq false', ["carol@example.org"]),
    ('emails[type eq "home" and value co "@home"]', ["ada@example.com"]),
    ('emails[type eq "work"].value eq "bob@example.com"', ["bob@example.com"]),
    ('emails.value ew "example.org"', ["ada@example.com", "carol@example.org"]),
    ('emails co "home.example"', ["ada@example.com"]),
    ('not (emails[type eq "home"])', ["bob@example.com", "carol@example.org"]),
    ('externalId eq "ext-ADA"', ["ada@example.com"]),
    ('externalId eq "ext-ada"', []),  # externalId is caseExact
    (f'{ENTERPRISE}:department eq "sales"', ["bob@example.com"]),
    (f'{ENTERPRISE}:employeeNumber lt "150"', ["ada@example.com"]),
    ('name.familyName eq "user"', ["ada@example.com", "bob@example.com", "carol@example.org"]),
    ('meta.created gt "2000-01-01T00:00:00Z"', ["ada@example.com", "bob@example.com", "carol@example.org"]),
    ('meta.lastModified lt "2000-01-01T00:00:00Z"', []),
    ('displayName co "100%"', ["carol@example.org"]),  # LIKE wildcards are escaped
    ('displayName ew "_"', ["carol@example.org"]),
    ('userName eq "nobody@example.com"', []),
]


def test_filter_operators(people):
    """Every operator and combination (one set-up, many filters: each case is named when it fails)."""
    for expression, expected in FILTER_CASES:
        assert names(people.get("/Users?filter=" + quote(expression))) == expected, expression


def test_filters_run_in_sql_without_loading_the_org(people):
    """Whatever the filter, one page query returns only matching rows: the SELECT carries the WHERE."""
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        people.get("/Users?filter=" + quote('emails[type eq "home"]'))
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    page_queries = [s for s in statements if "FROM scim_users" in s and "LIMIT" in s.upper()]
    assert page_queries and all("EXISTS" in s.upper() for s in page_queries)


def test_invalid_filters_are_400_invalid_filter(scim):
    for expression in ['userName eq', 'userName xx "a"', 'unknownAttr eq "x"', 'active gt true', 'active co "t"',
                       'emails[type eq "work"', 'meta.created gt "yesterday"', 'urn:example:other:attr eq "x"',
                       'id sw "a"', 'emails[value eq "a"].nope eq "b"']:
        assert_scim_error(scim.get("/Users?filter=" + quote(expression)), 400, "invalidFilter")


def test_paging_is_stable_and_count_is_capped(scim):
    for i in range(7):
        scim.create_user(f"page{i}@example.com")
    first = scim.get("/Users?startIndex=1&count=3").get_json()
    second = scim.get("/Users?startIndex=4&count=3").get_json()
    last = scim.get("/Users?startIndex=7&count=3").get_json()
    assert first["totalResults"] == 7 and first["itemsPerPage"] == 3 and first["startIndex"] == 1
    # A short last page and a page past the end report the same total as a full page.
    assert last["totalResults"] == 7 and last["itemsPerPage"] == 1
    assert scim.get("/Users?startIndex=20&count=3").get_json()["totalResults"] == 7
    assert scim.get("/Users?startIndex=2&count=100").get_json()["totalResults"] == 7
    seen = [r["userName"] for r in first["Resources"] + second["Resources"] + last["Resources"]]
    assert seen == [f"page{i}@example.com" for i in range(7)]
    assert scim.get("/Users?count=0").get_json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 7,
        "startIndex": 1, "itemsPerPage": 0, "Resources": []}
    assert scim.get("/Users?count=100000").get_json()["itemsPerPage"] == 7  # capped at maxResults (200)
    assert_scim_error(scim.get("/Users?count=abc"), 400, "invalidValue")
    spc = scim.get("/ServiceProviderConfig").get_json()
    assert spc["filter"] == {"supported": True, "maxResults": 200} and spc["patch"]["supported"] and spc["etag"]["supported"]


def test_a_late_page_skips_rows_on_the_index_and_loads_only_its_own(scim):
    """startIndex is an OFFSET: the skipped rows are read as ids from the narrow index, and only the
    page's users are loaded whole, without their memberships (one SELECT with OFFSET 9,900 over users
    joined to memberships, accounts and orgs took 97 ms on an org of 10,000)."""
    for i in range(6):
        scim.create_user(f"late{i}@example.com")
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        page = scim.get("/Users?startIndex=4&count=2").get_json()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert [r["userName"] for r in page["Resources"]] == ["late3@example.com", "late4@example.com"]
    assert page["totalResults"] == 6
    skipping = [s for s in statements if "OFFSET" in s.upper()]
    # The skipping statement reads ids (and the total) only: no other column of scim_users. The total
    # is count(*): counting a column made PostgreSQL scan the table instead of the org's index.
    assert len(skipping) == 1 and skipping[0].startswith("SELECT scim_users.id, (SELECT count(*)")
    assert skipping[0].split(" AS total_results ")[1].startswith("FROM scim_users ")
    assert not [s for s in statements if "FROM scim_users" in s and "memberships" in s]


def test_the_token_lookup_binds_its_org_for_row_level_security_in_the_same_statement(scim):
    """On PostgreSQL the SELECT that finds the token also sets the org the policies read: no separate
    set_config round trip on a read."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    scim.get("/Users")  # records the token's first use (a commit); reads within the minute write nothing
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert scim.get("/Users?count=1").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    lookup = next(s for s in statements if "FROM scim_tokens" in s)
    assert "set_config" in lookup and statements.index(lookup) == 0
    assert not [s for s in statements[1:] if s.startswith("SELECT set_config")]


def test_attributes_and_excluded_attributes(people):
    listed = people.get("/Users?attributes=userName,name.givenName&filter=" + quote('userName eq "ada@example.com"')).get_json()
    resource = listed["Resources"][0]
    assert set(resource) == {"id", "schemas", "userName", "name"} and resource["name"] == {"givenName": "Test"}
    excluded = people.get("/Users?excludedAttributes=emails,meta," + ENTERPRISE).get_json()["Resources"][0]
    assert "emails" not in excluded and "meta" not in excluded and ENTERPRISE not in excluded and "id" in excluded
    ext = people.get(f"/Users?attributes={ENTERPRISE}:department").get_json()["Resources"][0]
    assert ext[ENTERPRISE] == {"department": "R&D"}
    assert_scim_error(people.get("/Users?attributes=nope"), 400, "invalidValue")
    search = people.post("/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                            "filter": 'title eq "manager"', "attributes": ["userName"]})
    found = search.get_json()["Resources"]
    assert len(found) == 1 and set(found[0]) == {"schemas", "id", "userName"} and found[0]["userName"] == "bob@example.com"


def test_patch_semantics(scim):
    user = scim.create_user("pat@example.com", emails=[{"value": "pat@example.com", "type": "work", "primary": True}],
                            phoneNumbers=[{"value": "1", "type": "work"}, {"value": "2", "type": "mobile"}])
    path = f"/Users/{user['id']}"
    # Path-less add with dotted and URN-prefixed keys, op in odd case.
    body = scim.patch(path, [{"op": "ADD", "value": {
        "name.givenName": "Patricia", f"{ENTERPRISE}:department": "Ops", "nickName": "Pat",
        f"{USER_SCHEMA}:title": "Lead"}}]).get_json()
    assert body["name"] == {"givenName": "Patricia", "familyName": "User"} and body["nickName"] == "Pat"
    assert body[ENTERPRISE]["department"] == "Ops" and body["title"] == "Lead"
    # Replace of a complex attribute keeps the sub-attributes not named.
    body = scim.patch(path, [{"op": "replace", "path": "name", "value": {"familyName": "Jones"}}]).get_json()
    assert body["name"] == {"givenName": "Patricia", "familyName": "Jones"}
    # Filtered replace that matches nothing creates the typed item; primary moves to it.
    body = scim.patch(path, [{"op": "replace", "path": 'emails[type eq "home"]',
                              "value": {"value": "pat@home.example.org", "primary": "True"}}]).get_json()
    assert {e["type"]: e.get("primary") for e in body["emails"]} == {"work": False, "home": True}
    # Remove by filter leaves the others.
    body = scim.patch(path, [{"op": "remove", "path": 'phoneNumbers[type eq "work"]'}]).get_json()
    assert body["phoneNumbers"] == [{"value": "2", "type": "mobile"}]
    body = scim.patch(path, [{"op": "remove", "path": "nickName"}, {"op": "remove", "path": "name.givenName"}]).get_json()
    assert "nickName" not in body and body["name"] == {"familyName": "Jones"}
    # Multi-valued add appends; replace sets the whole list.
    body = scim.patch(path, [{"op": "add", "path": "phoneNumbers", "value": [{"value": "3", "type": "home"}]}]).get_json()
    assert [p["value"] for p in body["phoneNumbers"]] == ["2", "3"]
    body = scim.patch(path, [{"op": "replace", "path": "phoneNumbers", "value": [{"value": "9"}]}]).get_json()
    assert body["phoneNumbers"] == [{"value": "9"}]
    # Refusals, each rolling back the whole request.
    before = scim.get(path).get_json()
    assert_scim_error(scim.patch(path, [{"op": "replace", "path": "title", "value": "X"},
                                        {"op": "remove", "path": "userName"}]), 400, "mutability")
    assert_scim_error(scim.patch(path, [{"op": "remove"}]), 400, "noTarget")
    assert_scim_error(scim.patch(path, [{"op": "move", "path": "title"}]), 400, "invalidSyntax")
    assert_scim_error(scim.patch(path, [{"op": "replace", "path": "favouriteColour", "value": "x"}]), 400, "invalidPath")
    assert_scim_error(scim.patch(path, [{"op": "replace", "value": {"id": "something-else"}}]), 400, "mutability")
    assert_scim_error(scim.patch(path, [{"op": "replace", "path": "active", "value": "maybe"}]), 400, "invalidValue")
    assert_scim_error(scim.patch(path, [{"op": "replace", "path": 'emails[type eq "x" or type eq "y"]', "value": {"value": "a@b.c"}}]), 400, "noTarget")
    assert scim.get(path).get_json() == before


def test_group_member_changes_never_drop_unnamed_members(scim):
    users = [scim.create_user(f"m{i}@example.com") for i in range(4)]
    group = scim.create_group("Team", [users[0]["id"], users[1]["id"]])
    path = f"/Groups/{group['id']}"

    def members():
        return {m["value"] for m in scim.get(path).get_json()["members"]}

    scim.patch(path, [{"op": "add", "value": {"members": [{"value": users[2]["id"]}]}}])
    assert members() == {users[0]["id"], users[1]["id"], users[2]["id"]}
    scim.patch(path, [{"op": "remove", "path": f'members[value eq "{users[0]["id"]}" or value eq "{users[2]["id"]}"]'}])
    assert members() == {users[1]["id"]}
    scim.patch(path, [{"op": "replace", "path": "members", "value": [{"value": users[3]["id"]}]}])
    assert members() == {users[3]["id"]}
    assert_scim_error(scim.patch(path, [{"op": "add", "path": "members", "value": [{"value": "not-a-user"}]}]), 400, "invalidValue")
    scim.patch(path, [{"op": "remove", "path": "members"}])
    assert members() == set()


def test_etags_and_if_match(scim):
    user = scim.create_user("etag@example.com")
    path = f"/Users/{user['id']}"
    read = scim.get(path)
    tag = read.headers["ETag"]
    assert tag == user["meta"]["version"] == 'W/"1"'
    assert scim.get(path, headers={"If-None-Match": tag}).status_code == 304
    changed = scim.patch(path, [{"op": "replace", "path": "title", "value": "A"}], headers={"If-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] == 'W/"2"'
    stale = scim.patch(path, [{"op": "replace", "path": "title", "value": "B"}], headers={"If-Match": tag})
    assert_scim_error(stale, 412)
    assert_scim_error(scim.put(path, {**user, "title": "C"}, headers={"If-Match": tag}), 412)
    assert_scim_error(scim.delete(path, headers={"If-Match": tag}), 412)
    assert scim.get(path).get_json()["title"] == "A"
    assert scim.delete(path, headers={"If-Match": 'W/"2"'}).status_code == 204


def test_bad_input_gets_scim_errors_and_writes_nothing(scim):
    scim.create_user("dup@example.com")
    assert_scim_error(scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "DUP@example.com",
                                           "emails": [{"value": "x@example.com"}]}), 409, "uniqueness")
    assert_scim_error(scim.request("POST", "/Users", raw="{not json"), 400, "invalidSyntax")
    assert_scim_error(scim.post("/Users", ["a list"]), 400, "invalidSyntax")
    assert_scim_error(scim.post("/Users", {"userName": "x@example.com", "shoeSize": 42}), 400, "invalidSyntax")
    assert_scim_error(scim.post("/Users", {"userName": 42}), 400, "invalidValue")
    assert_scim_error(scim.post("/Users", {"userName": "x@example.com", "active": "sometimes"}), 400, "invalidValue")
    assert_scim_error(scim.post("/Users", {"userName": "x@example.com", "schemas": ["urn:bogus"]}), 400, "invalidValue")
    assert_scim_error(scim.post("/Users", {"userName": "x@example.com", "emails": "x@example.com"}), 400, "invalidValue")
    assert_scim_error(scim.get("/Users/not-a-uuid"), 404)
    assert_scim_error(scim.request("DELETE", "/Users"), 405)
    assert_scim_error(scim.get("/Nothing/here"), 404)
    assert_scim_error(scim.post("/Groups", {"displayName": ""}), 400, "invalidValue")
    assert_scim_error(scim.post("/.search", {}), 501)
    assert User.by_email("x@example.com") is None
    assert db.session.scalar(select(ScimUser).where(ScimUser.user_name_lower == "x@example.com")) is None


def test_tokens_missing_revoked_or_scim_off(scim, client):
    assert_scim_error(scim.get("/Users", token=None), 401)
    response = scim.get("/Users", token="okscim_wrong")
    assert_scim_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    token_row = settings.live_tokens(scim.org.id)[0]
    settings.revoke_token(scim.org, token_row, SYSTEM)
    db.session.commit()
    assert_scim_error(scim.get("/Users"), 401)
    _, new_token = settings.create_token(scim.org, SYSTEM)
    settings.set_enabled(scim.org, False, SYSTEM)
    db.session.commit()
    assert_scim_error(scim.get("/Users", token=new_token), 403)


def test_two_live_tokens_overlap_and_a_third_is_refused(scim):
    from jobs.sweeper import sweep_scim_request_logs
    from services import ServiceError
    _, second = settings.create_token(scim.org, SYSTEM)
    db.session.commit()
    assert scim.get("/Users").status_code == 200 and scim.get("/Users", token=second).status_code == 200
    with pytest.raises(ServiceError):
        settings.create_token(scim.org, SYSTEM)
    db.session.rollback()
    sweep_scim_request_logs()
    assert settings.live_tokens(scim.org.id)[0].last_used_at is not None


def test_last_used_is_written_at_most_once_a_minute(scim):
    from datetime import timedelta

    from jobs.sweeper import sweep_scim_request_logs

    from models import ScimToken, utcnow
    token_row = settings.live_tokens(scim.org.id)[0]
    recently, long_ago = utcnow() - timedelta(seconds=30), utcnow() - timedelta(minutes=5)
    for stored, expect_rewritten in ((recently, False), (long_ago, True)):
        token_row.last_used_at = stored
        db.session.commit()
        assert scim.get("/Users").status_code == 200
        sweep_scim_request_logs()
        seen = db.session.get(ScimToken, token_row.id).last_used_at
        assert (seen != stored) is expect_rewritten and seen > long_ago


def test_tenant_isolation(scim, other_scim):
    mine = scim.create_user("mine@example.com")
    group = scim.create_group("Mine", [mine["id"]])
    theirs = other_scim.create_user("theirs@example.com")
    for method, path, body in [
        ("GET", f"/Users/{mine['id']}", None), ("PUT", f"/Users/{mine['id']}", {"userName": "x@example.com"}),
        ("PATCH", f"/Users/{mine['id']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                           "Operations": [{"op": "replace", "path": "title", "value": "x"}]}),
        ("DELETE", f"/Users/{mine['id']}", None), ("GET", f"/Groups/{group['id']}", None),
        ("DELETE", f"/Groups/{group['id']}", None),
    ]:
        assert_scim_error(other_scim.request(method, path, body), 404)
    assert other_scim.get("/Users").get_json()["totalResults"] == 1
    assert other_scim.get(f'/Users?filter=id eq "{mine["id"]}"').get_json()["totalResults"] == 0
    # Another org's user id cannot be put into my group.
    assert_scim_error(scim.patch(f"/Groups/{group['id']}", [{"op": "add", "path": "members", "value": [{"value": theirs["id"]}]}]), 400, "invalidValue")
    assert scim.get(f"/Users/{mine['id']}").status_code == 200


def test_deactivation_logs_the_person_out_at_once(scim, make, app):
    user = scim.create_user("signed.in@example.com")
    account = User.by_email("signed.in@example.com")
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = factories.login_id(account)
        session["_fresh"] = True
    assert browser.get(f"/app/o/{scim.org.slug}/").status_code == 200
    scim.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"active": False}}])
    after = browser.get(f"/app/o/{scim.org.slug}/")
    assert after.status_code == 302 and "/login" in after.headers["Location"]
    # Back on: membership restored (a fresh login is needed, the old session stays ended).
    scim.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"active": True}}])
    db.session.expire_all()
    with browser.session_transaction() as session:
        session["_user_id"] = factories.login_id(db.session.get(User, account.id))
    assert browser.get(f"/app/o/{scim.org.slug}/").status_code == 200


def test_rate_limit_per_token_with_retry_after(scim, other_scim, app, monkeypatch):
    monkeypatch.setitem(app.config, "SCIM_RATE_LIMIT", "5 per 5 seconds")
    # The window is fixed, aligned to the clock (blueprints/rate_counter.py): start just after one
    # begins, so the nine requests fall into one window rather than straddling two. Five seconds, not
    # one: on a loaded machine nine requests took longer than a second (the 16:30 run).
    time.sleep(5 - time.time() % 5 + 0.01)
    statuses = [scim.get("/ServiceProviderConfig").status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and statuses[-1] == 429
    limited = scim.get("/ServiceProviderConfig")
    assert_scim_error(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 0
    # Another org's token has its own allowance.
    assert other_scim.get("/ServiceProviderConfig").status_code == 200


def _stored_log(org_id):
    return db.session.scalars(select(ScimRequestLog).where(ScimRequestLog.org_id == org_id)
                              .order_by(ScimRequestLog.created_at)).all()


def test_request_log_records_every_call_without_secrets(scim):
    from jobs.sweeper import sweep_scim_request_logs
    user = scim.create_user("logged@example.com")
    scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "title", "value": "Boss"}])
    scim.post("/Users", {"userName": "logged@example.com", "emails": [{"value": "logged@example.com"}]})
    # The entries wait in Redis (no request committed a log row), and the settings page already shows them.
    assert _stored_log(scim.org.id) == []
    shown = settings.recent_requests(scim.org.id)
    assert [(r.method, r.status) for r in shown] == [("POST", 409), ("PATCH", 200), ("POST", 201)]
    assert sweep_scim_request_logs() == 3
    rows = _stored_log(scim.org.id)
    assert [(r.method, r.status) for r in rows] == [("POST", 201), ("PATCH", 200), ("POST", 409)]
    assert rows[0].summary == "created user logged@example.com (account created)"
    assert "title" in rows[1].summary and "already exists" in rows[2].summary
    assert all(scim.token not in (r.summary + r.path) for r in rows)
    assert [r.id for r in settings.recent_requests(scim.org.id)] == [r.id for r in reversed(rows)]


def test_a_crash_after_storing_the_log_stores_each_entry_once(scim):
    """The sweeper committed a batch and died before trimming it from Redis: the next sweep finds the
    same entries and stores none of them twice."""
    from jobs.sweeper import sweep_scim_request_logs
    scim.get("/Users")
    scim.get("/Groups")
    entries = settings.buffered_requests(scim.org.id)
    settings.store_request_log(scim.org.id, entries)
    db.session.commit()
    assert len(_stored_log(scim.org.id)) == 2
    assert sweep_scim_request_logs() == 2          # found again in Redis...
    assert len(_stored_log(scim.org.id)) == 2      # ...and not stored twice
    assert settings.buffered_requests(scim.org.id) == [] and settings.orgs_with_buffered_requests() == []


def test_entries_waiting_for_a_deleted_org_do_not_block_the_sweep(scim, other_scim):
    from jobs.sweeper import sweep_scim_request_logs
    from services import orgs
    scim.get("/Users")
    other_scim.get("/Users")
    orgs.delete_org(scim.org, SYSTEM, scim.org.slug)
    db.session.commit()
    assert sweep_scim_request_logs() == 1          # the other org's entry is stored...
    assert len(_stored_log(other_scim.org.id)) == 1
    assert settings.orgs_with_buffered_requests() == []   # ...and the deleted org's is dropped


def test_the_request_log_goes_to_the_database_when_redis_refuses_it(scim, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError
    from extensions import jobs

    def refused(*args, **kwargs):
        raise RedisConnectionError("Redis is down")
    monkeypatch.setattr(type(jobs.redis.pipeline()), "execute", refused)
    assert scim.get("/Users").status_code == 200
    assert [(r.method, r.status) for r in _stored_log(scim.org.id)] == [("GET", 200)]


