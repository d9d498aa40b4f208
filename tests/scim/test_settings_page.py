"""The SCIM settings page: turning SCIM on, tokens shown once, revoking, role mapping, the request log,
the operator CLI, and a screenshot from a real browser."""
import re

import pytest
from sqlalchemy import select

from extensions import db
from models import AuditEvent, Role, ScimGroup, ScimToken
from services.scim import settings
from tests.scim.conftest import scim_for
from tests.screenshots import screenshot


@pytest.fixture
def admin_org(make, login):
    owner = make.user(email="owner@acme.example.com", name="Olive Owner")
    org = make.org(owner=owner, name="Acme", slug="acme")
    login(owner)
    return org


def test_enable_generate_token_once_and_use_it(client, admin_org):
    page = client.get("/app/o/acme/settings/scim")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="scim_status">Off' in html and "http://localhost/scim/v2" in html and "No tokens yet." in html
    assert client.post("/app/o/acme/settings/scim/enabled", data={"enabled": "on"}).status_code == 303
    created = client.post("/app/o/acme/settings/scim/tokens")
    token = re.search(r'<code id="new_token">(okscim_[^<]+)</code>', created.get_data(as_text=True)).group(1)
    assert len(token) > 40
    again = client.get("/app/o/acme/settings/scim").get_data(as_text=True)
    assert token not in again and token[:11] in again and "Never" in again
    response = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    log = client.get("/app/o/acme/settings/scim", headers={"HX-Request": "true", "HX-Target": "request_log_rows"})
    fragment = log.get_data(as_text=True).strip()
    assert fragment.startswith('<tbody id="request_log_rows"') and "GET /scim/v2/Users" in fragment and "0 found" in fragment
    row = db.session.scalar(select(ScimToken))
    assert row.token_hash == settings.hash_token(token) and token not in row.prefix


def test_at_most_two_live_tokens_and_revoke_with_confirmation(client, admin_org):
    client.post("/app/o/acme/settings/scim/tokens")
    client.post("/app/o/acme/settings/scim/tokens")
    third = client.post("/app/o/acme/settings/scim/tokens")
    assert third.status_code == 422 and "Two tokens are already live" in third.get_data(as_text=True)
    token = db.session.scalars(select(ScimToken)).first()
    confirm = client.get(f"/app/o/acme/settings/scim/tokens/{token.id}/revoke")
    assert confirm.status_code == 200 and 'id="confirm_revoke"' in confirm.get_data(as_text=True)
    assert client.post(f"/app/o/acme/settings/scim/tokens/{token.id}/revoke").status_code == 303
    db.session.expire_all()
    assert db.session.get(ScimToken, token.id).revoked_at is not None
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert actions.count("scim.token.created") == 2 and "scim.token.revoked" in actions


def test_group_role_mapping_from_the_page(client, admin_org):
    scim = scim_for(client, admin_org)
    person = scim.create_user("eng@example.com")
    group = scim.create_group("Engineering", [person["id"]])
    page = client.get("/app/o/acme/settings/scim").get_data(as_text=True)
    assert "Engineering" in page and "No group is mapped yet" in page
    prefix = "g" + group["id"].replace("-", "")
    assert client.post(f"/app/o/acme/settings/scim/groups/{group['id']}/role", data={f"{prefix}-role": "viewer"}).status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(ScimGroup)).role == Role.viewer
    from models import Membership, User
    account = User.by_email("eng@example.com")
    assert db.session.scalar(select(Membership.role).where(Membership.user_id == account.id)) == Role.viewer
    assert client.post("/app/o/acme/settings/scim/default-role", data={"default_role": "owner"}).status_code == 422


def test_other_orgs_tokens_and_groups_are_404(client, admin_org, make):
    other = make.org(name="Globex", slug="globex")
    row, _ = settings.create_token(other, __import__("services.events", fromlist=["SYSTEM"]).SYSTEM)
    db.session.commit()
    assert client.get(f"/app/o/acme/settings/scim/tokens/{row.id}/revoke").status_code == 404
    assert client.post(f"/app/o/acme/settings/scim/tokens/{row.id}/revoke").status_code == 404
    assert client.get("/app/o/globex/settings/scim").status_code == 404


def test_members_cannot_manage_scim(client, make, login):
    org = make.org(slug="acme")
    member = make.member(org, role=Role.member)
    login(member)
    assert client.get("/app/o/acme/settings/scim").status_code == 403
    assert client.post("/app/o/acme/settings/scim/tokens").status_code == 403


def test_cli_prints_the_token_on_its_last_line(app, make, client):
    org = make.org(slug="cli-org")
    settings.set_enabled(org, True, __import__("services.events", fromlist=["SYSTEM"]).SYSTEM)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["scim", "tokens", "create", "--org", "cli-org"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("okscim_")
    assert client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    missing = app.test_cli_runner().invoke(args=["scim", "tokens", "create", "--org", "nope"])
    assert missing.exit_code != 0 and "No workspace" in missing.output


@pytest.mark.browser
def test_settings_page_in_a_browser(live_server, browser_context, make, client):
    owner = make.user(email="it.admin@acme.example.com", name="Ivy Admin")
    org = make.org(owner=owner, name="Acme", slug="acme")
    scim = scim_for(client, org)
    ada = scim.create_user("ada@acme.example.com", displayName="Ada Lovelace")
    scim.create_group("Engineering", [ada["id"]])
    scim.patch(f"/Users/{ada['id']}", [{"op": "replace", "path": "title", "value": "Chief Engineer"}])
    scim.get('/Users?filter=userName eq "nobody@acme.example.com"')
    page = browser_context().new_page()
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", "it.admin@acme.example.com")
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{live_server.url}/app/o/acme/settings/scim")
    assert page.locator("#scim_status").inner_text() == "On"
    page.click("#generate_token")
    assert page.locator("#new_token").inner_text().startswith("okscim_")
    assert page.locator("#request_log").get_by_text("created user ada@acme.example.com").count() == 1
    screenshot(page, "scim-settings")
