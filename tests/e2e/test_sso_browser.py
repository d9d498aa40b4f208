"""In headless Chromium, the issue's "done means": an admin pastes the IdP's metadata, runs Test SSO,
turns on Require SSO; a new employee logs in through the IdP (a local pysaml2 IdP web server) and
lands in the workspace with the role their IdP group maps to; a replayed response is refused and
shows in the SSO log. Screenshots via tests/screenshots.py."""
import pytest
from sqlalchemy import select

from extensions import db
from models import Membership, Role, User
from services.events import SYSTEM
from services.sso import domains, saml
from tests.screenshots import screenshot
from tests.sso.conftest import idp_keys
from tests.sso.idp import TestIdP
from tests.sso.servers import IdpWebServer


@pytest.mark.browser
def test_admin_sets_up_sso_and_an_employee_logs_in(app, live_server, chromium, make, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", live_server.url)
    owner = make.user(email="olive@example.com", name="Olive Owner")
    org = make.org(owner=owner, name="Acme", slug="acme")
    domains.mark_verified(org, domains.add_domain(org, "acmecorp.com", SYSTEM), SYSTEM, "operator")
    db.session.commit()

    web = IdpWebServer(tls=True).start()
    contexts = []

    def browser_context():
        context = chromium.new_context(viewport={"width": 1280, "height": 860}, ignore_https_errors=True)
        # The IdP signs with an xmlsec1 subprocess on each login: slow when the machine is busy.
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context

    idp_user = {"email": "grace@acmecorp.com", "groups": ["Engineering"]}
    posted = []
    idp = None
    audience = saml.sp_entity_id(org.id)

    def on_login(path):  # runs on the IdP server's thread: no app context here
        request_id, relay_state, request = TestIdP.parse_authn_request(web.base_url + path)
        acs = request.assertion_consumer_service_url
        saml_response = idp.response(idp_user["email"], acs, audience, in_response_to=request_id,
                                     attributes={"groups": idp_user["groups"], "firstName": ["Grace"],
                                                 "lastName": ["Hopper"]})
        posted.append((saml_response, relay_state))
        return acs, saml_response, relay_state

    web.on_login = on_login
    try:
        admin = browser_context().new_page()
        admin.goto(f"{live_server.url}/login")
        admin.fill("input[name=email]", "olive@example.com")
        admin.fill("input[name=password]", make.PASSWORD)
        admin.click("button[type=submit]")
        admin.wait_for_url("**/app/workspaces")
        admin.goto(f"{live_server.url}/app/settings/sso")
        admin.wait_for_url("**/app/o/acme/settings/sso")

        sp_metadata = admin.request.get(admin.locator("#sp_metadata_url").input_value()).text()
        idp = TestIdP(sp_metadata, sso_url=web.base_url + "/sso", key_pair=idp_keys()["main"])
        admin.fill("#metadata_xml", idp.metadata_xml())
        admin.click("#metadata_form button[type=submit]")
        admin.locator("#idp_facts").wait_for()
        admin.fill("#mapping_form input[name=group_name]", "Engineering")
        admin.select_option("#mapping_form select[name=role]", "admin")
        admin.click("#mapping_form button[type=submit]")
        admin.locator("#mapping_rows").wait_for()

        # Test SSO: through the IdP and back to the outcome with the decoded attributes.
        admin.click("#test_sso")
        admin.click("#idp_continue")
        admin.wait_for_url("**/settings/sso/log/**")
        assert "Test login passed" in admin.locator("#attempt_outcome").inner_text()
        assert admin.locator("#attribute_rows", has_text="Engineering").count() == 1

        admin.goto(f"{live_server.url}/app/o/acme/settings/sso/require")
        assert admin.locator("#affected_count").inner_text() == "0"
        admin.click("#require_submit")
        admin.wait_for_url("**/settings/sso")
        assert admin.locator("#sso_status").inner_text() == "Required"
        screenshot(admin, "sso-settings")

        # A new employee: Continue with SSO on the login page, the IdP, and into the workspace.
        employee = browser_context().new_page()
        employee.goto(f"{live_server.url}/login")
        employee.click("text=Continue with SSO")
        employee.fill("#sso_discover_form input[name=email]", "grace@acmecorp.com")  # after htmx's swap
        employee.click("#sso_discover_form button[type=submit]")
        employee.click("#idp_continue")
        employee.wait_for_url("**/app/o/acme/")
        grace = User.by_email("grace@acmecorp.com")
        assert grace.name == "Grace Hopper"
        assert db.session.scalar(select(Membership.role).where(Membership.user_id == grace.id)) == Role.admin

        # The same response, replayed: refused, and in the SSO log.
        replay = browser_context().new_page()
        saml_response, relay_state = posted[-1]
        replay.set_content(f"<form method='post' action='{live_server.url}/sso/{org.id}/acs'>"
                           f"<input name='SAMLResponse' value='{saml_response}'><input name='RelayState' value='{relay_state}'>"
                           f"<button id='go'>go</button></form>")
        replay.click("#go")
        replay.locator("#sso_refused").wait_for()
        assert "already used" in replay.locator("#sso_refused_reason").inner_text()

        admin.goto(f"{live_server.url}/app/o/acme/settings/sso")
        assert admin.locator("#attempt_rows .attempt-refused").count() >= 1
        screenshot(admin.locator("#sso_log"), "sso-log")
    finally:
        for context in contexts:
            context.close()
        web.stop()
