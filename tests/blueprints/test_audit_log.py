"""The audit log page: filters, keyset pages, HTMX fragment, streamed CSV export, org isolation."""
import csv
import io
import os
from datetime import datetime, timedelta, timezone

import pytest

from extensions import db
from models import AuditEvent, Role


@pytest.fixture
def org_with_events(make):
    owner = make.user(email="olive@example.com", name="Olive", password=None)
    org = make.org(owner=owner, name="Acme", slug="acme")
    base = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    for n in range(60):
        db.session.add(AuditEvent(
            org_id=org.id, action="member.role_changed" if n % 2 else "invitation.created",
            actor_type="user", actor_id=None, actor_label="ada@example.com" if n % 3 else "=cmd|' /C calc'!A0",
            targets=[{"type": "user", "id": None, "label": f"person{n}@example.com"}],
            data={"n": n}, ip="203.0.113.9", user_agent="pytest",
            created_at=base + timedelta(hours=n),  # 2024-05-01 12:00 .. 2024-05-03 23:00
        ))
    db.session.commit()
    return org, owner


def test_admins_read_members_do_not(client, login, make, org_with_events):
    org, owner = org_with_events
    admin = make.member(org, Role.admin, user_=make.user(password=None))
    member = make.member(org, Role.member, user_=make.user(password=None))
    login(admin)
    assert client.get("/app/o/acme/audit").status_code == 200
    login(member)
    assert client.get("/app/o/acme/audit").status_code == 403
    assert client.get("/app/o/acme/audit/export.csv").status_code == 403


def test_page_shows_actor_action_targets_ip_time_data(client, login, org_with_events):
    org, owner = org_with_events
    login(owner)
    html = client.get("/app/o/acme/audit").get_data(as_text=True)
    assert "member.added" in html  # the real event from setting up the org
    assert "203.0.113.9" in html and "person59@example.com" in html and "2024-05-03 23:00 UTC" in html
    assert "&#34;n&#34;: 59" in html or '"n": 59' in html


def test_keyset_pages_cover_everything_once_in_order(client, login, org_with_events):
    org, owner = org_with_events
    login(owner)
    seen, url = [], "/app/o/acme/audit?action=member.role_changed"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += [int(n) for n in __import__("re").findall(r"person(\d+)@example.com", html)]
        marker = 'id="older_events"'
        url = None
        if marker in html:
            href = html.split(marker)[0].rsplit('href="', 1)[1].split('"')[0]
            url = href.replace("&amp;", "&")
    assert seen == sorted(range(1, 60, 2), reverse=True)


def test_filters_action_actor_and_dates(client, login, org_with_events):
    org, owner = org_with_events
    login(owner)
    html = client.get("/app/o/acme/audit?action=invitation.created&since=2024-05-02&until=2024-05-02&actor=ADA@").get_data(as_text=True)
    numbers = sorted(int(n) for n in __import__("re").findall(r"person(\d+)@example.com", html))
    # 2024-05-02 is hours 12..35 from the base; even n (invitation.created); n % 3 != 0 (ada).
    assert numbers == [n for n in range(12, 36) if n % 2 == 0 and n % 3]


@pytest.mark.parametrize("query, message", [
    ("action=no.such.action", "Choose an action from the list."),
    ("since=yesterday", "Use a date like 2024-05-31."),
    ("since=2024-05-03&until=2024-05-01", "The start date is after the end date."),
])
def test_bad_filters_are_a_clear_422(client, login, org_with_events, query, message):
    org, owner = org_with_events
    login(owner)
    response = client.get(f"/app/o/acme/audit?{query}")
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert client.get(f"/app/o/acme/audit/export.csv?{query}").status_code == 422


def test_tampered_cursor_starts_from_the_newest(client, login, org_with_events):
    org, owner = org_with_events
    login(owner)
    response = client.get("/app/o/acme/audit?cursor=%%%garbage")
    assert response.status_code == 200 and "member.added" in response.get_data(as_text=True)


def test_htmx_filter_request_gets_only_the_results(client, login, org_with_events):
    org, owner = org_with_events
    login(owner)
    response = client.get("/app/o/acme/audit?action=member.added",
                          headers={"HX-Request": "true", "HX-Target": "audit_results"})
    text = response.get_data(as_text=True)
    assert text.lstrip().startswith('<div id="audit_results">') and "<html" not in text
    assert "member.added" in text and "person" not in text


def test_csv_export_is_the_filtered_set_and_spreadsheet_safe(client, login, org_with_events):
    org, owner = org_with_events
    login(owner)
    response = client.get("/app/o/acme/audit/export.csv?action=invitation.created")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="acme-audit-log.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 30 and {row["action"] for row in rows} == {"invitation.created"}
    assert rows[0]["targets"] == "user:person58@example.com" and rows[0]["ip"] == "203.0.113.9"
    assert any(row["actor"].startswith("'=cmd") for row in rows)  # no formula injection


def test_csv_export_streams_more_than_one_batch(client, login, make):
    owner = make.user(password=None)
    org = make.org(owner=owner, slug="big")
    now = datetime.now(timezone.utc)
    db.session.add_all(AuditEvent(org_id=org.id, action="org.updated", actor_type="system", actor_label="Orgkit",
                                  targets=[], data={}, created_at=now - timedelta(seconds=n)) for n in range(1200))
    db.session.commit()
    login(owner)
    response = client.get("/app/o/big/audit/export.csv")
    assert response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1202 and len({row["id"] for row in rows}) == 1202


def test_other_orgs_events_never_show(client, login, make, org_with_events):
    org, owner = org_with_events
    other_owner = make.user(password=None)
    make.org(owner=other_owner, name="Other", slug="other")
    login(other_owner)
    html = client.get("/app/o/other/audit").get_data(as_text=True)
    assert "person" not in html and "acme" not in html.lower().replace("orgkit", "")
    rows = list(csv.DictReader(io.StringIO(client.get("/app/o/other/audit/export.csv").get_data(as_text=True))))
    assert {row["action"] for row in rows} == {"org.created", "member.added"}
    assert client.get("/app/o/acme/audit").status_code == 404


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="row-level security is PostgreSQL's")
def test_csv_export_reads_inside_the_org_binding(client, login, make, org_with_events, monkeypatch):
    """The streamed body reads through a session of its own: walled to the org like the request."""
    from sqlalchemy import text

    from services import audit
    org, owner = org_with_events
    other = make.org(owner=make.user(password=None), name="Other", slug="other")   # its own events
    seen = {}
    original = audit.iter_filtered_events

    def watched(session, org_id, filters, **kwargs):
        seen["bound"] = session.scalar(text("SELECT current_setting('orgkit.org_id', true)"))
        seen["orgs"] = set(session.scalars(text("SELECT DISTINCT CAST(org_id AS TEXT) FROM audit_events")))
        return original(session, org_id, filters, **kwargs)

    monkeypatch.setattr(audit, "iter_filtered_events", watched)
    login(owner)
    assert client.get("/app/o/acme/audit/export.csv").status_code == 200
    assert seen["bound"] == str(org.id)
    if os.environ.get("ORGKIT_TEST_RLS"):
        # Behind the wall even a query without the org filter sees this org's events only.
        assert seen["orgs"] == {str(org.id)} and str(other.id) not in seen["orgs"]
