"""In headless Chromium, the issue's "done means" for setup links: an owner makes a link; the IT admin
opens it, verifies the domain (the TXT record re-checked live), sets up single sign-on against the
pysaml2 test IdP (metadata, group mapping, Test SSO with the decoded assertion, Save) and finishes; a
new employee then logs in through the IdP. Another IT admin turns SCIM on through a link and the
scim2-tester compliance checker runs with the token the page showed. Every setup page is checked with
axe-core and for horizontal overflow at 1440 and 390 px wide."""
import re

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server
from sqlalchemy import select

from extensions import db
from models import Membership, Role, SetupLink, User
from tests.scim.test_conformance import NOT_APPLICABLE, PASSING
from tests.screenshots import screenshot
from tests.setup_links.conftest import code_in
from tests.sso.conftest import idp_keys
from tests.sso.idp import TestIdP
from tests.sso.servers import DnsServer, IdpWebServer

WIDTHS = {"desktop": (1440, 900), "phone": (390, 844)}
DOMAIN = "acmecorp.com"


def screen_problems(page, name):
    """axe-core violations and horizontal overflow of the page as it is, at both widths."""
    from tests.screens.conftest import page_overflow, run_axe
    problems = []
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        problems += [f"{name} @ {width}px: axe {violation}" for violation in run_axe(page)]
        overflow = page_overflow(page)
        if overflow["over"]:
            problems.append(f"{name} @ {width}px: {overflow['over']} px wider than the window: {overflow['culprits']}")
    page.set_viewport_size({"width": 1280, "height": 860})
    return problems


def sign_in(page, base_url, email, password):
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("#login_form button[type=submit]")
    page.wait_for_url("**/app/**")


@pytest.fixture
def contexts(chromium):
    made = []

    def _new():
        context = chromium.new_context(viewport={"width": 1280, "height": 860}, ignore_https_errors=True)
        context.set_default_timeout(20_000)  # the IdP signs with an xmlsec1 subprocess: slow on a busy machine
        made.append(context)
        return context
    yield _new
    for context in made:
        context.close()


@pytest.mark.browser
def test_it_admin_sets_up_domain_and_sso_through_an_emailed_link(app, live_server, contexts, make, monkeypatch,
                                                                 smtp_server, run_jobs):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", live_server.url)
    dns = DnsServer().start()
    monkeypatch.setitem(app.config, "SSO_DNS_RESOLVER", dns.address)
    web = IdpWebServer(tls=True).start()
    owner = make.user(email="olive@example.com", name="Olive Owner")
    make.org(owner=owner, name="Acme Corporation", slug="acme")
    problems = []
    idp = None
    idp_user = {"email": f"it@{DOMAIN}", "groups": ["Engineering"]}

    def on_login(path):  # on the IdP server's thread
        request_id, relay_state, request = TestIdP.parse_authn_request(web.base_url + path)
        acs = request.assertion_consumer_service_url
        response = idp.response(idp_user["email"], acs, sp_entity_id, in_response_to=request_id,
                                attributes={"groups": idp_user["groups"], "firstName": ["Grace"], "lastName": ["Hopper"]})
        return acs, response, relay_state

    web.on_login = on_login
    try:
        # The owner makes a link for SSO and domains, emailed to the IT admin.
        olive = contexts().new_page()
        sign_in(olive, live_server.url, owner.email, make.PASSWORD)
        olive.goto(f"{live_server.url}/app/o/acme/settings/setup-links")
        problems += screen_problems(olive, "setup-links (empty)")
        olive.check("#create_link_form input[value=sso]")
        olive.check("#create_link_form input[value=domains]")
        olive.fill("#send_to", "it@acmecorp.com")
        olive.click("#create_link")
        olive.locator("#new_link").wait_for()
        problems += screen_problems(olive, "setup-links (created)")
        screenshot(olive, "setup-links-owner")

        run_jobs(["email"])
        [invite] = [m for m in smtp_server.wait_for(2) if m["To"] == "it@acmecorp.com"]
        url = re.search(r"(http://\S+/setup/oksetup_\S+)", invite.get_body(("plain",)).get_content()).group(1)

        # The IT admin opens it: a code is emailed to the same address first.
        it = contexts().new_page()
        it.goto(url)
        problems += screen_problems(it, "setup code")
        it.click("#send_code")
        it.locator("#code_sent").wait_for()
        run_jobs(["email"])
        code = code_in([m for m in smtp_server.wait_for(3) if m["To"] == "it@acmecorp.com"][-1])
        it.fill("#code", code)
        it.click("#verify_code")
        it.locator("#provider_form").wait_for()
        assert "oksetup_" not in it.url  # the token left the address bar
        assert it.locator("#setup_brand").inner_text() == "Acme Corporation"
        it.check("#provider_form input[value=okta]")
        it.click("#provider_submit")
        it.locator("#provider_chosen").wait_for()
        problems += screen_problems(it, "setup home")
        screenshot(it, "setup-link-home")
        it.set_viewport_size({"width": 390, "height": 844})
        screenshot(it, "setup-link-home-phone")
        it.set_viewport_size({"width": 1280, "height": 860})

        # Domain: add it, publish the TXT record, and the page flips to Verified by itself (htmx polling).
        it.click("#open-domains")
        it.fill("#domain", DOMAIN)
        it.click("#add_domain_submit")
        it.locator(".domain-row").wait_for()
        record = it.locator(".domain-row input[readonly]").input_value()
        problems += screen_problems(it, "setup domains")
        screenshot(it, "setup-link-domains")
        dns.txt[DOMAIN] = [record]
        it.locator(".domain-row .badge-success").wait_for()

        # SSO in Okta's words: the SP values, the IdP's metadata, a group mapping, Test SSO, Save.
        it.click(".page-back a")
        it.click("#open-sso")
        assert it.locator("label[for=sp_acs_url]").inner_text() == "Single sign-on URL"
        sp_metadata = it.request.get(it.locator("#sp_metadata_url").input_value()).text()
        sp_entity_id = it.locator("#sp_entity_id").input_value()
        idp = TestIdP(sp_metadata, sso_url=web.base_url + "/sso", key_pair=idp_keys()["main"])
        it.fill("#metadata_xml", idp.metadata_xml())
        it.click("#metadata_form button[type=submit]")
        it.locator("#idp_facts").wait_for()
        it.fill("#mapping_form input[name=group_name]", "Engineering")
        it.select_option("#mapping_form select[name=role]", "admin")
        it.click("#mapping_form button[type=submit]")
        it.locator("#mapping_rows").wait_for()
        problems += screen_problems(it, "setup sso")
        screenshot(it, "setup-link-sso")
        it.click("#test_sso")
        it.click("#idp_continue")
        it.wait_for_url("**/sso/test/**")
        assert "Passed" in it.locator("#attempt_outcome").inner_text()
        assert it.locator("#attribute_rows", has_text="Engineering").count() == 1
        problems += screen_problems(it, "setup sso test")
        screenshot(it, "setup-link-sso-test")
        it.click("#save_sso")
        it.locator("#sso_saved").wait_for()
        it.click(".page-back a")
        it.click("#finish_submit")
        it.locator("#setup_finished").wait_for()
        problems += screen_problems(it, "setup finished")
        link = db.session.scalar(select(SetupLink))
        assert link.completed_at is not None and set(link.done) == {"sso", "domains"}

        # A new employee logs in through the IdP and gets the mapped role.
        idp_user.update(email=f"grace@{DOMAIN}")
        employee = contexts().new_page()
        employee.goto(f"{live_server.url}/login")
        employee.click("text=Continue with SSO")
        employee.fill("#sso_discover_form input[name=email]", f"grace@{DOMAIN}")
        employee.click("#sso_discover_form button[type=submit]")
        employee.click("#idp_continue")
        employee.wait_for_url("**/app/o/acme/")
        grace = User.by_email(f"grace@{DOMAIN}")
        assert grace.name == "Grace Hopper"
        assert db.session.scalar(select(Membership.role).where(Membership.user_id == grace.id)) == Role.admin

        # The owner sees the link completed, and the setup's own emails told her.
        olive.goto(f"{live_server.url}/app/o/acme/settings/setup-links")
        assert "Completed" in olive.locator(f"#link-{link.id}").inner_text()
    finally:
        web.stop()
        dns.stop()
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_it_admin_turns_scim_on_through_a_link_and_scim2_tester_passes_with_its_token(app, live_server, contexts, make,
                                                                                   monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", live_server.url)
    # scim2-tester sends its requests back to back, faster than the default per-token limit.
    monkeypatch.setitem(app.config, "SCIM_RATE_LIMIT", "100000 per minute")
    owner = make.user(email="olive@example.com", name="Olive Owner")
    org = make.org(owner=owner, name="Conformance", slug="conformance")
    from services import setup_links
    from services.events import Actor
    _, token = setup_links.create_link(org, Actor.for_user(owner), ["scim"], created_by=owner)
    db.session.commit()

    it = contexts().new_page()
    it.goto(f"{live_server.url}/setup/{token}")
    it.check("#provider_form input[value=okta]")
    it.click("#provider_submit")
    # #open-scim is on the page before and after the boosted post: a click before the swap is lost to it.
    it.locator("#provider_chosen").wait_for()
    it.click("#open-scim")
    it.locator("#scim_enable").wait_for()  # the boosted swap is done before axe looks at the page
    problems = screen_problems(it, "setup scim")
    it.click("#scim_enable")
    scim_token = it.locator("#scim_token").inner_text().strip()
    base_url = it.locator("#scim_base_url").input_value()
    assert base_url == f"{live_server.url}/scim/v2"
    assert it.locator("label[for=scim_base_url]").inner_text() == "SCIM connector base URL"
    problems += screen_problems(it, "setup scim token")

    http = httpx2.Client(base_url=base_url, headers={"Authorization": f"Bearer {scim_token}"}, timeout=20)
    try:
        # The IdP's first pushes arrive in the page's live log (htmx polling), each said in words.
        user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "grace@conformance.example",
                "name": {"givenName": "Grace", "familyName": "Hopper"}, "active": True}
        assert http.post("/Users", json=user).status_code == 201
        assert http.post("/Users", json=user).status_code == 409
        assert http.post("/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                          "displayName": "Engineering"}).status_code == 201
        it.locator("#scim_request_rows .scim-request", has_text="Engineering").wait_for()
        assert it.locator("#scim_request_rows .scim-request-refused").count() == 1
        problems += screen_problems(it, "setup scim log")
        screenshot(it, "setup-link-scim")

        results = check_server(SyncSCIMClient(http))
    finally:
        http.close()
    failures = [(r.title, r.resource_type, r.status.name, r.reason) for r in results
                if r.status not in PASSING and r.title not in NOT_APPLICABLE]
    assert len(results) > 20 and failures == []
    assert not problems, "\n".join(problems)
