"""The retention job: prune every table of services.retention.RETENTION_RULES, a committed batch at a
time. Idempotent and safe to run on several workers at once (each batch deletes whatever is still
there; a row deleted by another run is simply not counted)."""
import logging

from flask import current_app

from extensions import db
from models import utcnow
from services import retention

log = logging.getLogger("orgkit.retention")


def prune_expired_rows(now=None):
    """Delete rows older than their retention; returns {model name: rows deleted}."""
    now = now or utcnow()
    batch_size = current_app.config["RETENTION_BATCH_SIZE"]
    deleted = {}
    for rule in retention.active_rules():
        cutoff = retention.cutoff_for(rule, now)
        total = 0
        while True:
            count = retention.prune_batch(rule, cutoff, batch_size)
            db.session.commit()  # one short transaction per batch
            total += count
            if count < batch_size:
                break
        deleted[rule.model_name] = total
        if total:
            log.info("pruned %s %s rows older than %s", total, rule.model_name, cutoff.isoformat(),
                     extra={"pruned": total, "table": rule.model.__tablename__})
    return deleted
