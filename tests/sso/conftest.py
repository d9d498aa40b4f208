"""Fixtures for SSO tests: an org whose IdP is the independent pysaml2 TestIdP, with a verified domain."""
import html
import re

import pytest

from extensions import db
from models import Role
from services.events import SYSTEM
from services.sso import config as sso_config
from services.sso import domains, saml
from tests.sso.idp import TestIdP, make_key_pair

DOMAIN = "acmecorp.com"
_IDP_KEYS = {}


def idp_keys():
    # One key pair per test session: RSA generation is the slow part of making an IdP.
    if "main" not in _IDP_KEYS:
        _IDP_KEYS["main"] = make_key_pair("Acme IdP")
        _IDP_KEYS["other"] = make_key_pair("Attacker IdP")
    return _IDP_KEYS


@pytest.fixture
def sso_org(make):
    owner = make.user(email=f"owner@{DOMAIN}")
    org = make.org(owner=owner, name="Acme")
    sso_config.ensure_connection(org)
    db.session.commit()
    return org


@pytest.fixture
def idp(sso_org):
    """The org's IdP, configured in Orgkit from its metadata; acme.test verified."""
    connection = sso_config.get_connection(sso_org.id)
    server = TestIdP(saml.sp_metadata_xml(connection), key_pair=idp_keys()["main"])
    sso_config.import_metadata(sso_org, SYSTEM, server.metadata_xml())
    domain = domains.add_domain(sso_org, DOMAIN, SYSTEM)
    domains.mark_verified(sso_org, domain, SYSTEM, "operator")
    db.session.commit()
    server.org = sso_org
    server.acs = saml.acs_url(sso_org.id)
    server.audience = saml.sp_entity_id(sso_org.id)
    return server


@pytest.fixture
def attacker_idp(sso_org, idp):
    """Same entity ID as the org's IdP, another key: what a forger without the IdP's key can sign."""
    return TestIdP(saml.sp_metadata_xml(sso_config.get_connection(sso_org.id)), key_pair=idp_keys()["other"])


def acs_path(org):
    return f"/sso/{org.id}/acs"


def allow_idp_initiated(org, allowed=True):
    connection = sso_config.get_connection(org.id)
    sso_config.update_options(org, SYSTEM, Role(connection.default_role).value, allowed)
    db.session.commit()


# RelayState -> the browser (test client) that started that login: only it holds the nonce cookie that
# finishes the login after the ACS (services/sso/finish.py).
STARTED_BY = {}


def start_login(client, org, next_path=None):
    """Follow the SP's redirect to the IdP; returns (request id, RelayState)."""
    query = f"?next={next_path}" if next_path else ""
    response = client.get(f"/sso/{org.id}/login{query}")
    assert response.status_code == 303, response.get_data(as_text=True)
    request_id, relay_state, _ = TestIdP.parse_authn_request(response.headers["Location"])
    STARTED_BY[relay_state] = client
    return request_id, relay_state


def post_to_acs(app, org, saml_response, relay_state="", browser=None):
    """The IdP's POST, then the browser's same-site GET that finishes the login: (browser, response).

    The browser is the one that started the login (for SP-initiated) or a fresh one; the ACS answers
    a validated response with a redirect to the finishing GET, which the browser follows."""
    browser = browser or STARTED_BY.get(relay_state) or app.test_client()
    response = browser.post(acs_path(org), data={"SAMLResponse": saml_response, "RelayState": relay_state})
    if response.status_code == 303 and response.headers["Location"].startswith(f"/sso/{org.id}/finish/"):
        response = browser.get(response.headers["Location"])
    return browser, response


def continued_to(response):
    """Where a page that moves on by itself (formtools.continue_to, after a POST) takes the browser."""
    assert response.status_code == 200, response.status_code
    page = response.get_data(as_text=True)
    link = re.search(r'id="continue_link" href="([^"]+)"', page).group(1)
    assert f'<meta http-equiv="refresh" content="0; url={link}">' in page
    return html.unescape(link)
