"""Fixtures for SSO tests: an org whose IdP is the independent pysaml2 TestIdP, with a verified domain."""
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


def start_login(client, org, next_path=None):
    """Follow the SP's redirect to the IdP; returns (request id, RelayState)."""
    query = f"?next={next_path}" if next_path else ""
    response = client.get(f"/sso/{org.id}/login{query}")
    assert response.status_code == 303, response.get_data(as_text=True)
    request_id, relay_state, _ = TestIdP.parse_authn_request(response.headers["Location"])
    return request_id, relay_state
