"""Periodic SSO upkeep, run by the sweeper: expired request states, pending logins and replay-cache rows go, IdP
certificates entering their last 30 days are announced once (sso.certificate_expiring), and IdP
metadata URLs are fetched again on a schedule (SSO_METADATA_REFRESH_HOURS)."""
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, or_, select

from extensions import db
from models import Organization, SsoAssertionReplay, SsoCertificate, SsoConnection, SsoPendingLogin, SsoRequestState, utcnow
from services.events import SYSTEM, emit, target

EXPIRY_NOTICE_DAYS = 30


def prune_expired_state(now=None):
    now = now or utcnow()
    states = db.session.execute(delete(SsoRequestState).where(SsoRequestState.expires_at < now - timedelta(hours=1))).rowcount
    replays = db.session.execute(delete(SsoAssertionReplay).where(SsoAssertionReplay.expires_at < now)).rowcount
    # Validated responses no browser finished (or consented to) in time (services/sso/finish.py).
    pending = db.session.execute(delete(SsoPendingLogin).where(SsoPendingLogin.expires_at < now - timedelta(hours=1))).rowcount
    return (states or 0) + (replays or 0) + (pending or 0)


def notify_expiring_certificates(now=None):
    now = now or utcnow()
    due = db.session.scalars(select(SsoCertificate).where(
        SsoCertificate.expiry_notified_at.is_(None),
        SsoCertificate.not_after <= now + timedelta(days=EXPIRY_NOTICE_DAYS)).limit(200)).all()
    for certificate in due:
        certificate.expiry_notified_at = now
        org = db.session.get(Organization, certificate.org_id)
        days_left = max(0, (certificate.not_after - now).days)
        emit(org, "sso.certificate_expiring", SYSTEM, [target("sso_certificate", certificate.id, certificate.subject[:200])],
             {"certificate": {"id": str(certificate.id), "subject": certificate.subject,
                              "not_after": certificate.not_after.isoformat()}, "days_left": days_left})
    db.session.flush()
    return len(due)


def _metadata_refresh_cutoff(now=None):
    """Connections last checked before this are due; None when the schedule is off."""
    hours = current_app.config["SSO_METADATA_REFRESH_HOURS"]
    return (now or utcnow()) - timedelta(hours=hours) if hours else None


def due_metadata_refresh_ids(now=None, limit=200):
    """Connections configured from a metadata URL whose last fetch (worked or not) is older than
    SSO_METADATA_REFRESH_HOURS: IdPs publish certificate rollovers there ahead of the switch."""
    cutoff = _metadata_refresh_cutoff(now)
    if cutoff is None:
        return []
    return db.session.scalars(select(SsoConnection.id).where(
        SsoConnection.metadata_url.is_not(None),
        or_(SsoConnection.metadata_checked_at.is_(None), SsoConnection.metadata_checked_at <= cutoff),
    ).order_by(SsoConnection.metadata_checked_at).limit(limit)).all()


def metadata_refresh_due(connection, now=None):
    cutoff = _metadata_refresh_cutoff(now)
    return bool(cutoff and connection.metadata_url
                and (connection.metadata_checked_at is None or connection.metadata_checked_at <= cutoff))
