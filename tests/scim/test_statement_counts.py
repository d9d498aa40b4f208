"""What a SCIM request costs the database, counted (issue 17): a lookup by userName and a create of a
managed account. Each bound is what the code does today, so a change that adds a round trip fails
here and must say why (timings never go in tests; statement counts do not depend on the machine)."""
from collections import Counter
from urllib.parse import quote

import pytest
from sqlalchemy import event, text

from extensions import db
from services import webhooks
from services.events import SYSTEM


def cost_of(request):
    """(response, SQL statements, commits) of one request."""
    statements, commits = [], []

    def record(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    def committed(conn):
        commits.append(1)

    event.listen(db.engine, "before_cursor_execute", record)
    event.listen(db.engine, "commit", committed)
    try:
        return request(), statements, len(commits)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        event.remove(db.engine, "commit", committed)


def writes(statements):
    return [s for s in statements if not s.upper().startswith("SELECT")]


def test_a_lookup_by_user_name_is_two_selects_and_writes_nothing(scim):
    ada = scim.create_user("ada@example.com", phoneNumbers=[{"value": "+1 555 0100", "type": "work"}],
                           emails=[{"value": "ada@example.com", "type": "work", "primary": True},
                                   {"value": "ada@home.example", "type": "home", "primary": False}])
    group = scim.create_group("Engineers", members=[ada["id"]])
    scim.create_group("Analysts", members=[ada["id"]])
    response, statements, commits = cost_of(lambda: scim.get("/Users?filter=" + quote('userName eq "ada@example.com"')))
    assert response.status_code == 200 and response.get_json()["totalResults"] == 1
    # The token (its org, config and creator joined in, binding the org on PostgreSQL), then the user
    # with its multi-valued attributes, its groups and the total in the same statement. The request
    # log goes to Redis; last-used goes with it. The transaction, which only read, ends with a COMMIT
    # that writes nothing (it keeps the connection's prepared statements: extensions.py).
    assert len(statements) == 2, statements
    assert writes(statements) == [] and commits == 1
    [found] = response.get_json()["Resources"]
    # What that one statement carries is the whole resource: values in order, groups by name.
    assert found == scim.get(f"/Users/{ada['id']}").get_json()
    assert [(e["value"], e["type"], e["primary"]) for e in found["emails"]] == [
        ("ada@example.com", "work", True), ("ada@home.example", "home", False)]
    assert found["phoneNumbers"] == [{"value": "+1 555 0100", "type": "work"}]
    assert [g["display"] for g in found["groups"]] == ["Analysts", "Engineers"]
    assert found["groups"][1]["value"] == group["id"]


def test_a_page_is_one_select_at_the_start_and_two_further_on(scim):
    for i in range(5):
        scim.create_user(f"page{i}@example.com")
    for start, expected in ((1, 1), (3, 2)):
        response, statements, commits = cost_of(lambda: scim.get(f"/Users?startIndex={start}&count=2"))
        body = response.get_json()
        assert body["totalResults"] == 5 and body["itemsPerPage"] == 2 and body["startIndex"] == start
        # After the token's: the page with its total (and at a later start the ids skipped to first).
        assert len(statements) == 1 + expected, statements
        assert writes(statements) == [] and commits == 1
    # Past the end: no rows, and the total still right.
    body = scim.get("/Users?startIndex=9&count=2").get_json()
    assert body["totalResults"] == 5 and body["Resources"] == []


def outbox():
    """How many outbox rows there are, by (table, event type)."""
    return Counter(db.session.execute(text(
        "SELECT 'webhook_messages', event_type FROM webhook_messages"
        " UNION ALL SELECT 'webhook_deliveries', m.event_type FROM webhook_deliveries d"
        " JOIN webhook_messages m ON m.id = d.message_id"
        " UNION ALL SELECT 'notifications', type FROM notifications")).all())


def test_a_create_writes_everything_in_one_transaction_within_its_statement_budget(scim):
    webhooks.create_endpoint(scim.org, SYSTEM, "http://127.0.0.1:9/hook", "counts outbox rows")
    db.session.commit()
    scim.create_user("first@example.com")   # the first create of a run loads what later ones reuse
    before = outbox()
    response, statements, commits = cost_of(lambda: scim.post("/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "grace@example.com", "active": True,
        "name": {"givenName": "Grace", "familyName": "Hopper"}, "emails": [{"value": "grace@example.com", "primary": True}]}))
    assert response.status_code == 201, response.get_json()
    inserted = [s.split()[2] for s in writes(statements) if s.upper().startswith("INSERT")]
    # The account, its membership, the SCIM record with its emails, the two audit events (member.added
    # and scim.user.created), and their fan-out together: the endpoints read once, both webhook
    # messages in one INSERT and their deliveries in another, the recipients of both read once and
    # their notifications (the owner's of both, the new member's of member.added) in one INSERT.
    assert sorted(inserted) == sorted(["users", "memberships", "scim_users", "scim_user_values", "audit_events",
                                       "audit_events", "webhook_messages", "webhook_deliveries", "notifications"]), inserted
    assert commits == 1
    # The token, the clash checks (with the account, the verified domain and the default role), the
    # nine INSERTs, the endpoints and the recipients: 13 (23 before issue 17's third pass).
    assert len(statements) <= 13, "\n".join(statements)
    # The same rows as when each event fanned out on its own: a message and a delivery per event, and
    # the notifications of each event's recipients.
    assert outbox() - before == Counter({
        ("webhook_messages", "member.added"): 1, ("webhook_messages", "scim.user.created"): 1,
        ("webhook_deliveries", "member.added"): 1, ("webhook_deliveries", "scim.user.created"): 1,
        ("notifications", "member.added"): 2, ("notifications", "scim.user.created"): 1})



def test_repeated_lookups_run_as_prepared_statements(scim, app, monkeypatch):
    """psycopg prepares a statement on its sixth run on a connection, but dropped every prepared one at
    each ROLLBACK, which ended every read: PostgreSQL planned the token lookup and the filter anew on
    every request (0.4 and 0.6 ms, more than running them). Reads now end with COMMIT, so by the time
    each pooled connection has served a few lookups they run prepared."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("psycopg's prepared statements")
    # Sixty lookups in a second would meet the default limit (50 per second): not what is tested here.
    monkeypatch.setitem(app.config, "SCIM_RATE_LIMIT", "1000 per second")
    scim.create_user("ada@example.com")
    prepared = []

    def look(conn, cursor, statement, *args):
        if "FROM scim_tokens" in statement:
            prepared.append({row[0] for row in cursor.connection.execute(
                "SELECT statement FROM pg_prepared_statements").fetchall()})

    event.listen(db.engine, "after_cursor_execute", look)
    try:
        # The pool hands out its idle connections in turn (up to five), each preparing on its sixth run.
        for _ in range(60):
            assert scim.get("/Users?filter=" + quote('userName eq "ada@example.com"')).status_code == 200
    finally:
        event.remove(db.engine, "after_cursor_execute", look)
    assert any("FROM scim_tokens" in sql for sql in prepared[-1])
    assert any("FROM scim_users" in sql and "user_name_lower" in sql for sql in prepared[-1])
