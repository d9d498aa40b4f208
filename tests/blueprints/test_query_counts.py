"""The number of SQL statements a page runs does not grow with its rows (no N+1 queries)."""
import uuid

import pytest
from sqlalchemy import event

from extensions import db
from models import Membership, Organization, Role, User


@pytest.fixture
def count_queries():
    def _count(client, url):
        statements = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            response = client.get(url)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert response.status_code == 200
        return len(statements)
    return _count


def _people(n):
    people = [User(id=uuid.uuid4(), email=f"p{uuid.uuid4().hex[:10]}@example.com", name=f"Person {i}") for i in range(n)]
    db.session.add_all(people)
    return people


def test_members_page_queries_do_not_grow_with_members(client, login, make, count_queries):
    counts = []
    for n in (5, 50):
        owner = make.user(password=None)
        org = make.org(owner=owner)
        db.session.add_all(Membership(org_id=org.id, user_id=p.id, role=Role.member) for p in _people(n - 1))
        db.session.commit()
        login(owner)
        counts.append(count_queries(client, f"/app/o/{org.slug}/members"))
    assert counts[0] == counts[1], counts


def test_workspaces_page_queries_do_not_grow_with_orgs(client, login, make, count_queries):
    counts = []
    for n in (5, 50):
        viewer = make.user(password=None)
        for i in range(n):
            org = Organization(id=uuid.uuid4(), name=f"W {uuid.uuid4().hex[:6]}", slug=f"w-{uuid.uuid4().hex[:10]}")
            db.session.add(org)
            db.session.flush()
            db.session.add(Membership(org_id=org.id, user_id=viewer.id, role=Role.member))
        db.session.commit()
        login(viewer)
        counts.append(count_queries(client, "/app/workspaces"))
    assert counts[0] == counts[1], counts


def test_audit_page_queries_do_not_grow_with_events(client, login, make, count_queries):
    from services.events import SYSTEM, emit
    counts = []
    for n in (5, 50):
        owner = make.user(password=None)
        org = make.org(owner=owner)
        for _ in range(n):
            emit(org, "org.updated", SYSTEM, [], {})
        db.session.commit()
        login(owner)
        counts.append(count_queries(client, f"/app/o/{org.slug}/audit"))
    assert counts[0] == counts[1], counts


# --- Statements per request of the load mix (bench/load.py): the bounds are what the code achieves,
# so a hook, lookup or template query that creeps into every request fails here, not only in a bench.

def _statements(client, url, headers=None):
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = client.get(url, headers=headers or {})
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200, response.status_code
    return statements


def test_a_members_page_view_runs_three_statements(client, login, make):
    # The session, user, membership, SSO facts, bell count, the switcher's orgs and (on PostgreSQL)
    # the row-level security binding in one; then the members with their total, and who of them has
    # a second factor.
    owner = make.user(password=None)
    org = make.org(owner=owner)
    db.session.add_all(Membership(org_id=org.id, user_id=p.id, role=Role.member) for p in _people(3))
    db.session.commit()
    login(owner)
    make.org(owner=owner)  # a second org for the switcher
    db.session.commit()
    statements = _statements(client, f"/app/o/{org.slug}/members")
    assert len(statements) <= 3, statements
    assert not [s for s in statements if s.startswith("SELECT set_config")], "bound by the user lookup"
    assert not [s for s in statements if s.startswith(("INSERT", "UPDATE", "DELETE"))], "a page view writes nothing"


def test_the_members_search_fragment_and_the_badge_run_three_and_one_statements(client, login, make):
    owner = make.user(password=None)
    org = make.org(owner=owner)
    db.session.commit()
    login(owner)
    # The user lookup (no bell: a region does not show it), the matching members, their second factors.
    search = {"HX-Request": "true", "HX-Target": "member_results"}
    assert len(_statements(client, f"/app/o/{org.slug}/members?q={owner.name[:4]}", search)) <= 3
    badge = {"HX-Request": "true", "HX-Target": "notification_badge"}
    assert len(_statements(client, "/app/notifications/badge", badge)) <= 1


def test_a_json_api_members_call_runs_two_statements(client, make):
    from services import api_keys
    from services.events import SYSTEM

    owner = make.user(password=None)
    org = make.org(owner=owner)
    _, key = api_keys.create_key(org, "count", ["read"], SYSTEM)
    db.session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    _statements(client, "/api/v1/members?limit=20", headers)  # the first use records last_used_at
    # The key (its org bound in the same statement), then the page of members.
    statements = _statements(client, "/api/v1/members?limit=20", headers)
    assert len(statements) <= 2, statements
    assert not [s for s in statements if s.startswith(("INSERT", "UPDATE", "DELETE"))], "a read writes nothing"


def test_the_switcher_read_with_the_user_lists_her_orgs_by_name_and_marks_the_current_one(client, login, make):
    # The switcher's orgs come in the user lookup's statement (a JSON array): same list, same order.
    owner = make.user(password=None)
    zeta = make.org(owner=owner, name="Zeta Works")
    alpha = make.org(owner=owner, name="Alpha Works")
    make.org(name="Somebody Else's")
    db.session.commit()
    login(owner)
    page = client.get(f"/app/o/{zeta.slug}/members").get_data(as_text=True)
    start = page.index("Your workspaces", page.index('id="workspace_switcher"'))
    switcher = page[start:page.index("</details>", start)]
    assert switcher.index("Alpha Works") < switcher.index("Zeta Works")
    assert "Somebody Else" not in switcher
    assert f'href="/app/o/{zeta.slug}/" aria-current="true"' in switcher
    assert f'href="/app/o/{alpha.slug}/" aria-current' not in switcher
