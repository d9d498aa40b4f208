"""Retention: old rows go, in batches, per configured days; recent rows and unsent work stay."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select

from config import Config
from extensions import db
from jobs.retention import prune_expired_rows
from jobs.sweeper import sweep_all, sweep_retention
from models import AuditEvent, OutboundEmail
from services import retention

# Injected into the job: rows are dated relative to it (the factories' own events are "now" too).
NOW = datetime.now(timezone.utc)


def audit_event(org, days_old, action="member.added"):
    row = AuditEvent(org_id=org.id if org else None, action=action, actor_type="system", actor_label="Orgkit",
                     targets=[], data={}, created_at=NOW - timedelta(days=days_old))
    db.session.add(row)
    db.session.commit()
    return row.id


def email(status, days_old):
    row = OutboundEmail(to_address="ada@example.com", subject="Hi", text_body="link", status=status,
                        created_at=NOW - timedelta(days=days_old),
                        next_attempt_at=NOW if status == "pending" else None)
    db.session.add(row)
    db.session.commit()
    return row.id


def remaining(model, ids):
    return set(db.session.scalars(select(model.id).where(model.id.in_(ids))))


@pytest.fixture
def two_orgs(make):
    return make.org(name="Acme", slug="acme"), make.org(name="Globex", slug="globex")


def test_audit_events_older_than_the_retention_are_pruned_in_every_org(app, two_orgs, monkeypatch):
    monkeypatch.setitem(app.config, "AUDIT_RETENTION_DAYS", 30)
    acme, globex = two_orgs
    old = [audit_event(acme, 31), audit_event(globex, 400), audit_event(None, 45, "user.password_changed")]
    recent = [audit_event(acme, 29), audit_event(globex, 0)]

    deleted = prune_expired_rows(now=NOW)

    assert deleted["AuditEvent"] == 3
    assert remaining(AuditEvent, old) == set()
    assert remaining(AuditEvent, recent) == set(recent)


def test_zero_days_keeps_rows_forever(app, two_orgs, monkeypatch):
    monkeypatch.setitem(app.config, "AUDIT_RETENTION_DAYS", 0)
    ancient = audit_event(two_orgs[0], 5000)
    assert "AuditEvent" not in prune_expired_rows(now=NOW)
    assert remaining(AuditEvent, [ancient]) == {ancient}


def test_pruning_runs_in_batches_of_the_configured_size(app, two_orgs, monkeypatch):
    monkeypatch.setitem(app.config, "AUDIT_RETENTION_DAYS", 10)
    monkeypatch.setitem(app.config, "RETENTION_BATCH_SIZE", 2)
    old = [audit_event(two_orgs[0], 11 + n) for n in range(5)]
    keep = audit_event(two_orgs[0], 1)
    statements = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("DELETE FROM AUDIT_EVENTS"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert prune_expired_rows(now=NOW)["AuditEvent"] == 5
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(statements) == 3  # 2 + 2 + 1, each committed on its own
    assert remaining(AuditEvent, old + [keep]) == {keep}


def test_sent_and_failed_emails_are_pruned_but_never_a_pending_one(app, monkeypatch):
    monkeypatch.setitem(app.config, "EMAIL_RETENTION_DAYS", 7)
    sent, failed, pending, recent = email("sent", 8), email("failed", 30), email("pending", 30), email("sent", 6)
    assert prune_expired_rows(now=NOW)["OutboundEmail"] == 2
    assert remaining(OutboundEmail, [sent, failed, pending, recent]) == {pending, recent}


def test_a_pruned_audit_event_disappears_from_the_audit_log_page(app, make, client, login, monkeypatch):
    owner = make.user()
    org = make.org(owner=owner, slug="acme")
    old = db.session.get(AuditEvent, audit_event(org, 500, "org.renamed"))
    old.data = {"name": "Ancient name"}
    db.session.commit()
    login(owner)
    assert "org.renamed" in client.get("/app/o/acme/audit").get_data(as_text=True)
    prune_expired_rows()  # real now, default 365 days
    page = client.get("/app/o/acme/audit").get_data(as_text=True)
    assert "org.renamed" not in page and "org.created" in page


def test_the_sweeper_enqueues_retention_once_per_interval_and_the_worker_prunes(app, two_orgs, run_jobs, monkeypatch):
    monkeypatch.setitem(app.config, "AUDIT_RETENTION_DAYS", 30)
    now = datetime.now(timezone.utc)
    old = AuditEvent(org_id=two_orgs[0].id, action="member.added", actor_type="system", actor_label="Orgkit",
                     targets=[], data={}, created_at=now - timedelta(days=31))
    db.session.add(old)
    db.session.commit()
    old_id = old.id
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))

    assert sweep_all()["sweep_retention"] == 1
    assert sweep_retention() == 0  # another worker's sweeper, same interval: nothing enqueued
    run_jobs(["default"])
    assert db.session.get(AuditEvent, old_id) is None
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before - 1  # the orgs' own events stay


def test_rules_cover_the_configured_tables_and_name_real_columns(app):
    settings = {rule.setting for rule in retention.RETENTION_RULES}
    assert {"AUDIT_RETENTION_DAYS", "NOTIFICATION_RETENTION_DAYS", "WEBHOOK_ATTEMPT_RETENTION_DAYS",
            "EMAIL_RETENTION_DAYS"} <= settings
    for rule in retention.RETENTION_RULES:
        assert rule.setting in app.config
        if rule.model is not None:  # models of features not merged yet are skipped until they are
            assert hasattr(rule.model, rule.timestamp) and hasattr(rule.model, "id")


@pytest.mark.parametrize("value", ["-1", "a year"])
def test_a_bad_retention_setting_stops_the_app_at_start(monkeypatch, value):
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", value)
    with pytest.raises(ValueError, match="AUDIT_RETENTION_DAYS"):
        Config()
