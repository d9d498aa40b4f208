"""Email domains an org claims. A domain is verified by a DNS TXT record
`orgkit-verification=<token>` at the domain (or at _orgkit-challenge.<domain>), checked by a job with
retries; an operator can mark one verified for offline installs (cli.py). Verified domains route SSO
discovery and bound which asserted emails the org's IdP may log in."""
import re
import secrets
from datetime import timedelta

import dns.exception
import dns.resolver
from flask import current_app
from sqlalchemy import exists, select

from extensions import db, enqueue_after_commit
from models import SsoDomain, utcnow
from services import ServiceError
from services.events import target
from services.trust import record_trust_change

DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
TXT_PREFIX = "orgkit-verification="
MAX_DOMAINS = 50
# Minutes to wait before each retry: DNS changes take time to reach every resolver. After the last
# one the domain stays unverified until the admin asks for another check.
RETRY_MINUTES = (1, 5, 15, 60, 240, 720)


def domain_target(domain):
    return target("sso_domain", domain.id, domain.domain)


def clean_domain(value):
    value = (value or "").strip().lower().rstrip(".")
    if value.startswith("@"):
        value = value[1:]
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise ServiceError("That is not a domain name.", field="domain") from None
    if not DOMAIN_RE.match(value):
        raise ServiceError("Enter a domain like example.com (no @, no https://).", field="domain")
    return value


def email_domain(email):
    return (email or "").rsplit("@", 1)[-1].strip().lower() if "@" in (email or "") else ""


def txt_record_value(domain):
    return TXT_PREFIX + domain.verification_token


def add_domain(org, domain_name, actor):
    domain_name = clean_domain(domain_name)
    existing = db.session.scalars(SsoDomain.for_org(org.id)).all()
    if any(d.domain == domain_name for d in existing):
        raise ServiceError("That domain is already listed.", field="domain", code="conflict")
    if len(existing) >= MAX_DOMAINS:
        raise ServiceError(f"At most {MAX_DOMAINS} domains.", field="domain")
    domain = SsoDomain(org_id=org.id, domain=domain_name, verification_token=secrets.token_hex(16))
    db.session.add(domain)
    db.session.flush()
    record_trust_change(org, actor=actor, action="domain.added", targets=[domain_target(domain)],
                        summary=f"The email domain {domain_name} was added; it counts once its DNS TXT record is verified.",
                        data={"domain": domain_name})
    return domain


def remove_domain(org, domain, actor):
    record_trust_change(org, actor=actor, action="domain.removed", targets=[domain_target(domain)],
                        summary=f"The email domain {domain.domain} was removed: its addresses no longer sign in "
                                "through the workspace's identity provider.",
                        data={"domain": domain.domain, "was_verified": domain.is_verified})
    db.session.delete(domain)
    db.session.flush()


def request_check(domain):
    """Check the TXT record now (a job) and on the retry schedule after that."""
    domain.check_attempts = 0
    domain.next_check_at = utcnow()
    domain.last_error = None
    db.session.flush()
    _enqueue_check(domain)


def _enqueue_check(domain):
    enqueue_after_commit("default", "jobs.sso.check_domain", str(domain.id),
                         job_id=f"sso-domain-{domain.id}-{domain.check_attempts}")


def mark_verified(org, domain, actor, method):
    if domain.verified_at is not None:
        return domain
    domain.verified_at = utcnow()
    domain.verified_by = method
    domain.next_check_at = None
    domain.last_error = None
    db.session.flush()
    record_trust_change(org, actor=actor, action="domain.verified", targets=[domain_target(domain)],
                        summary=f"The email domain {domain.domain} was verified ({method}): addresses on it may now "
                                "sign in through the workspace's identity provider.",
                        data={"domain": domain.domain, "method": method})
    return domain


def txt_records(name):
    """The TXT strings at name, from the resolver in SSO_DNS_RESOLVER (host:port) or the system's."""
    resolver = dns.resolver.Resolver(configure=not current_app.config.get("SSO_DNS_RESOLVER"))
    configured = current_app.config.get("SSO_DNS_RESOLVER")
    if configured:
        host, _, port = configured.rpartition(":")
        resolver.nameservers = [host or configured]
        resolver.port = int(port) if host else 53
    resolver.lifetime = 5.0
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def check_domain_now(domain, scheduled=True):
    """One DNS check. Verifies the domain when the TXT record is there; otherwise schedules the next
    retry (or stops after the last). Returns True when verified. scheduled=False: a check someone is
    watching (a setup link's live re-check), which leaves the retry schedule as it was."""
    from models import Organization
    from services.events import SYSTEM
    if domain.verified_at is not None:
        return True
    now = utcnow()
    domain.last_checked_at = now
    expected = txt_record_value(domain)
    try:
        found = txt_records(domain.domain) + txt_records(f"_orgkit-challenge.{domain.domain}")
    except (dns.exception.DNSException, OSError) as exc:
        found, domain.last_error = [], f"DNS lookup failed: {exc.__class__.__name__}"[:500]
    if expected in found:
        mark_verified(db.session.get(Organization, domain.org_id), domain, SYSTEM, "dns")
        return True
    if not domain.last_error or not domain.last_error.startswith("DNS lookup failed"):
        domain.last_error = f"No TXT record {expected} found at {domain.domain}."
    if not scheduled:
        db.session.flush()
        return False
    if domain.check_attempts < len(RETRY_MINUTES):
        domain.next_check_at = now + timedelta(minutes=RETRY_MINUTES[domain.check_attempts])
    else:
        domain.next_check_at = None
    domain.check_attempts += 1
    db.session.flush()
    return False


def due_domain_ids(now=None):
    now = now or utcnow()
    return list(db.session.scalars(select(SsoDomain.id).where(
        SsoDomain.verified_at.is_(None), SsoDomain.next_check_at.is_not(None), SsoDomain.next_check_at <= now
    ).limit(500)))


def verified_domains(org_id):
    return set(db.session.scalars(select(SsoDomain.domain).where(SsoDomain.org_id == org_id,
                                                                  SsoDomain.verified_at.is_not(None))))


def is_verified_for(org_id, domain_name):
    return db.session.scalar(select(SsoDomain.id).where(
        SsoDomain.org_id == org_id, SsoDomain.domain == domain_name, SsoDomain.verified_at.is_not(None))) is not None


def verified_for_clause(org_id, domain_name):
    """SQL: whether domain_name is a verified domain of org_id (to ask inside another statement)."""
    return exists().where(SsoDomain.org_id == org_id, SsoDomain.domain == domain_name,
                          SsoDomain.verified_at.is_not(None))


def orgs_for_email_domain(domain_name):
    """Org ids that verified this domain (SSO discovery)."""
    return list(db.session.scalars(select(SsoDomain.org_id).where(
        SsoDomain.domain == domain_name, SsoDomain.verified_at.is_not(None))))
