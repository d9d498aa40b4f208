"""In headless Chromium, the htmx layer's defects of issue 16: secrets never come back with Back, nor
anything after logout (item 1); a boosted link that fails shows the error page (item 4); a failed
submit moves focus to the first error, tied to its field (item 5); Back/Forward keep filters in sync
with the results, and Enter in the audit Actor field sends one request (item 8)."""
import pytest

HISTORY = "sessionStorage.getItem('htmx-history-cache') || ''"


def nav_click(page, selector, url_glob):
    page.locator(selector).first.click()
    page.wait_for_url(url_glob)


@pytest.mark.browser
def test_secrets_never_come_back_with_back_nor_after_logout(world, live_server, browser_context, sign_in):
    page = sign_in(browser_context().new_page(), live_server.url)
    base = live_server.url
    # An API key, shown once after a boosted form post.
    page.goto(f"{base}/app/o/acme/settings/api-keys")
    page.fill("#name", "Nightly export")
    page.locator("#create_key_form input[name=scope]").first.check()
    page.click("#create_key")
    key = page.locator("#new_key").inner_text()
    assert key.startswith("ok_")
    # Away through the org nav (a boosted navigation: htmx would snapshot the page it leaves)...
    nav_click(page, "nav.sidebar a[href$='/members']", "**/app/o/acme/members")
    assert key not in page.evaluate(HISTORY)
    # ... and Back: the API keys page again, without the key.
    page.go_back()
    page.wait_for_url("**/settings/api-keys")
    page.locator("#create_key_form").wait_for()
    assert key not in page.content() and page.locator("#new_key").count() == 0

    # A revealed webhook signing secret, with the account menu open.
    page.goto(f"{base}{world.urls['webhook-endpoint']}")
    page.click("#reveal_secret")
    secret = page.input_value("#secret_value")
    assert secret.startswith("whsec_")
    page.click("#user_menu summary")
    nav_click(page, "nav.sidebar a[href$='/audit']", "**/app/o/acme/audit")
    assert secret not in page.evaluate(HISTORY)
    page.go_back()
    page.wait_for_url(f"**{world.urls['webhook-endpoint']}")
    page.locator("#reveal_secret").wait_for()
    assert secret not in page.content()

    # Log out: the history cache is emptied, and Back shows the login page, not the org's data.
    page.goto(f"{base}/app/o/acme/members")
    nav_click(page, "nav.sidebar a[href$='/audit']", "**/app/o/acme/audit")
    page.click("#user_menu summary")
    page.click("#logout_button")
    page.wait_for_url("**/login**")
    assert page.evaluate(HISTORY) == ""
    page.go_back()
    page.locator("#login_form").wait_for()
    assert "Olive Owner" not in page.content() and "Acme Corporation" not in page.content()


@pytest.mark.browser
def test_a_boosted_link_that_fails_shows_the_error_page(world, live_server, browser_context, sign_in, make):
    page = sign_in(browser_context().new_page(), live_server.url)
    # A viewer's link to a page they may not open: the 403 page names the role it needs.
    viewer = make.user(email="viv@example.com", name="Viv Viewer")
    from models import Role
    make.member(world.org, Role.viewer, user_=viewer)
    page.goto(f"{live_server.url}/app/o/acme/")
    page.evaluate("""() => { const a = document.createElement('a'); a.id = 'broken'; a.href = '/app/o/acme/no-such-page';
                              a.textContent = 'broken'; document.querySelector('main').appendChild(a); htmx.process(a); }""")
    page.click("#broken")
    page.locator(".error-code", has_text="404").wait_for()
    assert page.url.endswith("/app/o/acme/no-such-page") and page.locator("h1").inner_text() == "Page not found"

    viewer_page = sign_in(browser_context().new_page(), live_server.url, email="viv@example.com")
    viewer_page.goto(f"{live_server.url}/app/o/acme/members")
    viewer_page.evaluate("""() => { const a = document.createElement('a'); a.id = 'audit'; a.href = '/app/o/acme/audit';
                                     a.textContent = 'audit'; document.querySelector('main').appendChild(a); htmx.process(a); }""")
    viewer_page.click("#audit")
    viewer_page.locator(".error-code", has_text="403").wait_for()
    text = viewer_page.locator("main").inner_text()
    assert "Owners and admins" in text and "You are a viewer" in text


@pytest.mark.browser
def test_a_failed_submit_moves_focus_to_the_first_error_tied_to_its_field(world, live_server, browser_context, sign_in):
    page = sign_in(browser_context().new_page(), live_server.url)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/app/o/acme/settings/api-keys")
    page.fill("#name", "")
    page.click("#create_key")
    page.locator("#name_error").wait_for()
    assert page.evaluate("document.activeElement.id") == "name"
    assert page.get_attribute("#name", "aria-invalid") == "true"
    assert "name_error" in page.get_attribute("#name", "aria-describedby").split()
    # The field is on screen, not 600 px below the fold.
    assert page.evaluate("(() => { const r = document.getElementById('name').getBoundingClientRect();"
                         " return r.top >= 0 && r.bottom <= window.innerHeight; })()")


@pytest.mark.browser
def test_back_and_forward_keep_filters_in_sync_and_enter_sends_one_request(world, live_server, browser_context, sign_in):
    page = sign_in(browser_context().new_page(), live_server.url)
    base = live_server.url
    page.goto(f"{base}/app/o/acme/members")
    page.fill("#q", "ada")
    page.press("#q", "Enter")
    page.wait_for_url("**/members?q=ada")
    page.locator("#member_total", has_text="matching “ada”").wait_for()
    page.fill("#q", "vic")
    page.press("#q", "Enter")
    page.wait_for_url("**/members?q=vic")
    page.locator("#member_total", has_text="matching “vic”").wait_for()
    page.go_back()
    page.wait_for_url("**/members?q=ada")
    page.locator("#member_total", has_text="matching “ada”").wait_for()
    assert page.input_value("#q") == "ada"
    page.go_back()
    page.wait_for_url("**/members")
    assert page.input_value("#q") == ""
    page.go_forward()
    page.wait_for_url("**/members?q=ada")
    assert page.input_value("#q") == "ada"

    # The audit log's Actor field: Enter sends one request and adds one history entry.
    page.goto(f"{base}/app/o/acme/audit")
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/audit?" in r.url else None)
    length_before = page.evaluate("history.length")
    page.fill("#actor", "ada@example.com")
    page.press("#actor", "Enter")
    page.wait_for_url("**/audit?**actor=ada%40example.com**")
    with page.expect_request(f"{base}/healthz"):
        page.evaluate("fetch('/healthz')")
    assert len(requests) == 1, requests
    assert page.evaluate("history.length") == length_before + 1
    page.fill("#actor", "")
    page.select_option("#action", "member.role_changed")
    page.wait_for_url("**/audit?**action=member.role_changed**")
    page.go_back()
    page.wait_for_url("**actor=ada%40example.com**")
    assert page.input_value("#actor") == "ada@example.com" and page.input_value("#action") == ""


@pytest.mark.browser
def test_the_message_log_stops_checking_while_the_tab_is_hidden(world, live_server, browser_context, sign_in):
    """Issue 16 item 10: a pending log re-checks with backoff, and not at all while nobody looks."""
    from tests.webhooks.conftest import fire

    fire(world.org, 1)  # not delivered: the endpoint's log has a pending message
    page = sign_in(browser_context().new_page(), live_server.url)
    page.goto(live_server.url + world.urls["webhook-endpoint"])
    assert page.get_attribute("#delivery_rows", "data-poll-delay") == "2"
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "poll=" in r.url else None)
    page.evaluate("""() => { window.prevented = 0;
        document.addEventListener('htmx:beforeRequest', e => setTimeout(() => { if (e.defaultPrevented) window.prevented++; }));
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        document.dispatchEvent(new Event('visibilitychange')); }""")
    page.wait_for_function("() => window.prevented >= 1", timeout=15_000)
    with page.expect_request(f"{live_server.url}/healthz"):
        page.evaluate("fetch('/healthz')")
    assert polls == []
    with page.expect_request(lambda r: "poll=1" in r.url):
        page.evaluate("""() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
                                 document.dispatchEvent(new Event('visibilitychange')); }""")


@pytest.mark.browser
def test_keyboard_skip_link_and_escape_closes_menus(world, live_server, browser_context, sign_in):
    """Issue 16 item 11: the first Tab reaches "Skip to content"; Escape closes a menu, focus returns."""
    page = sign_in(browser_context().new_page(), live_server.url)
    page.goto(live_server.url + world.urls["members"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.click("#user_menu summary")
    assert page.get_attribute("#user_menu", "open") is not None
    page.keyboard.press("Escape")
    assert page.get_attribute("#user_menu", "open") is None
    assert page.evaluate("document.activeElement.closest('#user_menu') !== null")
