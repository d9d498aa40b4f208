"""Background SSO work through a real RQ worker: DNS TXT verification of domains against a real DNS
server on a local port (with retries), the IdP metadata URL fetched through the egress guard, and the
certificate expiry notice."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from extensions import db
from jobs.sso import refresh_idp_metadata
from jobs.sweeper import sweep_sso
from models import AuditEvent, Notification, Role, SsoDomain, utcnow
from services.events import SYSTEM
from services.sso import config as sso_config
from services.sso import domains, maintenance
from tests.sso.idp import TestIdP, make_key_pair
from tests.sso.servers import DnsServer, IdpWebServer


@pytest.fixture
def dns_server(app, monkeypatch):
    server = DnsServer().start()
    monkeypatch.setitem(app.config, "SSO_DNS_RESOLVER", server.address)
    yield server
    server.stop()


def owner_client(client, login, org):
    from models import Membership
    login(db.session.scalar(select(Membership).where(Membership.org_id == org.id)).user)
    return client


def test_domain_is_verified_by_its_txt_record(client, login, sso_org, dns_server, run_jobs):
    owner_client(client, login, sso_org)
    assert client.post(f"/app/o/{sso_org.slug}/settings/sso/domains", data={"domain": "acme-widgets.com"}).status_code == 303
    domain = db.session.scalar(select(SsoDomain).where(SsoDomain.org_id == sso_org.id))
    dns_server.txt["acme-widgets.com"] = ["v=spf1 -all", domains.txt_record_value(domain)]
    run_jobs()
    db.session.expire_all()
    domain = db.session.get(SsoDomain, domain.id)
    assert domain.verified_by == "dns" and domain.verified_at is not None
    assert "acme-widgets.com" in dns_server.queries
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "domain.verified")).data["domain"] == "acme-widgets.com"


def test_missing_record_is_retried_until_it_appears(client, login, sso_org, dns_server, run_jobs):
    owner_client(client, login, sso_org)
    client.post(f"/app/o/{sso_org.slug}/settings/sso/domains", data={"domain": "slow-dns.com"})
    run_jobs()
    db.session.expire_all()
    domain = db.session.scalar(select(SsoDomain).where(SsoDomain.org_id == sso_org.id))
    assert domain.verified_at is None and domain.check_attempts == 1
    assert domain.next_check_at > utcnow() and "No TXT record" in domain.last_error
    assert "No TXT record" in client.get(f"/app/o/{sso_org.slug}/settings/sso").get_data(as_text=True)
    # The record is published at the challenge name; the retry comes due and the sweeper re-enqueues it.
    dns_server.txt["_orgkit-challenge.slow-dns.com"] = [domains.txt_record_value(domain)]
    assert domain.id not in domains.due_domain_ids()
    domain.next_check_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    sweep_sso()
    run_jobs()
    db.session.expire_all()
    assert db.session.get(SsoDomain, domain.id).verified_by == "dns"


def test_retries_stop_after_the_schedule(sso_org, dns_server, app):
    domain = domains.add_domain(sso_org, "never.example.com", SYSTEM)
    for _ in range(len(domains.RETRY_MINUTES) + 1):
        domains.check_domain_now(domain)
    assert domain.next_check_at is None and domain.verified_at is None


def test_metadata_url_is_fetched_and_refreshed(client, login, sso_org):
    owner_client(client, login, sso_org)
    web = IdpWebServer().start()
    try:
        sp_metadata = client.get(f"/sso/{sso_org.id}/metadata").get_data(as_text=True)
        first = TestIdP(sp_metadata)
        web.pages["/metadata.xml"] = (200, "application/xml", first.metadata_xml())
        response = client.post(f"/app/o/{sso_org.slug}/settings/sso/idp/metadata-url",
                               data={"metadata_url": web.base_url + "/metadata.xml"})
        assert response.status_code == 303
        connection = sso_config.get_connection(sso_org.id)
        assert connection.metadata_url.endswith("/metadata.xml") and len(connection.certificates) == 1
        # The IdP rolls its certificate over: a refresh picks up the new one and drops the old.
        second = TestIdP(sp_metadata, key_pair=make_key_pair("Rolled IdP"))
        web.pages["/metadata.xml"] = (200, "application/xml", second.metadata_xml())
        assert client.post(f"/app/o/{sso_org.slug}/settings/sso/idp/metadata-url/refresh").status_code == 303
        db.session.expire_all()
        assert [c.subject for c in sso_config.get_connection(sso_org.id).certificates] == ["CN=Rolled IdP"]
        # A broken answer is reported and keeps the configuration.
        web.pages["/metadata.xml"] = (500, "text/plain", "oops")
        client.post(f"/app/o/{sso_org.slug}/settings/sso/idp/metadata-url/refresh")
        db.session.expire_all()
        connection = sso_config.get_connection(sso_org.id)
        assert "HTTP 500" in connection.metadata_error and len(connection.certificates) == 1
    finally:
        web.stop()


def test_metadata_url_is_refreshed_on_a_schedule_by_the_worker(client, login, sso_org, run_jobs):
    """The sweeper finds metadata URLs not checked for SSO_METADATA_REFRESH_HOURS and a real worker
    fetches them: a rollover is applied (one sso.configured event), unchanged metadata is no event,
    and a failure keeps the configuration, shows on the page and is retried after the interval."""
    owner_client(client, login, sso_org)
    web = IdpWebServer().start()
    try:
        sp_metadata = client.get(f"/sso/{sso_org.id}/metadata").get_data(as_text=True)
        web.pages["/metadata.xml"] = (200, "application/xml", TestIdP(sp_metadata).metadata_xml())
        client.post(f"/app/o/{sso_org.slug}/settings/sso/idp/metadata-url", data={"metadata_url": web.base_url + "/metadata.xml"})
        connection = sso_config.get_connection(sso_org.id)
        assert connection.metadata_checked_at is not None and not maintenance.due_metadata_refresh_ids()

        def day_passes():
            db.session.expire_all()
            row = sso_config.get_connection(sso_org.id)
            row.metadata_checked_at = utcnow() - timedelta(hours=25)
            db.session.commit()
            sweep_sso()
            run_jobs()
            return sso_config.get_connection(sso_org.id)

        def configured_events():
            return db.session.scalars(select(AuditEvent).where(AuditEvent.org_id == sso_org.id,
                                                               AuditEvent.action == "sso.configured")).all()

        events_before = len(configured_events())
        rolled = TestIdP(sp_metadata, key_pair=make_key_pair("Scheduled Rollover"))
        web.pages["/metadata.xml"] = (200, "application/xml", rolled.metadata_xml())
        connection = day_passes()
        assert [c.subject for c in connection.certificates] == ["CN=Scheduled Rollover"]
        assert connection.metadata_error is None and connection.metadata_checked_at > utcnow() - timedelta(minutes=5)
        events = configured_events()
        assert len(events) == events_before + 1 and events[-1].data["change"] == "metadata_refresh"
        assert events[-1].actor_type == "system"
        # Checked just now: nothing is due, and a duplicate job does not fetch again.
        assert not maintenance.due_metadata_refresh_ids()
        requests_before = len(web.requests)
        refresh_idp_metadata(str(connection.id))
        assert len(web.requests) == requests_before
        # The same metadata a day later: fetched, nothing changed, no event.
        connection = day_passes()
        assert len(web.requests) == requests_before + 1 and len(configured_events()) == events_before + 1
        # The IdP's URL breaks: the error is kept and shown, the certificate stays, logins go on.
        web.pages["/metadata.xml"] = (503, "text/plain", "maintenance")
        connection = day_passes()
        assert "HTTP 503" in connection.metadata_error
        assert [c.subject for c in connection.certificates] == ["CN=Scheduled Rollover"]
        assert not maintenance.due_metadata_refresh_ids()  # the next try waits for the interval
        page = client.get(f"/app/o/{sso_org.slug}/settings/sso").get_data(as_text=True)
        assert "HTTP 503" in page and "Fetched again every 24 hours" in page
        # Metadata that is not valid SAML is refused whole: nothing of it is written.
        web.pages["/metadata.xml"] = (200, "application/xml", "<EntityDescriptor entityID='x'/>")
        connection = day_passes()
        assert "refused" in connection.metadata_error and connection.idp_entity_id == rolled.entity_id
        assert [c.subject for c in connection.certificates] == ["CN=Scheduled Rollover"]
    finally:
        web.stop()


def test_metadata_url_to_a_private_address_is_refused(app, client, login, sso_org, monkeypatch):
    monkeypatch.setitem(app.config, "EGRESS_ALLOWLIST", "")
    owner_client(client, login, sso_org)
    response = client.post(f"/app/o/{sso_org.slug}/settings/sso/idp/metadata-url",
                           data={"metadata_url": "http://169.254.169.254/latest/meta-data"})
    assert response.status_code == 422
    assert sso_config.get_connection(sso_org.id).metadata_url is None


def test_expiring_certificate_notifies_owners_and_admins_once(sso_org, make):
    admin = make.member(sso_org, Role.admin)
    member = make.member(sso_org, Role.member)
    connection = sso_config.get_connection(sso_org.id)
    from datetime import datetime, timezone
    _, soon = make_key_pair("Expiring IdP", days=20, not_before=datetime.now(timezone.utc) - timedelta(days=340))
    sso_config.set_idp_manually(sso_org, SYSTEM, "https://idp.example.com", "https://idp.example.com/sso", soon)
    sso_config.add_certificate(sso_org, connection, make_key_pair("Fresh IdP")[1])
    db.session.commit()
    sweep_sso()
    sweep_sso()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sso.certificate_expiring")).all()
    assert len(events) == 1 and events[0].data["certificate"]["subject"] == "CN=Expiring IdP"
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.type == "sso.certificate_expiring")))
    assert admin.id in told and member.id not in told
