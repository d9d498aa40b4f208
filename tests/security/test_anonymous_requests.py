"""What an anonymous request can do to the database: nothing an anonymous GET does may add rows, and the
one that must (starting an SSO login writes its one-time state) is rate limited. Also the SSO pages an
anonymous visitor meets: an unknown org's refusal points to no log, a refused metadata URL says why."""
import uuid

import pytest
from sqlalchemy import func, select

from extensions import db
from models import SsoConnection, SsoLoginAttempt, SsoRequestState
from services.sso import config as sso_config
from tests.sso.conftest import idp, idp_keys, sso_org  # noqa: F401 (fixtures)

# Starting an SSO login writes the request's state on purpose (it is checked when the IdP posts back):
# tested below for its rate limit instead.
WRITES_BY_DESIGN = {"sso.sso_login"}


def row_counts():
    db.session.expire_all()
    return {table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables}


def fill(rule, org):
    values = {}
    for argument in rule.arguments:
        choices = getattr(rule._converters.get(argument), "items", None)
        if choices:   # <any(a, b):name>
            values[argument] = sorted(choices)[0]
        elif argument == "org_ref":
            values[argument] = str(org.id)
        elif argument == "org_slug":
            values[argument] = org.slug
        elif argument.endswith("_id"):
            values[argument] = str(uuid.uuid4())
        else:
            values[argument] = "an-unknown-" + argument.replace("_", "-")
    return rule.build(values, append_unknown=False)[1]


def test_no_anonymous_get_adds_a_row(app, make):
    org = make.org()
    rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint != "static"
             and r.endpoint not in WRITES_BY_DESIGN]
    assert len(rules) > 30
    before = row_counts()
    for rule in rules:
        for _ in range(2):
            response = app.test_client().get(fill(rule, org))
            assert response.status_code < 500, (rule.rule, response.status_code)
    grown = {table: count - before[table] for table, count in row_counts().items() if count != before[table]}
    assert grown == {}, f"anonymous GETs added rows: {grown}"


def test_sp_metadata_of_an_org_without_sso_is_not_created_by_a_stranger(app, make, login, client):
    owner = make.user()
    org = make.org(owner=owner)
    for _ in range(3):
        response = app.test_client().get(f"/sso/{org.id}/metadata")
        assert response.status_code == 404 and "not set up for this workspace yet" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(SsoConnection)) == 0
    # The admin opening the SSO settings makes the key pair; the metadata URL shown there then works.
    login(owner)
    assert client.get(f"/app/o/{org.slug}/settings/sso").status_code == 200
    response = app.test_client().get(f"/sso/{org.id}/metadata")
    assert response.status_code == 200 and "X509Certificate" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(SsoConnection)) == 1


def test_starting_sso_logins_is_rate_limited_per_client(app, idp, monkeypatch):
    monkeypatch.setitem(app.config, "SSO_LOGIN_RATE_LIMIT", "3 per minute")
    stranger = app.test_client()
    statuses = [stranger.get(f"/sso/{idp.org.id}/login").status_code for _ in range(5)]
    assert statuses == [303, 303, 303, 429, 429]
    assert db.session.scalar(select(func.count()).select_from(SsoRequestState)) == 3
    elsewhere = app.test_client().get(f"/sso/{idp.org.id}/login", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert elsewhere.status_code == 303


def test_unknown_org_refusal_points_to_no_log_and_writes_nothing(app):
    response = app.test_client().post(f"/sso/{uuid.uuid4()}/acs", data={"SAMLResponse": "eA=="})
    page = response.get_data(as_text=True)
    assert response.status_code == 404 and "No workspace has this SSO address" in page
    assert "SSO log" not in page
    assert db.session.scalar(select(func.count()).select_from(SsoLoginAttempt)) == 0


@pytest.mark.parametrize("url, message", [
    ("https://10.0.0.1/metadata", "10.0.0.1 is a private network address (RFC 1918)"),
    ("https://[fd00:ec2::254]/latest/meta-data", "fd00:ec2::254 is the AWS IPv6 cloud metadata address"),
    ("http://127.0.0.1:9/metadata", "127.0.0.1 port 9: connection refused"),
])
def test_a_refused_metadata_url_says_why_on_the_page(make, login, client, url, message):
    owner = make.user()
    org = make.org(owner=owner)
    login(owner)
    response = client.post(f"/app/o/{org.slug}/settings/sso/idp/metadata-url", data={"metadata_url": url})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    form = page[page.index('id="metadata_url_form"'):]
    assert message in form[:form.index("</form>")]
    assert sso_config.get_connection(org.id) is None or not sso_config.get_connection(org.id).idp_entity_id
