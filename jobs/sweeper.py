"""The periodic sweeper (DESIGN.md section 6): the database is the source of truth for outbound work,
so every so often anything due or stuck is put back on the queue. A worker crash, a Redis flush or a
crash between commit and enqueue delays work but never loses it."""
import logging

from extensions import db, jobs
from models import utcnow
from services import mail

log = logging.getLogger("orgkit.sweeper")


def sweep_emails():
    from jobs.email import deliver_email
    ids = mail.due_emails()
    for email_id in ids:
        # A stable job id per email: the job is idempotent, so a duplicate run sends nothing twice.
        jobs.enqueue("email", deliver_email, str(email_id), job_id=f"email-sweep-{email_id}")
    return len(ids)


def sweep_notification_digests(now=None):
    """Enqueue the daily digest of every user with items waiting from before the last digest time.
    now is injectable so tests need not wait for the next morning."""
    from jobs.notifications import send_notification_digest
    from services import notifications
    cutoff = notifications.digest_cutoff(now)
    user_ids = notifications.users_with_digest_due(cutoff)
    for user_id in user_ids:
        # One job id per user and digest time: a re-enqueue while it waits does not make a second email.
        jobs.enqueue("email", send_notification_digest, str(user_id), cutoff.isoformat(),
                     job_id=f"notification-digest-{user_id}-{cutoff:%Y%m%d%H}")
    return len(user_ids)


def sweep_webhooks():
    """Deliveries that are due, or whose worker lease expired (a crashed worker)."""
    from jobs.webhooks import sweep_webhook_deliveries
    return sweep_webhook_deliveries()


def sweep_scim_request_logs():
    """Move the SCIM request log entries waiting in Redis into the table, a batch per commit, then prune
    each org's log to its newest rows."""
    from services.scim import settings
    moved = 0
    for org_id in settings.orgs_with_buffered_requests():
        if settings.forget_requests_of_deleted_org(org_id):
            continue
        while entries := settings.buffered_requests(org_id, 0, settings.REQUEST_LOG_BATCH - 1):
            settings.store_request_log(org_id, entries)
            db.session.commit()
            settings.drop_buffered_requests(org_id, len(entries))
            moved += len(entries)
        settings.drop_buffered_requests(org_id, 0)
    settings.prune_request_logs()
    return moved


def sweep_retention():
    """Enqueue the retention job at most once per RETENTION_INTERVAL_MINUTES across every worker:
    the first sweeper to set the Redis key wins the interval, the others skip it."""
    from flask import current_app

    from jobs.retention import prune_expired_rows
    interval = current_app.config["RETENTION_INTERVAL_MINUTES"] * 60
    if not jobs.redis.set(jobs.key("retention:claimed"), "1", nx=True, ex=interval):
        return 0
    jobs.enqueue("default", prune_expired_rows, job_id="retention-prune")
    return 1


def sweep_sso():
    """Domain checks that are due (DNS retries), IdP metadata URLs due a refresh, expired SSO request
    states and replay-cache entries, and IdP certificates entering their last 30 days (owners and
    admins are told once)."""
    from jobs.sso import check_domain, refresh_idp_metadata
    from services.sso import maintenance
    from services.sso.domains import due_domain_ids
    ids = due_domain_ids()
    for domain_id in ids:
        jobs.enqueue("default", check_domain, str(domain_id), job_id=f"sso-domain-sweep-{domain_id}")
    refreshes = maintenance.due_metadata_refresh_ids()
    for connection_id in refreshes:
        # One job id per connection and hour: sweeps while it waits in the queue add no second fetch.
        jobs.enqueue("default", refresh_idp_metadata, str(connection_id),
                     job_id=f"sso-metadata-refresh-{connection_id}-{utcnow():%Y%m%d%H}")
    pruned = maintenance.prune_expired_state()
    notified = maintenance.notify_expiring_certificates()
    db.session.commit()
    return len(ids) + len(refreshes) + pruned + notified


# Every sweep function, run in order by sweep_all(). Features add theirs here.
SWEEPS = [sweep_emails, sweep_webhooks, sweep_notification_digests, sweep_scim_request_logs, sweep_sso, sweep_retention]


def sweep_all():
    counts = {}
    for sweep in SWEEPS:
        try:
            counts[sweep.__name__] = sweep()
        except Exception:
            log.exception("sweep %s failed", sweep.__name__)
            db.session.rollback()
        finally:
            db.session.remove()
    return counts
