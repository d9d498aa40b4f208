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
