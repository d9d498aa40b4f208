"""End to end against an independent IdP (pysaml2 + xmlsec1): real signed responses posted to the ACS
without cookies. One valid login, then each forged or replayed response is refused, logged, never a 500."""
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from extensions import db
from models import (AuditEvent, Membership, Role, SsoIdentity, SsoLoginAttempt, User, WebhookDelivery, WebhookEndpoint,
                    WebhookMessage)
from services import crypto, orgs, webhooks
from services.events import SYSTEM
from services.sso import config as sso_config
from tests.sso.conftest import DOMAIN, acs_path, allow_idp_initiated, post_to_acs, start_login
from tests.factories import PASSWORD
from tests.sso.idp import DIGEST_SHA1, RSA_SHA1, saml_time


def post(app, org, saml_response, relay_state=""):
    """The IdP's POST to the ACS, and the finishing GET by the browser that started the login."""
    return post_to_acs(app, org, saml_response, relay_state)


def last_attempt(org):
    return db.session.scalar(select(SsoLoginAttempt).where(SsoLoginAttempt.org_id == org.id)
                             .order_by(SsoLoginAttempt.created_at.desc()).limit(1))


def assert_refused(response, org, reason_part):
    assert response.status_code in (400, 403, 404, 413), response.status_code
    assert "Single sign-on didn" in response.get_data(as_text=True)
    attempt = last_attempt(org)
    assert attempt is not None and attempt.outcome == "refused"
    assert reason_part.lower() in attempt.reason.lower(), attempt.reason
    assert "sso_org_ids" not in response.headers.get("Set-Cookie", "")
    return attempt


def sp_initiated(app, idp, email=f"ada@{DOMAIN}", **kwargs):
    client = app.test_client()
    request_id, relay_state = start_login(client, idp.org)
    return request_id, relay_state, idp.response(email, idp.acs, idp.audience, in_response_to=request_id, **kwargs)


def test_sp_initiated_login_provisions_the_user_with_the_mapped_role(app, idp):
    sso_config.add_group_mapping(idp.org, SYSTEM, "Engineering", "admin")
    db.session.commit()
    client = app.test_client()
    request_id, relay_state = start_login(client, idp.org, next_path="/app/workspaces")
    saml_response = idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience, in_response_to=request_id,
                                 attributes={"groups": ["Engineering", "Everyone"]})
    fresh, response = post(app, idp.org, saml_response, relay_state)
    assert response.status_code == 303
    assert response.headers["Location"] == "/app/workspaces"
    user = User.by_email(f"ada@{DOMAIN}")
    assert user is not None and user.password_hash is None and user.name == "Ada Lovelace"
    membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
    assert membership.role == Role.admin
    assert db.session.scalar(select(SsoIdentity).where(SsoIdentity.user_id == user.id)).name_id == f"ada@{DOMAIN}"
    assert last_attempt(idp.org).outcome == "succeeded"
    # The same browser (the fresh client that got the session cookie) is signed in to the workspace.
    assert fresh.get(f"/app/o/{idp.org.slug}/").status_code == 200
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.org_id == idp.org.id)))
    assert {"sso.login_succeeded", "member.added"} <= actions


def test_group_mapping_is_applied_again_on_every_login(app, idp):
    sso_config.add_group_mapping(idp.org, SYSTEM, "Admins", "admin")
    db.session.commit()
    for groups, expected in ((["Admins"], Role.admin), (["Staff"], Role.member)):
        _, relay, saml_response = sp_initiated(app, idp, attributes={"groups": groups})
        _, response = post(app, idp.org, saml_response, relay)
        assert response.status_code == 303
        user = User.by_email(f"ada@{DOMAIN}")
        assert db.session.scalar(select(Membership.role).where(Membership.user_id == user.id,
                                                               Membership.org_id == idp.org.id)) == expected


def test_entra_groups_overage_leaves_the_role_as_it_was(app, idp):
    """Past 150 groups Entra ID sends a Graph link instead of the groups claim: the groups are unknown,
    not empty, so an admin by group mapping is not demoted to the default role, and the SSO log says why."""
    sso_config.add_group_mapping(idp.org, SYSTEM, "Admins", "admin")
    db.session.commit()
    overage = {"http://schemas.microsoft.com/claims/groups.link":
               ["https://graph.windows.net/tenant-id/users/user-id/getMemberObjects"]}
    for attributes, expected in (({"groups": ["Admins"]}, Role.admin), (overage, Role.admin), ({"groups": ["Staff"]}, Role.member)):
        _, relay, saml_response = sp_initiated(app, idp, attributes=attributes)
        _, response = post(app, idp.org, saml_response, relay)
        assert response.status_code == 303
        user = User.by_email(f"ada@{DOMAIN}")
        assert db.session.scalar(select(Membership.role).where(Membership.user_id == user.id,
                                                               Membership.org_id == idp.org.id)) == expected
        if attributes is overage:
            assert "groups overage" in last_attempt(idp.org).reason
            # The groups last asserted are kept, not replaced by nothing.
            assert db.session.scalar(select(SsoIdentity.groups).where(SsoIdentity.user_id == user.id)) == ["Admins"]
        else:
            assert last_attempt(idp.org).reason == "Signed in."


def test_existing_account_on_verified_domain_is_linked_only_with_its_password(app, idp, make):
    existing = make.user(email=f"grace@{DOMAIN}")
    _, relay, saml_response = sp_initiated(app, idp, email=f"grace@{DOMAIN}")
    browser, response = post(app, idp.org, saml_response, relay)
    assert response.status_code == 200 and 'id="sso_link"' in response.get_data(as_text=True)
    assert db.session.scalar(select(SsoIdentity).where(SsoIdentity.org_id == idp.org.id)) is None
    link_url = re.search(r'action="([^"]+/link)"', response.get_data(as_text=True)).group(1)
    assert browser.post(link_url, data={"password": "not it"}).status_code == 422
    response = browser.post(link_url, data={"password": PASSWORD})
    assert response.status_code == 303
    assert db.session.scalar(select(SsoIdentity.user_id).where(SsoIdentity.org_id == idp.org.id)) == existing.id
    assert User.by_email(existing.email).managed_by_org_id is None  # linked, still the person's own
    assert browser.get(f"/app/o/{idp.org.slug}/").status_code == 200


def held_responses():
    """Validated responses held for a browser to finish (on PostgreSQL held by the replay cache's own
    statement, only when the assertion is new and its domain verified)."""
    from models import SsoPendingLogin
    return db.session.scalars(select(SsoPendingLogin)).all()


def test_email_on_unverified_domain_is_refused(app, idp):
    _, relay, saml_response = sp_initiated(app, idp, email="mallory@elsewhere.com")
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "not on a verified domain")
    assert User.by_email("mallory@elsewhere.com") is None
    assert held_responses() == []


def test_unsigned_response_is_refused(app, idp):
    _, relay, saml_response = sp_initiated(app, idp, sign=False)
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "signed")


def test_response_signed_by_another_key_is_refused(app, idp, attacker_idp):
    client = app.test_client()
    request_id, relay = start_login(client, idp.org)
    saml_response = attacker_idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience, in_response_to=request_id)
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "signature")


def test_response_changed_after_signing_is_refused(app, idp):
    _, relay, saml_response = sp_initiated(
        app, idp, tamper=lambda xml: xml.replace(f"ada@{DOMAIN}</", f"boss@{DOMAIN}</"))
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "signature")
    assert User.by_email(f"boss@{DOMAIN}") is None


def test_deprecated_signature_algorithm_is_refused(app, idp):
    _, relay, saml_response = sp_initiated(app, idp, sign_alg=RSA_SHA1, digest_alg=DIGEST_SHA1)
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "deprecated")


def test_wrong_audience_is_refused(app, idp):
    _, relay, saml_response = sp_initiated(
        app, idp, tamper=lambda xml: xml.replace(f">{idp.audience}<", ">https://other-sp.test/metadata<"), resign=True)
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "audience")


def test_wrong_destination_is_refused(app, idp):
    _, relay, saml_response = sp_initiated(app, idp, destination="https://other-sp.test/acs")
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "instead of https://other-sp.test/acs")


def _set_times(not_before=None, not_on_or_after=None):
    def tamper(xml):
        if not_on_or_after:
            xml = re.sub(r'NotOnOrAfter="[^"]+"', f'NotOnOrAfter="{not_on_or_after}"', xml)
        if not_before:
            xml = re.sub(r'NotBefore="[^"]+"', f'NotBefore="{not_before}"', xml)
        return xml
    return tamper


def test_expired_response_is_refused(app, idp):
    _, relay, saml_response = sp_initiated(
        app, idp, tamper=_set_times(not_before=saml_time(-timedelta(hours=2)),
                                    not_on_or_after=saml_time(-timedelta(hours=1))), resign=True)
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "expired")


def test_not_yet_valid_response_is_refused(app, idp):
    _, relay, saml_response = sp_initiated(
        app, idp, tamper=_set_times(not_before=saml_time(timedelta(hours=1))), resign=True)
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "not yet valid")


def test_replayed_response_is_refused(app, idp):
    allow_idp_initiated(idp.org)
    saml_response = idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience)
    _, first = post(app, idp.org, saml_response)
    assert first.status_code == 303
    _, second = post(app, idp.org, saml_response)
    assert_refused(second, idp.org, "already used")
    [held] = held_responses()  # the first login's, used; the replay held nothing
    assert held.consumed_at is not None


def test_replayed_sp_initiated_response_is_refused(app, idp):
    _, relay, saml_response = sp_initiated(app, idp)
    assert post(app, idp.org, saml_response, relay)[1].status_code == 303
    _, again = post(app, idp.org, saml_response, relay)
    assert_refused(again, idp.org, "already used")


def test_signature_wrapping_is_refused(app, idp):
    """XSW: the signed assertion is moved aside and an unsigned copy naming someone else put in its place."""
    def wrap(xml):
        start = xml.index("<ns1:Assertion")
        end = xml.index("</ns1:Assertion>") + len("</ns1:Assertion>")
        signed = xml[start:end]
        forged = re.sub(r"<ns2:Signature .*?</ns2:Signature>", "", signed, flags=re.S)
        forged = forged.replace(f"ada@{DOMAIN}", f"boss@{DOMAIN}").replace('ID="', 'ID="evil-', 1)
        status = xml.index("<ns0:Status>")
        # The signed original hides in Extensions; the forged copy takes the assertion's place.
        return (xml[:status] + f"<ns0:Extensions>{signed}</ns0:Extensions>" + xml[status:start] + forged + xml[end:])
    _, relay, saml_response = sp_initiated(app, idp, tamper=wrap)
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "must contain 1 assertion")
    assert User.by_email(f"boss@{DOMAIN}") is None


def test_nameid_with_xml_comment_is_refused(app, idp):
    """The comment splits the NameID's text: a naive reader sees only ada@acme.test."""
    _, relay, saml_response = sp_initiated(
        app, idp, email=f"ada@{DOMAIN}.evil.com",
        tamper=lambda xml: xml.replace(f">ada@{DOMAIN}.evil.com<", f">ada@{DOMAIN}<!---->.evil.com<"))
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "comment")
    assert User.by_email(f"ada@{DOMAIN}") is None


def test_unsolicited_response_is_refused_when_idp_initiated_is_off(app, idp):
    saml_response = idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience)
    _, response = post(app, idp.org, saml_response)
    assert_refused(response, idp.org, "unsolicited")


def test_idp_initiated_login_works_when_allowed(app, idp):
    allow_idp_initiated(idp.org)
    saml_response = idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience)
    _, response = post(app, idp.org, saml_response, "/app/account")
    assert response.status_code == 303 and response.headers["Location"] == "/app/account"


def test_relay_state_pointing_off_site_is_refused(app, idp):
    allow_idp_initiated(idp.org)
    saml_response = idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience)
    _, response = post(app, idp.org, saml_response, "https://evil.test/phish")
    assert_refused(response, idp.org, "off-site")
    assert User.by_email(f"ada@{DOMAIN}") is None


def test_response_to_another_request_is_refused(app, idp):
    client = app.test_client()
    _, relay = start_login(client, idp.org)
    saml_response = idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience, in_response_to="_someone-elses-request")
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "InResponseTo")


def test_relay_state_key_works_once(app, idp):
    _, relay, saml_response = sp_initiated(app, idp)
    post(app, idp.org, saml_response, relay)
    client = app.test_client()
    request_id, _ = start_login(client, idp.org)
    second = idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience, in_response_to=request_id)
    _, response = post(app, idp.org, second, relay)  # the old, consumed key
    assert_refused(response, idp.org, "already used")


@pytest.mark.parametrize("body, reason", [
    ({"SAMLResponse": "%%% not base64 %%%"}, "not base64"),
    ({"SAMLResponse": "PGZvbz5iYXI8L2Zvbz4="}, "not a SAML Response"),  # <foo>bar</foo>
    ({"SAMLResponse": "PD94bWwg"}, "not well-formed"),
    ({"something": "else"}, "no SAMLResponse"),
])
def test_non_saml_posts_get_a_clear_page(app, idp, body, reason):
    response = app.test_client().post(acs_path(idp.org), data=body)
    assert_refused(response, idp.org, reason)


def test_xml_with_external_entities_is_refused(app, idp):
    import base64
    xxe = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>')
    response = app.test_client().post(acs_path(idp.org), data={"SAMLResponse": base64.b64encode(xxe.encode()).decode()})
    attempt = assert_refused(response, idp.org, "DTD")
    assert "root:" not in attempt.reason


def test_huge_post_is_refused_before_parsing(app, idp):
    huge = "A" * (app.config["SSO_MAX_RESPONSE_BYTES"] * 3)
    response = app.test_client().post(acs_path(idp.org), data={"SAMLResponse": huge})
    assert response.status_code == 413
    assert last_attempt(idp.org).reason.startswith("The POST is larger")


def test_unknown_org_gets_a_clear_page(app):
    response = app.test_client().post("/sso/00000000-0000-0000-0000-000000000000/acs", data={"SAMLResponse": "x"})
    assert response.status_code == 404
    assert "No workspace has this SSO address" in response.get_data(as_text=True)
    response = app.test_client().post("/sso/not-an-id/acs", data={"SAMLResponse": "x"})
    assert response.status_code == 404


def test_sp_metadata_is_served_per_org(app, sso_org):
    response = app.test_client().get(f"/sso/{sso_org.id}/metadata")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert f'entityID="http://localhost/sso/{sso_org.id}/metadata"' in body
    assert f'Location="http://localhost/sso/{sso_org.id}/acs"' in body


def test_acs_is_csrf_exempt_while_org_pages_are_not(app, idp, login, client, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    allow_idp_initiated(idp.org)
    _, response = post(app, idp.org, idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience))
    assert response.status_code == 303
    from models import Membership
    login(db.session.scalar(select(Membership).where(Membership.org_id == idp.org.id, Membership.role == Role.owner)).user)
    assert client.post(f"/app/o/{idp.org.slug}/settings/sso/domains", data={"domain": "x.com"}).status_code == 400


def test_acs_is_rate_limited_per_client(app, idp, monkeypatch):
    monkeypatch.setitem(app.config, "SSO_ACS_RATE_LIMIT", "2 per minute")
    responses = [app.test_client().post(acs_path(idp.org), data={"SAMLResponse": "eA=="}) for _ in range(3)]
    assert [response.status_code for response in responses] == [400, 400, 429]
    assert 1 <= int(responses[2].headers["Retry-After"]) <= 60
    # Answers to an IdP's posting page carry no X-RateLimit-* headers (reading them is a Redis round trip).
    assert not any(name.startswith("X-RateLimit") for response in responses[:2] for name in response.headers.keys())


def test_a_login_answers_without_rate_limit_headers(app, idp):
    allow_idp_initiated(idp.org)
    response = app.test_client().post(acs_path(idp.org), data={
        "SAMLResponse": idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience)})
    assert response.status_code == 303 and "/finish/" in response.headers["Location"]
    assert "X-RateLimit-Remaining" not in response.headers


def test_authn_request_is_signed_when_the_idp_asks(app, sso_org):
    from services.sso import saml
    from tests.sso.idp import TestIdP
    server = TestIdP(saml.sp_metadata_xml(sso_config.get_connection(sso_org.id)), want_authn_requests_signed=True)
    sso_config.import_metadata(sso_org, SYSTEM, server.metadata_xml())
    db.session.commit()
    location = app.test_client().get(f"/sso/{sso_org.id}/login").headers["Location"]
    assert location.startswith(server.sso_url) and "Signature=" in location
    assert "SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256" in location


def test_member_deactivated_by_the_org_is_refused_and_nothing_changes(app, idp, make):
    from models import utcnow
    grace = make.member(idp.org, Role.viewer, user_=make.user(email=f"grace@{DOMAIN}"))
    membership = db.session.scalar(select(Membership).where(Membership.user_id == grace.id))
    membership.deactivated_at = utcnow()
    sso_config.add_group_mapping(idp.org, SYSTEM, "Admins", "admin")
    db.session.commit()
    _, relay, saml_response = sp_initiated(app, idp, email=grace.email, attributes={"groups": ["Admins"]})
    _, response = post(app, idp.org, saml_response, relay)
    assert_refused(response, idp.org, "deactivated")
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).role == Role.viewer
    assert db.session.scalar(select(SsoIdentity).where(SsoIdentity.org_id == idp.org.id)) is None


def test_a_removed_certificate_stops_working_at_once(app, idp, attacker_idp):
    """The per-process settings cache is keyed by the connection's version: a rollover takes effect on
    the next response, never a cached certificate."""
    allow_idp_initiated(idp.org)
    assert post(app, idp.org, idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience))[1].status_code == 303
    connection = sso_config.get_connection(idp.org.id)
    old = connection.certificates[0]
    sso_config.add_certificate(idp.org, connection, attacker_idp.cert_pem)  # the "new" IdP key
    sso_config.remove_certificate(idp.org, connection, old, SYSTEM)
    db.session.commit()
    _, response = post(app, idp.org, idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience))
    assert_refused(response, idp.org, "signature")
    _, response = post(app, idp.org, attacker_idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience))
    assert response.status_code == 303


@contextmanager
def statements(engine):
    """Counts the statements sent to the database, the commits and the ORM's flushes that wrote something
    (each a unit of work of its own) while the block runs."""
    counted = {"statements": 0, "commits": 0, "flushes": 0}

    def on_statement(*_):
        counted["statements"] += 1

    def on_commit(*_):
        counted["commits"] += 1

    def on_flush(*_):
        counted["flushes"] += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    event.listen(Session, "after_flush", on_flush)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
        event.remove(Session, "after_flush", on_flush)


# A returning person's login (issue 17), statements per request. The ACS: the org with its connection
# (the same statement binds the org for row-level security), the RelayState's request state (SP-initiated
# only: an UPDATE that marks it used and returns it), the replay-cache insert (which also answers whether
# the email's domain is verified) and the held response. The finishing GET: the org, connection, held
# response, starting browser's nonce, identity, account, membership and whether any webhook endpoint
# is active, in one statement; marking the held response used; the SSO log row, the last-login update,
# the audit event, the session and its SSO grant. Each request commits once. The ACS writes through Core
# only (no flush); the finishing GET's ORM writes go in two flushes: the last-login update with the
# event, the session with its grant. On PostgreSQL the replay-cache insert also holds the response (one
# statement fewer). bench/saml.py times it.
STEADY_STATE = {"sp": (4, 7), "idp": (3, 7)}
STEADY_STATE_POSTGRESQL = {"sp": (3, 7), "idp": (2, 7)}
STEADY_STATE_FLUSHES = (0, 2)


@pytest.mark.parametrize("initiated_by", ["sp", "idp"])
def test_a_returning_persons_login_takes_a_bounded_number_of_statements(app, idp, initiated_by):
    sso_config.add_group_mapping(idp.org, SYSTEM, "Engineering", "admin")
    db.session.commit()
    if initiated_by == "idp":
        allow_idp_initiated(idp.org)
    acs_bound, finish_bound = (STEADY_STATE_POSTGRESQL if db.engine.dialect.name == "postgresql"
                               else STEADY_STATE)[initiated_by]
    acs, org_page = acs_path(idp.org), f"/app/o/{idp.org.slug}/"  # read here: the test's own reads are not counted
    for _ in range(2):  # the second login is the steady state: identity, account and membership exist
        browser = app.test_client()
        request_id, relay_state = start_login(browser, idp.org) if initiated_by == "sp" else (None, "")
        saml_response = idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience, in_response_to=request_id,
                                     attributes={"groups": ["Engineering"]})
        with statements(db.engine) as receiving:
            response = browser.post(acs, data={"SAMLResponse": saml_response, "RelayState": relay_state})
        assert response.status_code == 303 and "/finish/" in response.headers["Location"]
        with statements(db.engine) as finishing:
            response = browser.get(response.headers["Location"])
        assert response.status_code == 303 and "/sso/" not in response.headers["Location"]
    assert browser.get(org_page).status_code == 200  # signed in, for real
    assert last_attempt(idp.org).outcome == "succeeded"
    assert (receiving["commits"], finishing["commits"]) == (1, 1)
    assert receiving["statements"] <= acs_bound, receiving
    assert finishing["statements"] <= finish_bound, finishing
    assert receiving["flushes"] <= STEADY_STATE_FLUSHES[0] and finishing["flushes"] <= STEADY_STATE_FLUSHES[1], \
        (receiving, finishing)


def test_a_login_still_reaches_an_active_webhook_endpoint(app, idp):
    """The finishing GET reads whether the org has an active endpoint in its first statement and skips
    the fan-out's own query when it has none: with one, the login's event is delivered to it."""
    endpoint = WebhookEndpoint(org_id=idp.org.id, url="https://hooks.example.com/orgkit", description="",
                               all_events=True, event_types=[], is_active=True,
                               secret_encrypted=crypto.encrypt(webhooks.generate_secret()))
    db.session.add(endpoint)
    db.session.commit()
    allow_idp_initiated(idp.org)
    _, response = post(app, idp.org, idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience))
    assert response.status_code == 303
    delivered = db.session.scalars(select(WebhookMessage.event_type).join(
        WebhookDelivery, WebhookDelivery.message_id == WebhookMessage.id).where(
        WebhookDelivery.endpoint_id == endpoint.id)).all()
    assert "sso.login_succeeded" in delivered


def test_a_removed_member_signing_in_again_through_sso_rejoins(app, idp):
    """The identity stays linked when the membership goes: the next login finds it (with no membership)
    and adds the person back, instead of linking the account a second time (a unique-key error)."""
    allow_idp_initiated(idp.org)
    assert post(app, idp.org, idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience))[1].status_code == 303
    user = User.by_email(f"ada@{DOMAIN}")
    membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id,
                                                            Membership.org_id == idp.org.id))
    orgs.remove_member(idp.org, membership, SYSTEM)
    db.session.commit()
    browser, response = post(app, idp.org, idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience))
    assert response.status_code == 303 and "/sso/" not in response.headers["Location"]
    assert db.session.scalar(select(Membership.role).where(Membership.user_id == user.id,
                                                           Membership.org_id == idp.org.id)) == Role.member
    assert len(db.session.scalars(select(SsoIdentity).where(SsoIdentity.user_id == user.id)).all()) == 1


def test_the_protocol_schema_is_compiled_once_per_thread_and_still_checked(app, idp, monkeypatch):
    """python3-saml compiles its XSD for every response; Orgkit keeps the compiled schema, one per thread
    (services/sso/saml.py), and a response the schema refuses is still refused."""
    import base64
    import threading

    from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

    from services.sso import saml
    compiled = []
    schema_class = OneLogin_Saml2_XML._schema_class

    def counting_schema(document):
        compiled.append(threading.get_ident())
        return schema_class(document)

    monkeypatch.setattr(OneLogin_Saml2_XML, "_schema_class", counting_schema)
    monkeypatch.setattr(saml, "_compiled_schemas", threading.local())
    allow_idp_initiated(idp.org)
    for person in ("ada", "grace", "edsger"):
        _, response = post(app, idp.org, idp.response(f"{person}@{DOMAIN}", idp.acs, idp.audience))
        assert response.status_code == 303 and "/sso/" not in response.headers["Location"]
    assert len(compiled) == 1

    # Another thread (gthread workers serve requests from several) compiles its own: an lxml schema keeps
    # its last error log on itself.
    other = threading.Thread(target=lambda: saml.validate_xml(b"<x/>", "saml-schema-protocol-2.0.xsd"))
    other.start()
    other.join()
    assert len(compiled) == 2 and compiled[0] != compiled[1]

    # An element the protocol schema does not allow, in a response that is otherwise the IdP's own.
    document = base64.b64decode(idp.response(f"alan@{DOMAIN}", idp.acs, idp.audience)).decode()
    document = re.sub(r"<(\w+):Status([ >])", r"<\1:Unexpected/><\1:Status\2", document, count=1)
    assert "Unexpected" in document
    _, response = post(app, idp.org, base64.b64encode(document.encode()).decode())
    assert_refused(response, idp.org, "saml-schema-protocol-2.0.xsd")
    assert User.by_email(f"alan@{DOMAIN}") is None


def test_a_name_the_idp_sends_is_kept_only_as_one_line_of_visible_text(app, idp):
    """JIT names follow services/names.py like every other name: an IdP's display name with a line break
    or a bidirectional override is not stored (it would forge lines in logs and email subjects), and the
    login goes on: a new account takes the email's local part, an existing one keeps its name."""
    allow_idp_initiated(idp.org)
    ENTRA_DISPLAY_NAME = "http://schemas.microsoft.com/identity/claims/displayname"  # pysaml2 sends it as named

    def log_in(email, display_name):
        _, response = post(app, idp.org, idp.response(email, idp.acs, idp.audience,
                                                       attributes={ENTRA_DISPLAY_NAME: [display_name]}))
        assert response.status_code == 303 and "/sso/" not in response.headers["Location"]
        db.session.expire_all()
        return User.by_email(email)

    assert log_in(f"mallory@{DOMAIN}", "Mallory\nSecurity team: approved").name == "mallory"
    assert log_in(f"mallory@{DOMAIN}", "  Mallory Mills  ").name == "Mallory Mills"  # managed: follows the IdP
    assert log_in(f"mallory@{DOMAIN}", "Mallory \u202eevil").name == "Mallory Mills"
    assert log_in(f"mallory@{DOMAIN}", "M" * 300).name == "M" * 120


def test_attributes_by_their_legacy_urn_mace_names_are_read(app, idp):
    """pysaml2's basic name format (and Shibboleth's legacy map) names attributes urn:mace:dir:attribute-def:...:
    the display name and the email come through under those names too."""
    allow_idp_initiated(idp.org)
    _, response = post(app, idp.org, idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience, name_id="ada-7731",
                                                  attributes={"displayName": ["Ada King"]}))
    assert response.status_code == 303 and "/sso/" not in response.headers["Location"]
    assert User.by_email(f"ada@{DOMAIN}").name == "Ada King"
