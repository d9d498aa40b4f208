"""The SSO settings page: configuring the IdP (metadata paste/upload, by hand), certificates, domains,
role mappings, Test SSO, Require SSO with its preview, discovery, enforcement and break-glass."""
import io

from sqlalchemy import select

from extensions import db
from models import AuditEvent, Role, SsoDomain, SsoIdentity, SsoLoginAttempt
from services.events import SYSTEM
from services.sso import config as sso_config
from services.sso import domains
from tests.factories import PASSWORD
from tests.sso.conftest import DOMAIN, acs_path, continued_to
from tests.sso.idp import TestIdP, make_key_pair


def settings_url(org, path=""):
    return f"/app/o/{org.slug}/settings/sso{path}"


def owner_of(org):
    from models import Membership
    return db.session.scalar(select(Membership).where(Membership.org_id == org.id, Membership.role == Role.owner)).user


def test_settings_page_shows_the_values_for_the_idp(client, login, sso_org):
    login(owner_of(sso_org))
    page = client.get(settings_url(sso_org)).get_data(as_text=True)
    assert f"http://localhost/sso/{sso_org.id}/acs" in page
    assert f"http://localhost/sso/{sso_org.id}/metadata" in page
    assert "No identity provider yet." in page


def test_short_path_leads_to_the_settings_page(client, login, sso_org):
    login(owner_of(sso_org))
    response = client.get("/app/settings/sso")
    assert response.status_code == 302 and response.headers["Location"].endswith(settings_url(sso_org))


def test_pasting_metadata_configures_the_idp(client, login, sso_org):
    login(owner_of(sso_org))
    idp = TestIdP(client.get(f"/sso/{sso_org.id}/metadata").get_data(as_text=True), want_authn_requests_signed=True)
    response = client.post(settings_url(sso_org, "/idp/metadata"), data={"metadata_xml": idp.metadata_xml()})
    assert response.status_code == 303
    connection = sso_config.get_connection(sso_org.id)
    assert connection.idp_entity_id == idp.entity_id and connection.idp_sso_url == idp.sso_url
    assert connection.sign_authn_requests is True and len(connection.certificates) == 1
    assert "sso.configured" in db.session.scalars(select(AuditEvent.action)).all()
    page = client.get(settings_url(sso_org)).get_data(as_text=True)
    assert idp.entity_id in page and "Expires" in page


def test_uploading_metadata_works_too(client, login, sso_org):
    login(owner_of(sso_org))
    idp = TestIdP(client.get(f"/sso/{sso_org.id}/metadata").get_data(as_text=True))
    response = client.post(settings_url(sso_org, "/idp/metadata"), content_type="multipart/form-data",
                           data={"metadata_file": (io.BytesIO(idp.metadata_xml().encode()), "idp.xml")})
    assert response.status_code == 303
    assert sso_config.get_connection(sso_org.id).idp_entity_id == idp.entity_id


def test_bad_metadata_gets_inline_errors_and_changes_nothing(client, login, sso_org):
    login(owner_of(sso_org))
    for xml, message in [
        ("not xml at all", "not well-formed XML"),
        ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&amp;x;</r>', "without a DTD"),
        ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><md:SPSSODescriptor/></md:EntityDescriptor>',
         "no EntityDescriptor with an IDPSSODescriptor"),
        ("<a>" + "x" * (600 * 1024) + "</a>", "larger than"),
    ]:
        response = client.post(settings_url(sso_org, "/idp/metadata"), data={"metadata_xml": xml})
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert sso_config.get_connection(sso_org.id).idp_entity_id is None


def test_manual_configuration_and_certificate_rollover(client, login, sso_org):
    login(owner_of(sso_org))
    _, cert = make_key_pair("Old IdP cert")
    response = client.post(settings_url(sso_org, "/idp/manual"), data={
        "entity_id": "http://www.okta.com/exk1", "sso_url": "https://acme.okta.com/app/sso/saml", "certificate": cert})
    assert response.status_code == 303
    _, new_cert = make_key_pair("New IdP cert")
    assert client.post(settings_url(sso_org, "/certificates"), data={"certificate": new_cert}).status_code == 303
    assert client.post(settings_url(sso_org, "/certificates"), data={"certificate": "garbage"}).status_code == 422
    connection = sso_config.get_connection(sso_org.id)
    assert [c.subject for c in connection.certificates] == ["CN=Old IdP cert", "CN=New IdP cert"]
    old = connection.certificates[0]
    assert client.get(settings_url(sso_org, f"/certificates/{old.id}/delete")).status_code == 200  # asks first
    assert client.post(settings_url(sso_org, f"/certificates/{old.id}/delete")).status_code == 303
    db.session.expire_all()
    assert [c.subject for c in sso_config.get_connection(sso_org.id).certificates] == ["CN=New IdP cert"]


def test_manual_configuration_refuses_bad_values(client, login, sso_org):
    login(owner_of(sso_org))
    response = client.post(settings_url(sso_org, "/idp/manual"), data={
        "entity_id": "x", "sso_url": "javascript:alert(1)", "certificate": "nope"})
    assert response.status_code == 422
    assert "full https:// URL" in response.get_data(as_text=True)


def test_group_mappings_in_priority_order(client, login, sso_org):
    login(owner_of(sso_org))
    for group, role in (("Staff", "member"), ("Admins", "admin")):
        assert client.post(settings_url(sso_org, "/group-mappings"), data={"group_name": group, "role": role}).status_code == 303
    assert client.post(settings_url(sso_org, "/group-mappings"), data={"group_name": "Staff", "role": "admin"}).status_code == 422
    connection = sso_config.get_connection(sso_org.id)
    admins = [m for m in connection.group_mappings if m.group_name == "Admins"][0]
    assert sso_config.role_for_groups(connection, ["Staff", "Admins"]) == Role.member
    assert client.post(settings_url(sso_org, f"/group-mappings/{admins.id}/move"), data={"direction": "up"}).status_code == 303
    db.session.expire_all()
    connection = sso_config.get_connection(sso_org.id)
    assert [m.group_name for m in connection.group_mappings] == ["Admins", "Staff"]
    assert sso_config.role_for_groups(connection, ["Staff", "Admins"]) == Role.admin


def test_domains_are_claimed_and_the_cli_marks_one_verified(app, client, login, sso_org):
    login(owner_of(sso_org))
    assert client.post(settings_url(sso_org, "/domains"), data={"domain": "https://bad"}).status_code == 422
    assert client.post(settings_url(sso_org, "/domains"), data={"domain": "Example.COM"}).status_code == 303
    domain = db.session.scalar(select(SsoDomain).where(SsoDomain.org_id == sso_org.id))
    assert domain.domain == "example.com" and domain.verified_at is None
    assert domains.txt_record_value(domain) in client.get(settings_url(sso_org)).get_data(as_text=True)
    result = app.test_cli_runner().invoke(args=["sso", "domains", "verify", "--org", sso_org.slug, "--domain", "example.com"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(SsoDomain, domain.id).verified_by == "operator"
    assert "domain.verified" in db.session.scalars(select(AuditEvent.action)).all()


def test_members_cannot_see_the_settings(client, login, sso_org, make):
    member = make.member(sso_org, Role.member)
    login(member)
    assert client.get(settings_url(sso_org)).status_code == 403


def _run_test_login(app, client, idp, email=f"ada@{DOMAIN}"):
    response = client.post(settings_url(idp.org, "/test"))
    request_id, relay, _ = TestIdP.parse_authn_request(continued_to(response))
    saml_response = idp.response(email, idp.acs, idp.audience, in_response_to=request_id,
                                 attributes={"groups": ["Engineering"]})
    return app.test_client().post(acs_path(idp.org), data={"SAMLResponse": saml_response, "RelayState": relay})


def test_test_sso_shows_the_outcome_with_decoded_attributes(app, client, login, idp):
    login(owner_of(idp.org))
    response = _run_test_login(app, client, idp)
    assert response.status_code == 303 and "/settings/sso/log/" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Test login passed" in page and "Engineering" in page and "firstName" in page
    assert sso_config.get_connection(idp.org.id).last_test_succeeded_at is not None
    from models import User
    assert User.by_email(f"ada@{DOMAIN}") is None  # a test signs nobody in and provisions nobody


def test_require_sso_needs_a_successful_test_and_then_enforces(app, client, login, idp, make):
    owner = owner_of(idp.org)
    login(owner)
    employee = make.member(idp.org, Role.member, user_=make.user(email=f"grace@{DOMAIN}"))
    outsider = make.member(idp.org, Role.member, user_=make.user(email="contractor@example.com"))
    refused = client.post(settings_url(idp.org, "/require"), data={"require_sso": "on"})
    assert refused.status_code == 422 and "successful test login" in refused.get_data(as_text=True)
    _run_test_login(app, client, idp)
    preview = client.get(settings_url(idp.org, "/require")).get_data(as_text=True)
    assert "grace@" in preview and "contractor@example.com" not in preview.split("keep their passwords")[1]
    assert client.post(settings_url(idp.org, "/require"), data={"require_sso": "on"}).status_code == 303
    assert "sso.enforced" in db.session.scalars(select(AuditEvent.action)).all()

    # A password login still works (it opens the person's other workspaces), but this org's pages ask
    # for its own IdP: for the employee, and for a session made by password before enforcement.
    employee_browser = app.test_client()
    assert employee_browser.post("/login", data={"email": employee.email, "password": PASSWORD}).status_code == 303
    response = employee_browser.get(f"/app/o/{idp.org.slug}/")
    assert response.status_code == 302 and f"/sso/{idp.org.id}/login" in response.headers["Location"]
    outsider_browser = app.test_client()
    assert outsider_browser.post("/login", data={"email": outsider.email, "password": PASSWORD}).status_code == 303
    assert outsider_browser.get(f"/app/o/{idp.org.slug}/").status_code == 200
    old_session = app.test_client()
    login(employee, old_session)
    response = old_session.get(f"/app/o/{idp.org.slug}/")
    assert response.status_code == 302 and f"/sso/{idp.org.id}/login" in response.headers["Location"]
    # The owner's password session is sent to SSO too, but the audited break-glass login opens the org.
    owner_browser = app.test_client()
    assert owner_browser.post("/login", data={"email": owner.email, "password": PASSWORD}).status_code == 303
    assert owner_browser.get(f"/app/o/{idp.org.slug}/").status_code == 302
    glass = app.test_client()
    assert glass.post("/sso/break-glass", data={"email": employee.email, "password": PASSWORD,
                                                "reason": "IdP down"}).status_code == 422
    response = glass.post("/sso/break-glass", data={"email": owner.email, "password": PASSWORD, "reason": "IdP down"})
    assert response.status_code == 303
    assert glass.get(f"/app/o/{idp.org.slug}/").status_code == 200
    assert "sso.break_glass_login" in db.session.scalars(select(AuditEvent.action)).all()


def test_sso_login_lands_an_enforced_member_in_the_workspace(app, idp, make):
    connection = sso_config.get_connection(idp.org.id)
    employee = make.member(idp.org, Role.member, user_=make.user(email=f"grace@{DOMAIN}"))
    db.session.add(SsoIdentity(org_id=idp.org.id, name_id=employee.email, user_id=employee.id))  # linked before
    from models import utcnow
    connection.last_test_succeeded_at = utcnow()
    from services.sso import enforcement
    enforcement.set_require_sso(idp.org, True, SYSTEM)
    db.session.commit()
    browser = app.test_client()
    response = browser.get(f"/sso/{idp.org.id}/login?next=/app/o/{idp.org.slug}/")
    request_id, relay, _ = TestIdP.parse_authn_request(response.headers["Location"])
    saml_response = idp.response(employee.email, idp.acs, idp.audience, in_response_to=request_id)
    response = browser.post(acs_path(idp.org), data={"SAMLResponse": saml_response, "RelayState": relay})
    response = browser.get(response.headers["Location"])  # the same-site GET that finishes the login
    assert response.status_code == 303 and response.headers["Location"] == f"/app/o/{idp.org.slug}/"
    assert browser.get(f"/app/o/{idp.org.slug}/").status_code == 200


def test_discovery_routes_by_verified_domain(app, idp, make):
    client = app.test_client()
    assert client.get("/sso").status_code == 200
    response = client.post("/sso", data={"email": f"someone@{DOMAIN}"})
    # A page that moves on by itself (a redirect would be held to the form page's CSP form-action).
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<meta http-equiv="refresh" content="0; url=/sso/{idp.org.id}/login' in page
    assert f'id="continue_link" href="/sso/{idp.org.id}/login' in page
    response = client.post("/sso", data={"email": "someone@unknown-domain.com"})
    assert response.status_code == 422 and "No workspace uses single sign-on" in response.get_data(as_text=True)
    # A second org verifying the same domain: the person picks.
    other = make.org(owner=make.user(), name="Acme Labs")
    sso_config.ensure_connection(other)   # what its admin opening the SSO settings does
    db.session.commit()
    idp2 = TestIdP(client.get(f"/sso/{other.id}/metadata").get_data(as_text=True))
    sso_config.import_metadata(other, SYSTEM, idp2.metadata_xml())
    domains.mark_verified(other, domains.add_domain(other, DOMAIN, SYSTEM), SYSTEM, "operator")
    db.session.commit()
    response = client.post("/sso", data={"email": f"someone@{DOMAIN}"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Acme Labs" in page and "Choose one" in page


def test_login_page_offers_sso(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/sso"' in page and "Continue with SSO" in page


def test_refusals_are_in_the_sso_log_without_secrets(app, client, login, idp):
    saml_response = idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience)
    app.test_client().post(acs_path(idp.org), data={"SAMLResponse": saml_response})
    login(owner_of(idp.org))
    page = client.get(settings_url(idp.org)).get_data(as_text=True)
    assert "Refused" in page and "Unsolicited response" in page
    assert saml_response[:40] not in page
    attempt = db.session.scalar(select(SsoLoginAttempt).where(SsoLoginAttempt.org_id == idp.org.id))
    assert client.get(settings_url(idp.org, f"/log/{attempt.id}")).status_code == 200
