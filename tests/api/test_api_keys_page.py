"""The API keys settings page, the CLI, and the rules that revoke keys with the person who made them."""
import re
from datetime import date, timedelta

from extensions import db
from models import ApiKey, AuditEvent, Membership, Role
from services import api_keys, orgs
from services.events import SYSTEM, Actor
from tests.api.conftest import bearer


def page_url(org):
    return f"/app/o/{org.slug}/settings/api-keys"


def test_short_path_leads_to_the_page(client, login, api_org):
    login(api_org.owner)
    response = client.get("/app/settings/api-keys")
    assert response.status_code == 302 and response.headers["Location"].endswith(page_url(api_org.org))


def test_empty_page_says_what_to_do_and_shows_curl_examples(client, login, api_org):
    login(api_org.owner)
    page = client.get(page_url(api_org.org)).get_data(as_text=True)
    assert "No API keys yet." in page
    assert 'id="example_members"' in page and "http://localhost/api/v1/members" in page
    assert 'data-copy="#example_webhook"' in page


def test_create_shows_the_key_once_and_stores_only_its_hash(client, login, api_org):
    login(api_org.owner)
    response = client.post(page_url(api_org.org), data={"name": "CRM sync", "scope": "write",
                                                         "expires_on": (date.today() + timedelta(days=30)).isoformat()})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    key = re.search(r'<code id="new_key">(ok_live_[0-9A-Za-z]+)</code>', page).group(1)
    assert len(key) == len("ok_live_") + 38 and api_keys.is_well_formed(key)
    row = db.session.scalar(db.select(ApiKey))
    assert row.key_hash == api_keys.hash_key(key) and key not in (row.prefix + row.last_four)
    assert row.scopes == ["read", "write"] and row.created_by_id == api_org.owner.id
    assert row.expires_at is not None
    # Shown once: the list no longer has it.
    again = client.get(page_url(api_org.org)).get_data(as_text=True)
    assert key not in again and f"{row.prefix}…{row.last_four}" in again and "CRM sync" in again
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "api_key.created"))
    assert event.actor_label == api_org.owner.email and event.data["api_key"]["scopes"] == ["read", "write"]


def test_create_refuses_bad_input_inline(client, login, api_org):
    login(api_org.owner)
    response = client.post(page_url(api_org.org), data={"name": "", "scope": "read"})
    assert response.status_code == 422 and "Give the key a name" in response.get_data(as_text=True)
    response = client.post(page_url(api_org.org), data={"name": "old", "scope": "read", "expires_on": "2001-01-01"})
    assert response.status_code == 422 and "in the future" in response.get_data(as_text=True)
    response = client.post(page_url(api_org.org), data={"name": "x", "scope": "superuser"})
    assert response.status_code == 422
    assert db.session.scalar(db.select(db.func.count(ApiKey.id))) == 0


def test_an_admin_cannot_create_an_admin_scope_key(client, login, api_org):
    login(api_org.admin)
    page = client.get(page_url(api_org.org)).get_data(as_text=True)
    assert 'value="write"' in page and 'value="admin"' not in page
    response = client.post(page_url(api_org.org), data={"name": "too much", "scope": "admin"})
    assert response.status_code == 422
    assert db.session.scalar(db.select(db.func.count(ApiKey.id))) == 0


def test_revoke_asks_then_takes_effect_on_the_next_request(client, login, api_org):
    key = api_org.key(["read"])
    row_id = api_org.key_row.id
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 200
    login(api_org.owner)
    confirm = client.get(f"{page_url(api_org.org)}/{row_id}/revoke")
    assert confirm.status_code == 200 and 'id="confirm_revoke"' in confirm.get_data(as_text=True)
    response = client.post(f"{page_url(api_org.org)}/{row_id}/revoke")
    assert response.status_code == 303
    refused = client.get("/api/v1/org", headers=bearer(key))
    assert refused.status_code == 401 and refused.get_json()["error"]["message"] == "This API key was revoked."
    assert "Revoked" in client.get(page_url(api_org.org)).get_data(as_text=True)


def test_list_shows_last_use_time_and_ip(client, login, api_org):
    key = api_org.key(["read"])
    client.get("/api/v1/org", headers=bearer(key), environ_base={"REMOTE_ADDR": "203.0.113.7"})
    login(api_org.owner)
    page = client.get(page_url(api_org.org)).get_data(as_text=True)
    assert "from 203.0.113.7" in page


def test_removing_a_member_revokes_the_keys_they_created(client, api_org):
    key = api_org.key(["read", "write"], created_by=api_org.admin)
    membership = db.session.scalar(db.select(Membership).where(Membership.user_id == api_org.admin.id))
    orgs.remove_member(api_org.org, membership, Actor.for_user(api_org.owner), acting_role=Role.owner)
    db.session.commit()
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 401
    row = db.session.get(ApiKey, api_org.key_row.id)
    assert row.revoked_reason == "creator_removed"


def test_leaving_revokes_the_keys_too(client, api_org):
    key = api_org.key(["read"], created_by=api_org.admin)
    membership = db.session.scalar(db.select(Membership).where(Membership.user_id == api_org.admin.id))
    orgs.leave_org(api_org.org, membership, Actor.for_user(api_org.admin))
    db.session.commit()
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 401


def test_keys_of_an_account_deactivated_everywhere_fail(client, api_org):
    key = api_org.key(["read"], created_by=api_org.admin)
    api_org.admin.is_deactivated = True
    db.session.commit()
    response = client.get("/api/v1/org", headers=bearer(key))
    assert response.status_code == 401 and "creator" in response.get_json()["error"]["message"]


def test_a_demoted_creator_keeps_only_their_new_reach(client, api_org):
    key = api_org.key(["read", "write"], created_by=api_org.admin)
    membership = db.session.scalar(db.select(Membership).where(Membership.user_id == api_org.admin.id))
    orgs.change_role(api_org.org, membership, Role.member, SYSTEM)
    db.session.commit()
    assert client.get("/api/v1/members", headers=bearer(key)).status_code == 200
    response = client.post("/api/v1/invitations", json={"email": "x@example.com", "role": "member"}, headers=bearer(key))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_revoke_keys_created_by_counts(api_org):
    api_org.key(["read"], created_by=api_org.admin)
    api_org.key(["read"], created_by=api_org.admin)
    api_org.key(["read"])
    assert api_keys.revoke_keys_created_by(api_org.org, api_org.admin, SYSTEM) == 2
    db.session.commit()
    assert api_keys.revoke_keys_created_by(api_org.org, api_org.admin, SYSTEM) == 0


def test_cli_creates_a_key_and_prints_it_last(app, client, api_org):
    result = app.test_cli_runner().invoke(args=["api-keys", "create", "--org", api_org.org.slug, "--name", "ops", "--scopes", "admin"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert api_keys.is_well_formed(key)
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 200
    row = db.session.scalar(db.select(ApiKey).where(ApiKey.name == "ops"))
    assert row.scopes == ["read", "write", "admin"] and row.created_by_id is None


def test_cli_refuses_bad_input_with_one_line(app, api_org):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api-keys", "create", "--org", "nope", "--name", "x"])
    assert result.exit_code != 0 and "No workspace" in result.output
    result = runner.invoke(args=["api-keys", "create", "--org", api_org.org.slug, "--name", "x", "--scopes", "root"])
    assert result.exit_code != 0 and "Unknown scope" in result.output


def test_scim_deactivation_revokes_the_persons_keys(client, api_org):
    from tests.scim.conftest import scim_for
    scim = scim_for(client, api_org.org)
    key = api_org.key(["read", "write"], created_by=api_org.admin)
    linked = scim.create_user(api_org.admin.email)
    response = scim.patch(f"/Users/{linked['id']}", [{"op": "replace", "path": "active", "value": False}])
    assert response.status_code == 200
    assert client.get("/api/v1/org", headers=bearer(key)).status_code == 401
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "scim.user.deactivated"))
    assert event.data["api_keys_revoked"] == 1
    assert db.session.get(ApiKey, api_org.key_row.id).revoked_reason == "creator_suspended"
