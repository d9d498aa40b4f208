"""The webhook screens in headless Chromium: reveal the secret (htmx), send a test event and watch the
message log update itself until it settles, open a message and an attempt. Saves screenshots."""
import pytest

from tests.receiver import Reply
from tests.screenshots import screenshot
from tests.webhooks.conftest import fire, make_endpoint


@pytest.mark.browser
def test_webhook_screens(app, make, live_server, browser_context, receiver, deliver, fast_retries):
    owner = make.user(email="ada@example.com", name="Ada Lovelace")
    org = make.org(owner=owner, name="Acme", slug="acme")
    crm = make_endpoint(org, receiver.url("/crm"), description="Sync members to the CRM",
                        all_events=False, event_types=["member.added", "member.removed", "member.role_changed"])
    make_endpoint(org, receiver.url("/audit"), description="Security data lake")
    receiver.script("/crm", [Reply(503, body=b'{"error":"maintenance"}', headers={"Retry-After": "0"}), Reply(500, body=b"Internal Server Error")])
    fire(org, 3)
    deliver()

    page = browser_context().new_page()
    page.goto(f"{live_server.url}/login")
    page.fill("#email", "ada@example.com")
    page.fill("#password", make.PASSWORD)
    page.click("#login_form button[type=submit]")
    page.wait_for_url("**/app/**")

    page.goto(f"{live_server.url}/app/o/acme/webhooks/")
    assert page.locator("#endpoint_rows tr").count() == 2
    screenshot(page, "webhooks-endpoints")

    page.click(f"text={crm.url}")
    page.wait_for_url(f"**/webhooks/{crm.id}")
    page.click("#reveal_secret")                                   # htmx swaps the secret box in
    page.wait_for_selector("#secret_value")
    assert page.input_value("#secret_value").startswith("whsec_")

    page.select_option("#event_type", "member.removed")
    page.click("#send_test")
    page.wait_for_selector("#delivery_rows[hx-trigger]")           # a pending message: the log polls
    assert "Pending" in page.inner_text("#delivery_rows")
    deliver()
    page.wait_for_function("() => !document.querySelector('#delivery_rows').hasAttribute('hx-trigger')", timeout=15_000)
    assert "Pending" not in page.inner_text("#delivery_rows")     # settled in place (286 stopped polling)
    page.reload()
    screenshot(page, "webhooks-message-log")

    page.click("#delivery_rows tr:last-child td:first-child a")
    page.wait_for_selector("#attempt_rows")
    screenshot(page, "webhooks-message")
    page.click("#attempt_rows tr:last-child a:has-text('Details')")
    page.wait_for_selector("#request_headers")
    assert "webhook-signature" in page.inner_text("#request_headers")
    screenshot(page, "webhooks-attempt")

    page.goto(f"{live_server.url}/app/o/acme/webhooks/catalog")
    assert page.locator("#event-member\\.added").count() == 1
