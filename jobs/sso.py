"""SSO jobs: a domain's DNS TXT check and the scheduled refresh of an IdP's metadata URL. Each takes
ids, reloads, is safe to run twice, and commits; the sweeper (jobs/sweeper.py) enqueues whatever is
due again, so a lost job delays a check but never drops it."""
import logging

from extensions import db
from models import SsoDomain
from models.base import parse_uuid

log = logging.getLogger("orgkit.jobs.sso")


def check_domain(domain_id):
    """One DNS check of a claimed domain; on a miss the next retry time is recorded for the sweeper."""
    from services.sso import domains
    domain = db.session.get(SsoDomain, parse_uuid(domain_id))
    if domain is None or domain.verified_at is not None:
        return
    domains.check_domain_now(domain)
    db.session.commit()


def refresh_idp_metadata(connection_id):
    """Fetch an IdP's metadata URL again when it is due, and apply what changed (a certificate rollover
    above all). A failure is kept on the connection for the settings page; logins go on with the
    configuration already held, and the next try comes after the same interval."""
    from db_scope import bind_org
    from models import Organization, SsoConnection
    from services import ServiceError
    from services.events import SYSTEM
    from services.sso import config, maintenance
    connection = db.session.get(SsoConnection, parse_uuid(connection_id))
    if connection is None or not maintenance.metadata_refresh_due(connection):
        return  # gone, or already refreshed by a duplicate of this job or by an admin
    org = db.session.get(Organization, connection.org_id)
    bind_org(org)
    try:
        config.refresh_metadata(org, connection, SYSTEM, source="metadata_refresh")
    except ServiceError as error:
        log.warning("metadata refresh of %s failed: %s", connection.metadata_url, error.message)
    db.session.commit()
