"""Pages that show a secret once are kept by no cache (Cache-Control: no-store), and every page's CSP
lets its forms post to Orgkit only, plus the IdP a Test SSO form leads to."""
import re

from extensions import db
from services import webhooks
from services.events import SYSTEM
from services.sso import config as sso_config


def csp(response):
    return dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))


def test_pages_showing_a_secret_once_are_not_stored(client, login, make):
    owner = make.user()
    org = make.org(owner=owner, slug="acme")
    login(owner)
    key_page = client.post("/app/o/acme/settings/api-keys", data={"name": "CRM sync", "scope": "read"})
    assert 'id="new_key">ok_live_' in key_page.get_data(as_text=True)
    client.post("/app/o/acme/settings/scim/enabled", data={"enabled": "on"})
    token_page = client.post("/app/o/acme/settings/scim/tokens")
    assert 'id="new_token">okscim_' in token_page.get_data(as_text=True)
    endpoint = webhooks.create_endpoint(org, SYSTEM, "https://93.184.216.34/hooks")
    db.session.commit()
    secret_page = client.get(f"/app/o/acme/webhooks/{endpoint.id}/secret")
    assert webhooks.current_secret(endpoint) in secret_page.get_data(as_text=True)
    for response in (key_page, token_page, secret_page):
        assert response.headers["Cache-Control"] == "no-store"


def test_forms_post_to_orgkit_only(client):
    policy = csp(client.get("/login"))
    assert policy["form-action"] == "'self'"
