"""Done means (issue 5), in headless Chromium and over real HTTP: an admin creates a key on the API
keys page, a script lists members and registers a webhook endpoint with it, the admin revokes the key
(confirm dialog) and the script's next call gets 401. Screenshots via tests/screenshots.py."""
import json
import re
import urllib.error
import urllib.request

import pytest

from models import Role
from tests.screenshots import screenshot


def script_call(base_url, key, method, path, body=None):
    """What an org's own script does: plain urllib, a bearer key, JSON."""
    request = urllib.request.Request(
        base_url + "/api/v1" + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.mark.browser
def test_admin_creates_a_key_a_script_uses_it_then_revocation_stops_it(live_server, browser_context, make):
    owner = make.user(email="olive@example.com", name="Olive Owner")
    org = make.org(owner=owner, name="Acme", slug="acme")
    make.member(org, Role.admin, user_=make.user(email="ada@example.com", name="Ada Admin"))
    make.member(org, Role.member, user_=make.user(email="mia@example.com", name="Mia Member", password=None))
    page = browser_context().new_page()
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", "ada@example.com")
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/workspaces")

    page.goto(f"{live_server.url}/app/settings/api-keys")
    page.wait_for_url("**/app/o/acme/settings/api-keys")
    page.fill("input[name=name]", "CRM sync")
    page.check("input[name=scope][value=write]")
    page.click("#create_key")
    key = page.locator("#new_key").inner_text().strip()
    assert re.fullmatch(r"ok_live_[0-9A-Za-z]{38}", key)
    screenshot(page, "api-key-created")

    status, members = script_call(live_server.url, key, "GET", "/members")
    assert status == 200 and {m["user"]["email"] for m in members["data"]} == {"olive@example.com", "ada@example.com", "mia@example.com"}
    status, endpoint = script_call(live_server.url, key, "POST", "/webhook-endpoints",
                                   {"url": "http://127.0.0.1:9/orgkit", "event_types": ["member.added"]})
    assert status == 201 and endpoint["secret"].startswith("whsec_")

    page.goto(f"{live_server.url}/app/o/acme/settings/api-keys")
    row = page.locator("#key_rows tbody tr", has_text="CRM sync")
    assert "from 127.0.0.1" in row.inner_text()  # last used, with the script's IP
    screenshot(page, "api-keys")

    row.locator("text=Revoke").click()
    page.locator("#confirm_dialog_confirm").click()
    page.locator("#key_rows", has_text="Revoked").wait_for()

    status, error = script_call(live_server.url, key, "GET", "/members")
    assert status == 401 and error["error"]["code"] == "unauthorized"
    page.goto(f"{live_server.url}/app/o/acme/audit")
    assert page.locator("#audit_rows code", has_text="webhook.endpoint.created").count() == 1
    assert page.locator("#audit_rows code", has_text="api_key.revoked").count() == 1


@pytest.mark.browser
def test_the_api_reference_page_renders_the_openapi_document(live_server, browser_context):
    page = browser_context().new_page()
    page.goto(f"{live_server.url}/api/v1/reference")
    assert page.locator("#members_list h2").inner_text().startswith("GET")
    assert page.locator("#schema-Member").count() == 1
    screenshot(page, "api-reference", full_page=False)
