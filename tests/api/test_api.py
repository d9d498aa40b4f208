"""The JSON API through the test client: every operation, its scope, errors, pagination,
Idempotency-Key, the rate limit, and the audit trail with the key as actor."""
import time
import uuid
from datetime import timedelta

import pytest

from extensions import db
from models import ApiKey, AuditEvent, Invitation, Membership, Role, WebhookEndpoint, utcnow
from services import api_keys, webhooks
from services.events import SYSTEM
from tests.api.conftest import bearer


def membership_of(org, user):
    return db.session.scalar(db.select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id))


def error_of(response):
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


# --- Authentication --------------------------------------------------------------------------------

@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz",
                                    "Bearer ok_live_" + "A" * 38])
def test_missing_or_bad_keys_get_401_json(client, header):
    response = client.get("/api/v1/org", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_browser_session_does_not_authenticate_the_api(client, login, api_org):
    login(api_org.owner)
    assert client.get(f"/app/o/{api_org.org.slug}/members").status_code == 200
    response = client.get("/api/v1/members")
    assert response.status_code == 401 and "Set-Cookie" not in response.headers


def test_an_expired_key_fails_at_once(client, api_org):
    key = api_org.key(["read"], expires_at=utcnow() + timedelta(hours=1))
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 200
    api_org.key_row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = client.get("/api/v1/org", headers=bearer(key))
    assert response.status_code == 401 and error_of(response)["message"] == "This API key has expired."


def test_a_revoked_key_fails_on_the_next_request(client, api_org):
    key = api_org.key(["read"])
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 200
    api_keys.revoke_key(api_org.org, api_org.key_row, SYSTEM)
    db.session.commit()
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 401


def test_post_needs_no_csrf_token(app, client, api_org):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        key = api_org.key(["read", "write"])
        response = client.post("/api/v1/invitations", json={"email": "grace@example.com", "role": "member"}, headers=bearer(key))
        assert response.status_code == 201
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_last_used_is_written_at_most_once_a_minute_or_on_a_new_ip(client, api_org):
    key = api_org.key(["read"])
    client.get("/api/v1/org", headers=bearer(key), environ_base={"REMOTE_ADDR": "203.0.113.1"})
    first = db.session.get(ApiKey, api_org.key_row.id).last_used_at
    client.get("/api/v1/org", headers=bearer(key), environ_base={"REMOTE_ADDR": "203.0.113.1"})
    assert db.session.get(ApiKey, api_org.key_row.id).last_used_at == first
    client.get("/api/v1/org", headers=bearer(key), environ_base={"REMOTE_ADDR": "203.0.113.2"})
    row = db.session.get(ApiKey, api_org.key_row.id)
    assert row.last_used_ip == "203.0.113.2" and row.last_used_at >= first


# --- Scopes ------------------------------------------------------------------------------------------

def test_every_operation_names_the_scope_it_lacks(app, client, api_org):
    from blueprints.api.core import OPERATIONS
    read_key = api_org.key(["read"])
    unsafe = [op for op in OPERATIONS if op.method != "GET"]
    assert unsafe
    for op in unsafe:
        path = "/api/v1" + op.rule.replace("<member_id>", "x").replace("<invitation_id>", "x") \
            .replace("<endpoint_id>", "x").replace("<delivery_id>", "x")
        response = client.open(path, method=op.method, json={}, headers=bearer(read_key))
        assert response.status_code == 403, (op.method, path)
        assert error_of(response)["code"] == "missing_scope"
        assert error_of(response)["details"]["required_scope"] == op.scope


def test_read_scope_reads_everything(client, api_org):
    key = api_org.key(["read"])
    for path in ("/org", "/members", "/invitations", "/webhook-endpoints", "/audit-events", "/events"):
        assert client.get("/api/v1" + path, headers=bearer(key)).status_code == 200, path


def test_ownership_needs_the_admin_scope(client, api_org):
    write_key = api_org.key(["read", "write"])
    admin_member = membership_of(api_org.org, api_org.admin)
    response = client.patch(f"/api/v1/members/{admin_member.id}", json={"role": "owner"}, headers=bearer(write_key))
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    admin_key = api_org.key(["admin"])
    response = client.patch(f"/api/v1/members/{admin_member.id}", json={"role": "owner"}, headers=bearer(admin_key))
    assert response.status_code == 200 and response.get_json()["role"] == "owner"


# --- The org -----------------------------------------------------------------------------------------

def test_org_read_and_update(client, api_org):
    key = api_org.key(["read", "write"])
    body = client.get("/api/v1/org", headers=bearer(key)).get_json()
    assert body["slug"] == api_org.org.slug and body["status"] == "active"
    response = client.patch("/api/v1/org", json={"name": "Renamed"}, headers=bearer(key))
    assert response.status_code == 200 and response.get_json()["name"] == "Renamed"
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "org.updated"))
    assert event.actor_type == "api_key" and event.actor_id == str(api_org.key_row.id)
    response = client.patch("/api/v1/org", json={"slug": "Not A Slug!"}, headers=bearer(key))
    assert response.status_code == 422 and error_of(response)["details"]["field"] == "slug"


# --- Members -----------------------------------------------------------------------------------------

def test_members_list_pages_with_a_cursor(client, make, api_org):
    for _ in range(3):
        make.member(api_org.org, Role.viewer)
    key = api_org.key(["read"])
    first = client.get("/api/v1/members?limit=2", headers=bearer(key)).get_json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    second = client.get(f"/api/v1/members?limit=2&cursor={first['next_cursor']}", headers=bearer(key)).get_json()
    third = client.get(f"/api/v1/members?limit=2&cursor={second['next_cursor']}", headers=bearer(key)).get_json()
    ids = [m["id"] for m in first["data"] + second["data"] + third["data"]]
    assert len(ids) == len(set(ids)) == 5 and third["next_cursor"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "cursor=garbage"])
def test_bad_paging_parameters_get_400(client, api_org, query):
    response = client.get(f"/api/v1/members?{query}", headers=bearer(api_org.key(["read"])))
    assert response.status_code == 400 and error_of(response)["code"] == "bad_request"


def test_member_read_change_role_and_remove(client, make, api_org):
    person = make.member(api_org.org, Role.member)
    membership = membership_of(api_org.org, person)
    key = api_org.key(["read", "write"])
    body = client.get(f"/api/v1/members/{membership.id}", headers=bearer(key)).get_json()
    assert body["user"]["email"] == person.email and body["role"] == "member"
    response = client.patch(f"/api/v1/members/{membership.id}", json={"role": "viewer"}, headers=bearer(key))
    assert response.status_code == 200 and response.get_json()["role"] == "viewer"
    response = client.delete(f"/api/v1/members/{membership.id}", headers=bearer(key))
    assert response.status_code == 204
    assert membership_of(api_org.org, person) is None
    actions = db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.actor_type == "api_key")).all()
    assert {"member.role_changed", "member.removed"} <= set(actions)


def test_the_last_owner_cannot_be_removed(client, api_org):
    key = api_org.key(["admin"])
    owner = membership_of(api_org.org, api_org.owner)
    response = client.delete(f"/api/v1/members/{owner.id}", headers=bearer(key))
    assert response.status_code == 409 and error_of(response)["code"] == "last_owner"


@pytest.mark.parametrize("body", [{"role": "emperor"}, {"role": 3}, {}, {"role": "member", "extra": 1}, []])
def test_member_update_refuses_bad_bodies_with_422(client, make, api_org, body):
    membership = membership_of(api_org.org, make.member(api_org.org, Role.member))
    response = client.patch(f"/api/v1/members/{membership.id}", json=body, headers=bearer(api_org.key(["write"])))
    assert response.status_code == 422 and error_of(response)["code"] == "validation_failed"
    assert db.session.get(Membership, membership.id).role == Role.member


def test_malformed_json_and_nul_characters_get_400(client, api_org):
    key = api_org.key(["write"])
    response = client.post("/api/v1/invitations", data="{not json", headers={**bearer(key), "Content-Type": "application/json"})
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"
    response = client.post("/api/v1/invitations", data='{"email": "a\\u0000@example.com", "role": "member"}',
                           headers={**bearer(key), "Content-Type": "application/json"})
    assert response.status_code == 400 and "NUL" in error_of(response)["message"]
    response = client.post("/api/v1/invitations", data='{"email": "\\udc00@example.com", "role": "member"}',
                           headers={**bearer(key), "Content-Type": "application/json"})
    assert response.status_code == 400 and "surrogate" in error_of(response)["message"]
    response = client.get("/api/v1/audit-events?actor=a%00b", headers=bearer(key))
    assert response.status_code == 400
    assert db.session.scalar(db.select(db.func.count(Invitation.id))) == 0


def test_unknown_paths_and_methods_get_json_errors(client, api_org):
    key = api_org.key(["read"])
    response = client.get("/api/v1/nothing-here", headers=bearer(key))
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    response = client.put("/api/v1/org", headers=bearer(key))
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"


# --- Invitations -------------------------------------------------------------------------------------

def test_invitations_create_list_revoke(client, api_org):
    key = api_org.key(["write"])
    response = client.post("/api/v1/invitations", json={"email": "Grace@Example.com", "role": "member"}, headers=bearer(key))
    assert response.status_code == 201
    created = response.get_json()
    assert created["email"] == "grace@example.com" and created["status"] == "pending" and created["invited_by"] is None
    listed = client.get("/api/v1/invitations", headers=bearer(key)).get_json()["data"]
    assert [i["id"] for i in listed] == [created["id"]]
    again = client.post("/api/v1/invitations", json={"email": "grace@example.com", "role": "member"}, headers=bearer(key))
    assert again.status_code == 409
    assert client.delete(f"/api/v1/invitations/{created['id']}", headers=bearer(key)).status_code == 204
    assert client.delete(f"/api/v1/invitations/{created['id']}", headers=bearer(key)).status_code == 409
    assert client.get("/api/v1/invitations", headers=bearer(key)).get_json()["data"] == []
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "invitation.created"))
    assert event.actor_type == "api_key" and event.actor_label.startswith("API key test key")


def test_invitation_email_is_checked(client, api_org):
    response = client.post("/api/v1/invitations", json={"email": "not an email", "role": "member"},
                           headers=bearer(api_org.key(["write"])))
    assert response.status_code == 422 and error_of(response)["details"]["field"] == "email"


# --- Idempotency -------------------------------------------------------------------------------------

def test_idempotency_key_replays_the_first_answer(client, api_org):
    key = api_org.key(["write"])
    headers = {**bearer(key), "Idempotency-Key": "retry-1"}
    first = client.post("/api/v1/invitations", json={"email": "ida@example.com", "role": "member"}, headers=headers)
    second = client.post("/api/v1/invitations", json={"email": "ida@example.com", "role": "member"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json() and second.headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(db.select(db.func.count(Invitation.id))) == 1
    other = client.post("/api/v1/invitations", json={"email": "other@example.com", "role": "member"}, headers=headers)
    assert other.status_code == 422 and error_of(other)["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("path", ["/api/v1/webhook-endpoints", "rotate"])
def test_no_signing_secret_is_kept_with_an_idempotency_answer(client, api_org, path):
    """docs/security.md section 7: the answer is replayed, but its secret is read again (encrypted at
    rest) rather than kept in plain text with the stored answer."""
    from models import ApiIdempotencyRecord
    key = api_org.key(["write"])
    headers = {**bearer(key), "Idempotency-Key": "once"}
    body = {"url": "https://93.184.216.34/hooks"}
    if path == "rotate":
        created = client.post("/api/v1/webhook-endpoints", json=body, headers=bearer(key)).get_json()
        path, body = f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret", {}
    first = client.post(path, json=body, headers=headers)
    second = client.post(path, json=body, headers=headers)
    assert first.status_code in (200, 201) and second.headers["Idempotent-Replayed"] == "true"
    secret = first.get_json()["secret"]
    assert secret.startswith("whsec_") and second.get_json() == first.get_json()
    [record] = db.session.scalars(db.select(ApiIdempotencyRecord)).all()
    assert secret not in record.response_body and secret[len("whsec_"):] not in record.response_body
    assert '"secret"' not in record.response_body
    assert db.session.scalar(db.select(db.func.count(WebhookEndpoint.id))) == 1


def test_a_failed_request_records_no_idempotency_answer(client, api_org):
    key = api_org.key(["write"])
    headers = {**bearer(key), "Idempotency-Key": "k"}
    assert client.post("/api/v1/invitations", json={"email": "x", "role": "member"}, headers=headers).status_code == 422
    ok = client.post("/api/v1/invitations", json={"email": "x@example.com", "role": "member"}, headers=headers)
    assert ok.status_code == 201


# --- Rate limit --------------------------------------------------------------------------------------

def test_rate_limit_per_key_with_retry_after(app, client, api_org):
    app.config["API_RATE_LIMIT"] = "3 per hour"  # one window for the whole test
    try:
        key, other = api_org.key(["read"]), api_org.key(["read"])
        statuses = [client.get("/api/v1/org", headers=bearer(key)) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        assert statuses[0].headers["X-RateLimit-Limit"] == "3" and statuses[2].headers["X-RateLimit-Remaining"] == "0"
        assert 1 <= int(statuses[3].headers["Retry-After"]) <= 3600 and error_of(statuses[3])["code"] == "rate_limited"
        assert client.get("/api/v1/org", headers=bearer(other)).status_code == 200
    finally:
        app.config["API_RATE_LIMIT"] = "100 per second"


# --- Webhooks ----------------------------------------------------------------------------------------

def test_webhook_endpoints_lifecycle(client, api_org, run_jobs):
    key = api_org.key(["write"])
    response = client.post("/api/v1/webhook-endpoints", headers=bearer(key),
                           json={"url": "http://127.0.0.1:9/hooks", "description": "CRM", "event_types": ["member.added"]})
    assert response.status_code == 201
    created = response.get_json()
    assert created["secret"].startswith("whsec_") and created["event_types"] == ["member.added"]
    endpoint_id = created["id"]
    assert [e["id"] for e in client.get("/api/v1/webhook-endpoints", headers=bearer(key)).get_json()["data"]] == [endpoint_id]
    assert "secret" not in client.get(f"/api/v1/webhook-endpoints/{endpoint_id}", headers=bearer(key)).get_json()
    response = client.patch(f"/api/v1/webhook-endpoints/{endpoint_id}", json={"event_types": None}, headers=bearer(key))
    assert response.status_code == 200 and response.get_json()["event_types"] is None
    assert response.get_json()["description"] == "CRM"
    rotated = client.post(f"/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret", headers=bearer(key))
    assert rotated.status_code == 200 and rotated.get_json()["secret"] != created["secret"]
    # A message to list: a test event, then its attempts, then a resend.
    endpoint = db.session.get(WebhookEndpoint, uuid.UUID(endpoint_id))
    delivery = webhooks.send_test_message(api_org.org, endpoint, "member.added", SYSTEM)
    db.session.commit()
    run_jobs()
    messages = client.get(f"/api/v1/webhook-endpoints/{endpoint_id}/messages", headers=bearer(key)).get_json()["data"]
    assert messages[0]["id"] == str(delivery.id) and messages[0]["event_type"] == "member.added"
    attempts = client.get(f"/api/v1/webhook-endpoints/{endpoint_id}/messages/{delivery.id}/attempts", headers=bearer(key))
    assert attempts.status_code == 200
    resent = client.post(f"/api/v1/webhook-endpoints/{endpoint_id}/messages/{delivery.id}/resend", headers=bearer(key))
    assert resent.status_code == 202 and resent.get_json()["status"] == "pending"
    assert client.delete(f"/api/v1/webhook-endpoints/{endpoint_id}", headers=bearer(key)).status_code == 204
    assert client.get(f"/api/v1/webhook-endpoints/{endpoint_id}", headers=bearer(key)).status_code == 404
    actions = set(db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.actor_type == "api_key")).all())
    assert {"webhook.endpoint.created", "webhook.endpoint.updated", "webhook.endpoint.secret_rotated",
            "webhook.message.resent", "webhook.endpoint.deleted"} <= actions


@pytest.mark.parametrize("body, status", [
    ({"url": "ftp://example.com/x"}, 422),
    ({"url": "http://127.0.0.1:9/x", "event_types": ["no.such.type"]}, 422),
    ({"url": "http://127.0.0.1:9/x", "event_types": []}, 422),
    ({"description": "no url"}, 422),
    ({"url": 42}, 422),
])
def test_webhook_endpoint_bad_input(client, api_org, body, status):
    response = client.post("/api/v1/webhook-endpoints", json=body, headers=bearer(api_org.key(["write"])))
    assert response.status_code == status, response.get_json()
    assert db.session.scalar(db.select(db.func.count(WebhookEndpoint.id))) == 0


# --- Audit log and events feed -----------------------------------------------------------------------

def test_audit_events_filter_by_action_actor_and_time(client, api_org):
    key = api_org.key(["write"])
    client.post("/api/v1/invitations", json={"email": "ada@example.com", "role": "member"}, headers=bearer(key))
    events = client.get("/api/v1/audit-events?action=invitation.created", headers=bearer(key)).get_json()["data"]
    assert [e["action"] for e in events] == ["invitation.created"] and events[0]["actor"]["type"] == "api_key"
    by_actor = client.get("/api/v1/audit-events?actor=test key", headers=bearer(key)).get_json()["data"]
    assert {e["action"] for e in by_actor} == {"invitation.created"}
    today = utcnow().date()
    assert client.get(f"/api/v1/audit-events?since={today + timedelta(days=1)}", headers=bearer(key)).get_json()["data"] == []
    assert client.get(f"/api/v1/audit-events?until={today}", headers=bearer(key)).get_json()["data"]
    response = client.get("/api/v1/audit-events?action=nope", headers=bearer(key))
    assert response.status_code == 400 and error_of(response)["details"]["parameter"] == "action"


def settled_events(client, key, cursor=None, wanting=1):
    """The feed page after cursor once it holds `wanting` events. On PostgreSQL the feed shows an event
    only when every transaction older than it has ended, in any database of the cluster (services/feed.py),
    so a test suite running beside this one on the same server can hold it back for a moment."""
    url = "/api/v1/events" + (f"?cursor={cursor}" if cursor else "")
    deadline = time.monotonic() + 20
    while True:
        page = client.get(url, headers=bearer(key)).get_json()
        if len(page["data"]) >= wanting or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def caught_up_cursor(client, key, org_id):
    """The feed's cursor once every event of the org committed so far shows. Waiting for one event is
    not enough: a transaction of a suite running beside this one can hold back the org's later set-up
    events, which then show after the cursor, where the test expects only its own."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy import func, literal_column, select
        settled_below = literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        newest = select(func.coalesce(func.max(AuditEvent.feed_order), 0)).where(AuditEvent.org_id == org_id).scalar_subquery()
        deadline = time.monotonic() + 20
        while not db.session.scalar(select(newest < settled_below)) and time.monotonic() < deadline:
            db.session.rollback()
            time.sleep(0.05)
        db.session.rollback()
    return settled_events(client, key)


def test_events_feed_resumes_from_the_last_cursor(client, make, api_org):
    key = api_org.key(["read"])
    page = caught_up_cursor(client, key, api_org.org.id)
    assert all(e["type"] in ("org.created", "member.added") for e in page["data"])
    assert "api_key.created" not in [e["type"] for e in page["data"]]  # not a webhook event type
    cursor = page["next_cursor"]
    assert cursor
    later = make.member(api_org.org, Role.viewer)
    missed = settled_events(client, key, cursor)
    assert [e["type"] for e in missed["data"]] == ["member.added"]
    assert missed["data"][0]["data"]["user"]["email"] == later.email
    caught_up = client.get(f"/api/v1/events?cursor={missed['next_cursor']}", headers=bearer(key)).get_json()
    assert caught_up["data"] == [] and caught_up["next_cursor"] == missed["next_cursor"]


def test_events_feed_never_skips_an_event_committed_late(client, make, api_org):
    """An event made first but committed last must not fall behind a cursor that moved on meanwhile.
    On PostgreSQL the feed waits for the slower transaction, then gives both in commit order (SQLite
    has one writer at a time, so there the case cannot arise)."""
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from services import feed
    if db.engine.dialect.name != "postgresql":
        pytest.skip("two transactions writing at once need PostgreSQL")
    key = api_org.key(["read"])
    cursor = caught_up_cursor(client, key, api_org.org.id)["next_cursor"]
    slow = Session(db.engine)
    try:
        # The slow transaction makes its event first and stays open (a long request or job).
        slow.execute(insert(AuditEvent).values(
            id=uuid.uuid4(), org_id=api_org.org.id, action="org.updated", actor_type="system", actor_label="Orgkit",
            targets=[], data={"slow": True}, created_at=utcnow(), feed_order=feed.feed_order_for(api_org.org.id)))
        fast = make.member(api_org.org, Role.viewer)  # a second transaction commits its event at once
        held = client.get(f"/api/v1/events?cursor={cursor}", headers=bearer(key)).get_json()
        assert held["data"] == [] and held["next_cursor"] == cursor  # by created_at, fast would come, and slow be lost
        slow.commit()
    finally:
        slow.close()
    both = settled_events(client, key, cursor, wanting=2)
    assert [e["type"] for e in both["data"]] == ["org.updated", "member.added"]
    assert both["data"][0]["data"] == {"slow": True} and both["data"][1]["data"]["user"]["email"] == fast.email
    assert client.get(f"/api/v1/events?cursor={both['next_cursor']}", headers=bearer(key)).get_json()["data"] == []


def test_events_feed_cursors_of_other_lists_are_refused(client, api_org):
    key = api_org.key(["read", "admin"])
    audit_cursor = client.get("/api/v1/audit-events?limit=1", headers=bearer(key)).get_json()["next_cursor"]
    response = client.get(f"/api/v1/events?cursor={audit_cursor}", headers=bearer(key))
    assert response.status_code == 400 and error_of(response)["details"]["parameter"] == "cursor"


def test_the_key_lookup_binds_its_org_for_row_level_security_in_the_same_statement(client, api_org):
    """On PostgreSQL the SELECT that finds the key also sets the org the policies read, so a request
    pays no separate set_config round trip; later transactions of the request are bound as before."""
    from sqlalchemy import event, text

    from db_scope import bound_org_id
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    key = api_org.key(["read"])
    db.session.commit()
    api_keys.authenticate(key)
    assert db.session.scalar(text("SELECT current_setting('orgkit.org_id', true)")) == str(api_org.org.id)
    db.session.rollback()
    # The first call records the key's last use and commits: the request's next transaction binds
    # the org again, as every later transaction must. A call within the minute writes nothing.
    assert client.get("/api/v1/members", headers=bearer(key)).status_code == 200
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get("/api/v1/members", headers=bearer(key)).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert not [s for s in statements if s.startswith("SELECT set_config")]
    assert "set_config" in next(s for s in statements if "FROM api_keys" in s)
    assert bound_org_id() is None  # the test's own session was never bound


def test_a_suspended_org_is_read_only(client, api_org):
    from models import OrgStatus
    key = api_org.key(["write"])
    api_org.org.status = OrgStatus.suspended
    db.session.commit()
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 200
    response = client.patch("/api/v1/org", json={"name": "x"}, headers=bearer(key))
    assert response.status_code == 403 and "read-only" in error_of(response)["message"]


def test_redis_down_counts_in_process_instead_of_failing(app, client, api_org, monkeypatch):
    from extensions import jobs

    def refuse(*args, **kwargs):
        raise ConnectionError("Redis is down")
    monkeypatch.setattr(jobs.redis.connection_pool, "get_connection", refuse)
    app.config["API_RATE_LIMIT"] = "2 per hour"
    try:
        key = api_org.key(["read"])
        assert [client.get("/api/v1/org", headers=bearer(key)).status_code for _ in range(3)] == [200, 200, 429]
    finally:
        app.config["API_RATE_LIMIT"] = "100 per second"


def test_an_idempotency_answer_lasts_its_retention_then_is_pruned(client, api_org):
    from models import ApiIdempotencyRecord
    from services import retention
    key = api_org.key(["write"])
    headers = {**bearer(key), "Idempotency-Key": "once"}
    body = {"url": "http://127.0.0.1:9/hooks"}
    assert client.post("/api/v1/webhook-endpoints", json=body, headers=headers).status_code == 201
    record = db.session.scalar(db.select(ApiIdempotencyRecord))
    record.created_at = utcnow() - timedelta(days=2)
    db.session.commit()
    rule = next(r for r in retention.RETENTION_RULES if r.model_name == "ApiIdempotencyRecord")
    assert retention.prune_batch(rule, retention.cutoff_for(rule, utcnow()), 100) == 1
    db.session.commit()
    again = client.post("/api/v1/webhook-endpoints", json=body, headers=headers)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert db.session.scalar(db.select(db.func.count(WebhookEndpoint.id))) == 2


def test_a_body_too_large_gets_413(client, api_org):
    response = client.post("/api/v1/webhook-endpoints", data=b'{"url": "' + b"a" * 300_000 + b'"}',
                           headers={**bearer(api_org.key(["write"])), "Content-Type": "application/json"})
    assert response.status_code == 413 and error_of(response)["code"] == "too_large"
