"""Single sign-on through a setup link, over HTTP with the pysaml2 test IdP: the draft is tested against
a real signed response and saved only after the test passed; the saved connection then signs people in.
The org's own connection is untouched until then."""
from sqlalchemy import select

from extensions import db
from models import AuditEvent, Membership, Role, SsoConnection, User
from services.events import SYSTEM
from services.sso import config as sso_config
from services.sso import domains, saml
from tests.setup_links.conftest import make_link, open_link
from tests.sso.conftest import continued_to, idp_keys
from tests.sso.idp import TestIdP

DOMAIN = "acmecorp.com"


def verified_domain(org):
    domains.mark_verified(org, domains.add_domain(org, DOMAIN, SYSTEM), SYSTEM, "operator")
    db.session.commit()


def sp_metadata(client, org):
    return client.get(f"/sso/{org.id}/metadata").get_data(as_text=True)


def draft_with_idp(acme, client):
    """An org with a verified domain and a link whose draft has the test IdP: (org, link, home, idp)."""
    org, owner = acme
    verified_domain(org)
    link, path = make_link(org, owner, scopes=("sso",))
    home = open_link(client, path)
    client.get(home + "/sso")   # the SSO step makes the SP key pair its metadata is served with
    idp = TestIdP(sp_metadata(client, org), key_pair=idp_keys()["main"])
    client.post(home + "/sso/metadata", data={"metadata_xml": idp.metadata_xml()})
    return org, link, home, idp


def run_test_login(client, home, idp, org, email=f"it@{DOMAIN}", groups=("Engineering",)):
    """Test SSO from the link's page through the IdP; returns the ACS response (a redirect)."""
    started = client.post(home + "/sso/test")
    request_id, relay_state, request = TestIdP.parse_authn_request(continued_to(started))
    assert relay_state.startswith("okrs_sl.")
    response = idp.response(email, saml.acs_url(org.id), saml.sp_entity_id(org.id), in_response_to=request_id,
                            attributes={"groups": list(groups)})
    return client.post(f"/sso/{org.id}/acs", data={"SAMLResponse": response, "RelayState": relay_state})


def test_sso_is_saved_only_after_a_passing_test_and_then_signs_people_in(acme, client, app):
    org, owner = acme
    verified_domain(org)
    link, path = make_link(org, owner, scopes=("sso",), send_to=None)
    home = open_link(client, path)
    client.post(home + "/provider", data={"provider": "okta"})
    page = client.get(home + "/sso").get_data(as_text=True)
    assert "Single sign-on URL" in page and "Audience URI (SP Entity ID)" in page  # Okta's own field names
    assert saml.acs_url(org.id) in page and saml.sp_entity_id(org.id) in page

    idp = TestIdP(sp_metadata(client, org), key_pair=idp_keys()["main"])
    assert client.post(home + "/sso/metadata", data={"metadata_xml": "<nope"}).status_code == 422
    assert client.post(home + "/sso/metadata", data={"metadata_xml": idp.metadata_xml()}).status_code == 303
    assert client.post(home + "/sso/group-mappings", data={"group_name": "Engineering", "role": "admin"}).status_code == 303
    assert client.post(home + "/sso/group-mappings", data={"group_name": "Root", "role": "owner"}).status_code == 422

    # Saving before a test is refused; nothing reached the org's connection.
    assert client.post(home + "/sso/save").status_code == 422
    assert not sso_config.get_connection(org.id).is_configured

    result = run_test_login(client, home, idp, org)
    assert result.status_code == 303 and result.headers["Location"].startswith(home + "/sso/test/")
    shown = client.get(result.headers["Location"]).get_data(as_text=True)
    assert "Test login passed" in shown and "Engineering" in shown and f"it@{DOMAIN}" in shown
    assert not sso_config.get_connection(org.id).is_configured  # still nothing saved
    assert User.by_email(f"it@{DOMAIN}") is None  # a test signs nobody up

    assert client.post(home + "/sso/save").status_code == 303
    connection = db.session.scalar(select(SsoConnection).where(SsoConnection.org_id == org.id))
    assert connection.is_configured and connection.idp_entity_id == idp.entity_id
    assert [(m.group_name, m.role) for m in connection.group_mappings] == [("Engineering", Role.admin)]
    assert connection.last_test_succeeded_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.org_id == org.id, AuditEvent.action == "sso.configured"))
    assert event.actor_type == "setup_link" and event.actor_label == f"setup link {link.prefix} (olive@example.com)"
    db.session.refresh(link)
    assert "sso" in link.done

    # A person now logs in through the saved connection and gets the mapped role.
    employee = app.test_client()
    start = employee.get(f"/sso/{org.id}/login")
    request_id, relay_state, _ = TestIdP.parse_authn_request(start.headers["Location"])
    response = idp.response(f"grace@{DOMAIN}", saml.acs_url(org.id), saml.sp_entity_id(org.id),
                            in_response_to=request_id, attributes={"groups": ["Engineering"]})
    answered = employee.post(f"/sso/{org.id}/acs", data={"SAMLResponse": response, "RelayState": relay_state})
    assert employee.get(answered.headers["Location"]).status_code == 303  # the browser finishes its login
    grace = User.by_email(f"grace@{DOMAIN}")
    assert db.session.scalar(select(Membership.role).where(Membership.user_id == grace.id)) == Role.admin


def test_a_changed_draft_needs_a_new_test(acme, client):
    org, link, home, idp = draft_with_idp(acme, client)
    run_test_login(client, home, idp, org)
    client.post(home + "/sso/attributes", data={"email_attribute": "", "groups_attribute": "memberOf", "default_role": "viewer"})
    response = client.post(home + "/sso/save")
    assert response.status_code == 422 and "test login that passes" in response.get_data(as_text=True)


def test_a_failed_test_shows_why_and_saves_nothing(acme, client):
    org, link, home, idp = draft_with_idp(acme, client)
    result = run_test_login(client, home, idp, org, email="someone@elsewhere.example")
    shown = client.get(result.headers["Location"])
    assert shown.status_code == 200
    assert "not on a verified domain" in shown.get_data(as_text=True)
    assert client.post(home + "/sso/save").status_code == 422


def test_the_working_connection_stays_until_the_new_one_is_saved(acme, client, app):
    """An org already signing in through one IdP: a draft with another IdP is tested without touching
    it, and a response signed by the draft's IdP signs nobody in before the save."""
    org, owner = acme
    verified_domain(org)
    current = TestIdP(saml.sp_metadata_xml(sso_config.ensure_connection(org)), key_pair=idp_keys()["main"])
    sso_config.import_metadata(org, SYSTEM, current.metadata_xml())
    db.session.commit()
    link, path = make_link(org, owner, scopes=("sso",))
    home = open_link(client, path)
    replacement = TestIdP(sp_metadata(client, org), entity_id="https://new-idp.example/metadata", key_pair=idp_keys()["other"])
    client.post(home + "/sso/metadata", data={"metadata_xml": replacement.metadata_xml()})
    assert "Test login passed" in client.get(run_test_login(client, home, replacement, org).headers["Location"]).get_data(as_text=True)

    employee = app.test_client()
    start = employee.get(f"/sso/{org.id}/login")
    request_id, relay_state, _ = TestIdP.parse_authn_request(start.headers["Location"])
    forged = replacement.response(f"grace@{DOMAIN}", saml.acs_url(org.id), saml.sp_entity_id(org.id), in_response_to=request_id)
    refused = employee.post(f"/sso/{org.id}/acs", data={"SAMLResponse": forged, "RelayState": relay_state})
    assert refused.status_code != 303 and User.by_email(f"grace@{DOMAIN}") is None
    assert sso_config.get_connection(org.id).idp_entity_id == current.entity_id


def test_a_test_result_of_another_org_or_test_is_404(acme, client, make):
    org, owner = acme
    link, path = make_link(org, owner, scopes=("sso",))
    home = open_link(client, path)
    other = make.org()
    from models import SsoLoginAttempt
    attempt = SsoLoginAttempt(org_id=other.id, outcome="succeeded", reason="x", initiated_by="test")
    own = SsoLoginAttempt(org_id=org.id, outcome="succeeded", reason="x", initiated_by="test")
    db.session.add_all([attempt, own])
    db.session.commit()
    assert client.get(f"{home}/sso/test/{attempt.id}").status_code == 404
    assert client.get(f"{home}/sso/test/{own.id}").status_code == 404  # the org's, but not this link's test


def test_parts_outside_the_links_scope_are_refused(acme, client):
    org, owner = acme
    link, path = make_link(org, owner, scopes=("domains",))
    home = open_link(client, path)
    for url, method in [("/sso", "get"), ("/sso/metadata", "post"), ("/sso/test", "post"), ("/sso/save", "post"),
                        ("/scim", "get"), ("/scim", "post")]:
        response = getattr(client, method)(home + url)
        assert response.status_code == 403, url
        assert "does not include" in response.get_data(as_text=True)
    assert client.get(home + "/domains").status_code == 200
