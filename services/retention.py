"""Retention: rows older than their configured number of days are deleted, a batch at a time.

RETENTION_RULES is the one table of what is pruned. A rule names its setting (days; 0 keeps rows
forever), its model (by name in `models`, so a rule can be declared before its feature is merged and
starts working when the model exists), the timestamp column that ages the row, and optionally which
rows may go (never work still in flight, like an unsent email).

Batches keep each transaction short: a delete of millions of rows in one statement would hold locks
and bloat the write-ahead log; jobs/retention.py commits after every batch.
"""
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import delete, select

import models
from extensions import db


@dataclass(frozen=True)
class RetentionRule:
    setting: str  # e.g. AUDIT_RETENTION_DAYS
    model_name: str  # a name exported by models/__init__.py
    timestamp: str = "created_at"
    # Extra condition on which rows may be pruned (model -> SQL expression), or None for all old rows.
    only: Callable | None = None

    @property
    def model(self):
        return getattr(models, self.model_name, None)

    def retention_days(self):
        return int(current_app.config[self.setting])


RETENTION_RULES = [
    RetentionRule("AUDIT_RETENTION_DAYS", "AuditEvent"),
    # Sent or failed emails only: a pending one is still work. Old bodies hold expired links.
    RetentionRule("EMAIL_RETENTION_DAYS", "OutboundEmail", only=lambda m: m.status != "pending"),
    RetentionRule("NOTIFICATION_RETENTION_DAYS", "Notification"),
    RetentionRule("WEBHOOK_ATTEMPT_RETENTION_DAYS", "WebhookAttempt"),
    RetentionRule("SSO_LOG_RETENTION_DAYS", "SsoLoginAttempt"),
    # Past it a retry with the same Idempotency-Key is a new request (blueprints/api/core.py).
    RetentionRule("API_IDEMPOTENCY_RETENTION_DAYS", "ApiIdempotencyRecord"),
    # Server-side sessions (services/sessions.py) live at most REMEMBER_COOKIE_DAYS; kept as long again
    # after they expire (when a session was used is part of an investigation), then pruned.
    RetentionRule("REMEMBER_COOKIE_DAYS", "UserSession", timestamp="expires_at"),
]


def active_rules():
    """The rules whose model exists and whose retention is not 'forever' (0)."""
    return [rule for rule in RETENTION_RULES if rule.model is not None and rule.retention_days() > 0]


def cutoff_for(rule, now):
    return now - timedelta(days=rule.retention_days())


def prune_batch(rule, cutoff, batch_size):
    """Delete up to batch_size rows of rule's model older than cutoff; returns how many went.

    Flushes; the caller commits. Portable to PostgreSQL and SQLite: the batch is chosen by a
    subquery on the primary key (DELETE ... LIMIT is not standard SQL).
    """
    model = rule.model
    condition = getattr(model, rule.timestamp) < cutoff
    if rule.only is not None:
        condition = condition & rule.only(model)
    batch = select(model.id).where(condition).limit(batch_size).scalar_subquery()
    result = db.session.execute(
        delete(model).where(model.id.in_(batch)).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
