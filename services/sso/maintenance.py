"""Periodic SSO upkeep, run by the sweeper: expired request states and replay-cache rows go, and IdP
certificates entering their last 30 days are announced once (sso.certificate_expiring)."""
from datetime import timedelta

from sqlalchemy import delete, select

from extensions import db
from models import Organization, SsoAssertionReplay, SsoCertificate, SsoRequestState, utcnow
from services.events import SYSTEM, emit, target

EXPIRY_NOTICE_DAYS = 30


def prune_expired_state(now=None):
    now = now or utcnow()
    states = db.session.execute(delete(SsoRequestState).where(SsoRequestState.expires_at < now - timedelta(hours=1))).rowcount
    replays = db.session.execute(delete(SsoAssertionReplay).where(SsoAssertionReplay.expires_at < now)).rowcount
    return (states or 0) + (replays or 0)


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
