"""SSO jobs: a domain's DNS TXT check, the IdP metadata URL refresh, certificate expiry notices.
Each takes ids, reloads, is safe to run twice, and commits; the sweeper (jobs/sweeper.py) re-enqueues
domain checks that are due, so a lost job delays a check but never drops it."""
from extensions import db
from models import SsoDomain
from models.base import parse_uuid


def check_domain(domain_id):
    """One DNS check of a claimed domain; on a miss the next retry time is recorded for the sweeper."""
    from services.sso import domains
    domain = db.session.get(SsoDomain, parse_uuid(domain_id))
    if domain is None or domain.verified_at is not None:
        return
    domains.check_domain_now(domain)
    db.session.commit()
