"""The webhook pages: what an org admin sees and does, bad input, polling, and tenant isolation."""
import re

import pytest
from sqlalchemy import select

from extensions import db
from models import AuditEvent, Role, WebhookDelivery, WebhookEndpoint
from services import webhooks
from tests.permission_params import PARAM_FACTORIES
from tests.receiver import Reply
from tests.webhooks.conftest import fire, make_endpoint, verify


@pytest.fixture
def admin_org(make, login):
    owner = make.user(email="owner@example.com")
    org = make.org(owner=owner, slug="acme")
    login(owner)
    return org


def base(org):
    return f"/app/o/{org.slug}/webhooks"


def test_empty_state_then_add_endpoint(client, admin_org, receiver):
    page = client.get(base(admin_org) + "/")
    assert page.status_code == 200 and b"No webhook endpoints yet." in page.data
    response = client.post(base(admin_org) + "/new", data={
        "url": receiver.url(), "description": "CRM sync", "events": "chosen", "event_types": ["member.added", "member.removed"]})
    assert response.status_code == 303
    endpoint = db.session.scalar(select(WebhookEndpoint))
    assert response.headers["Location"].endswith(f"/webhooks/{endpoint.id}")
    assert endpoint.event_types == ["member.added", "member.removed"] and not endpoint.all_events
    assert endpoint.created_by.email == "owner@example.com"
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.endpoint.created"))
    assert audit.actor_label == "owner@example.com" and audit.data["endpoint"]["url"] == receiver.url()
    listing = client.get(base(admin_org) + "/").get_data(as_text=True)
    assert receiver.url() in listing and "CRM sync" in listing and "No attempts" in listing


@pytest.mark.parametrize("form, field_message", [
    ({"url": ""}, "Enter a URL."),
    ({"url": "not a url"}, "cannot contain spaces"),
    ({"url": "hooks.example.com"}, "Enter a full URL starting with https://."),
    ({"url": "ftp://93.184.216.34/x"}, "Only https:// URLs are supported, not ftp://."),
    ({"url": "https://10.0.0.1/hook"}, "10.0.0.1 is a private network address"),
    ({"url": "https://169.254.169.254/latest/meta-data"}, "cloud metadata"),
    ({"url": "https://[::ffff:127.0.0.1]/"}, "IPv6 form of 127.0.0.1"),
    ({"url": "https://no-such-host.invalid/"}, "does not resolve"),
    ({"url": "https://93.184.216.34/" + "a" * 2100}, "at most 2048 characters"),
    ({"url": "https://93.184.216.34/", "description": "x" * 201}, "Use at most 200 characters."),
    ({"url": "https://93.184.216.34/", "events": "chosen", "event_types": ["member.added", "nope.nothing"]}, "Unknown event type: nope.nothing"),
    ({"url": "https://93.184.216.34/", "events": "chosen"}, "Choose at least one event type"),
])
def test_bad_input_gets_an_inline_error(client, admin_org, form, field_message):
    response = client.post(base(admin_org) + "/new", data=form)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert field_message in text.replace("&#39;", "'") and 'class="field-error"' in text
    assert db.session.scalar(select(db.func.count()).select_from(WebhookEndpoint)) == 0


def test_loopback_names_are_refused_without_the_allowlist(app, client, admin_org, monkeypatch):
    monkeypatch.setitem(app.config, "EGRESS_ALLOWLIST", "")
    response = client.post(base(admin_org) + "/new", data={"url": "http://localhost:8080/hook", "events": "all"})
    assert response.status_code == 422
    assert "localhost resolves to" in response.get_data(as_text=True) and "loopback" in response.get_data(as_text=True)


def test_edit_endpoint(client, admin_org, receiver):
    endpoint = make_endpoint(admin_org, receiver.url("/a"))
    page = client.get(f"{base(admin_org)}/{endpoint.id}/edit")
    assert page.status_code == 200 and receiver.url("/a") in page.get_data(as_text=True)
    bad = client.post(f"{base(admin_org)}/{endpoint.id}/edit", data={"url": "https://192.168.0.1/", "events": "all"})
    assert bad.status_code == 422 and b"private network" in bad.data
    response = client.post(f"{base(admin_org)}/{endpoint.id}/edit", data={"url": receiver.url("/b"), "description": "new", "events": "all"})
    assert response.status_code == 303
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert endpoint.url == receiver.url("/b") and endpoint.description == "new"
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.endpoint.updated"))
    assert audit.data["changes"]["url"] == [receiver.url("/a"), receiver.url("/b")]


def test_reveal_rotate_and_end_overlap(client, admin_org, receiver):
    endpoint = make_endpoint(admin_org, receiver.url())
    show = client.get(f"{base(admin_org)}/{endpoint.id}").get_data(as_text=True)
    secret = webhooks.current_secret(endpoint)
    assert secret not in show and 'id="reveal_secret"' in show
    revealed = client.get(f"{base(admin_org)}/{endpoint.id}/secret", headers={"HX-Request": "true", "HX-Target": "endpoint_secret"})
    assert revealed.status_code == 200 and revealed.headers["Cache-Control"] == "no-store"
    assert secret in revealed.get_data(as_text=True) and "<html" not in revealed.get_data(as_text=True)
    assert secret in client.get(f"{base(admin_org)}/{endpoint.id}/secret").get_data(as_text=True)  # no-JS path
    reveals = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "webhook.endpoint.secret_revealed")).all()
    assert len(reveals) == 2 and reveals[0].actor_type == "user" and secret not in str(reveals[0].data)

    response = client.post(f"{base(admin_org)}/{endpoint.id}/secret/rotate", data={"previous": "overlap"})
    assert response.status_code == 303
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert webhooks.current_secret(endpoint) != secret and len(webhooks.signing_secrets(endpoint)) == 2
    page = client.get(f"{base(admin_org)}/{endpoint.id}").get_data(as_text=True)
    assert 'id="overlap_notice"' in page
    client.post(f"{base(admin_org)}/{endpoint.id}/secret/end-overlap")
    assert len(webhooks.signing_secrets(db.session.get(WebhookEndpoint, endpoint.id))) == 1
    rotations = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "webhook.endpoint.secret_rotated")).all()
    assert len(rotations) == 2


def test_send_test_event_and_poll_until_settled(client, admin_org, receiver, deliver):
    endpoint = make_endpoint(admin_org, receiver.url())
    response = client.post(f"{base(admin_org)}/{endpoint.id}/test", data={"event_type": "member.added"})
    assert response.status_code == 303
    page = client.get(f"{base(admin_org)}/{endpoint.id}").get_data(as_text=True)
    assert 'hx-trigger="load delay:2s, poll-resume"' in page and "Pending" in page
    region = {"HX-Request": "true", "HX-Target": "delivery_rows"}
    poll = client.get(f"{base(admin_org)}/{endpoint.id}?status=all&page=1&poll=1", headers=region)
    assert poll.status_code == 200 and poll.get_data(as_text=True).lstrip().startswith("<tbody")
    # Each round asks the next one to wait longer, up to a minute (issue 16: no 2 s re-checks for hours).
    assert 'poll=2"' in poll.text and "load delay:2s" in poll.text
    later = client.get(f"{base(admin_org)}/{endpoint.id}?status=all&page=1&poll=9", headers=region).text
    assert "load delay:60s" in later and "data-poll" in later
    deliver()
    (request,) = receiver.wait_for(1)
    payload = verify(request, webhooks.current_secret(endpoint))
    assert payload["type"] == "member.added" and payload["data"]["user"]["email"] == "ada@example.com"
    settled = client.get(f"{base(admin_org)}/{endpoint.id}?status=all&page=1", headers=region)
    assert settled.status_code == 286       # htmx stops polling
    assert "Succeeded" in settled.get_data(as_text=True) and "hx-trigger" not in settled.get_data(as_text=True)
    bad = client.post(f"{base(admin_org)}/{endpoint.id}/test", data={"event_type": "no.such"})
    assert bad.status_code == 422 and b"Choose an event type from the catalog." in bad.data


def test_message_log_delivery_and_attempt_detail_and_resend(client, admin_org, receiver, deliver, fast_retries):
    endpoint = make_endpoint(admin_org, receiver.url())
    receiver.script("/hooks", [Reply(500, body=b'{"error": "database down"}', headers={"X-Trace": "abc"})] * 4)
    fire(admin_org)
    deliver()
    log = client.get(f"{base(admin_org)}/{endpoint.id}?status=failed").get_data(as_text=True)
    delivery = db.session.scalar(select(WebhookDelivery))
    assert f"delivery-{delivery.id}" in log and "Failed" in log
    assert f"delivery-{delivery.id}" not in client.get(f"{base(admin_org)}/{endpoint.id}?status=succeeded").get_data(as_text=True)
    detail = client.get(f"{base(admin_org)}/deliveries/{delivery.id}")
    text = detail.get_data(as_text=True)
    assert detail.status_code == 200 and text.count('id="attempt-') == 4 and delivery.message.webhook_id in text
    attempt_id = re.search(r'id="attempt-([0-9a-f-]+)"', text).group(1)
    attempt_page = client.get(f"{base(admin_org)}/attempts/{attempt_id}").get_data(as_text=True)
    assert "database down" in attempt_page and "x-trace" in attempt_page and "webhook-signature" in attempt_page
    assert "HTTP 500" in attempt_page
    # Resend: the receiver is fine now.
    assert client.post(f"{base(admin_org)}/deliveries/{delivery.id}/resend").status_code == 303
    deliver()
    assert db.session.get(WebhookDelivery, delivery.id).status == "succeeded"
    poll = client.get(f"{base(admin_org)}/deliveries/{delivery.id}", headers={"HX-Request": "true", "HX-Target": "delivery_status"})
    assert poll.status_code == 286 and "Succeeded" in poll.get_data(as_text=True)


def test_disable_enable_recover_and_delete(client, admin_org, receiver, deliver):
    endpoint = make_endpoint(admin_org, receiver.url())
    receiver.default = Reply(503)
    fire(admin_org)
    deliver()
    assert client.post(f"{base(admin_org)}/{endpoint.id}/disable").status_code == 303
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert not endpoint.is_active and "owner@example.com" in endpoint.disabled_reason
    assert db.session.scalar(select(WebhookDelivery)).status == "failed"
    page = client.get(f"{base(admin_org)}/{endpoint.id}").get_data(as_text=True)
    assert 'id="disabled_banner"' in page and 'id="enable_endpoint"' in page
    refused = client.post(f"{base(admin_org)}/{endpoint.id}/recover", data={"since": "2000-01-01T00:00"})
    assert refused.status_code == 422 and b"Enable the endpoint" in refused.data
    client.post(f"{base(admin_org)}/{endpoint.id}/enable")
    assert db.session.get(WebhookEndpoint, endpoint.id).is_active
    bad = client.post(f"{base(admin_org)}/{endpoint.id}/recover", data={"since": "yesterday"})
    assert bad.status_code == 422 and b"Not a valid datetime value" in bad.data
    receiver.default = Reply(200)
    recovered = client.post(f"{base(admin_org)}/{endpoint.id}/recover", data={"since": "2000-01-01T00:00"})
    assert recovered.status_code == 303
    deliver()
    assert db.session.scalar(select(WebhookDelivery)).status == "succeeded"
    confirm = client.get(f"{base(admin_org)}/{endpoint.id}/delete")
    assert confirm.status_code == 200 and b'id="confirm_delete"' in confirm.data
    assert client.post(f"{base(admin_org)}/{endpoint.id}/delete").status_code == 303
    assert db.session.scalar(select(db.func.count()).select_from(WebhookEndpoint)) == 0
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.endpoint.deleted")) is not None


def test_event_catalog_page_lists_every_webhook_type(client, admin_org):
    from services import catalog
    page = client.get(base(admin_org) + "/catalog").get_data(as_text=True)
    for event_type in catalog.webhook_types():
        assert f'id="event-{event_type.name}"' in page
    assert "user.password_changed" not in page       # user-only events are not offered to webhooks


def _org_routes(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("webhooks.")]


def test_other_orgs_ids_are_404_on_every_route(app, client, make, login):
    """A member of org B (even its owner) gets 404 for org A's endpoint, delivery and attempt ids."""
    owner_a = make.user()
    org_a = make.org(owner=owner_a)
    owner_b = make.user()
    org_b = make.org(owner=owner_b)
    values = {name: factory(org_a, owner_a) for name, factory in PARAM_FACTORIES.items()
              if name in ("endpoint_id", "delivery_id", "attempt_id")}
    login(owner_b)
    checked = 0
    for rule in _org_routes(app):
        params = [p for p in rule.arguments if p != "org_slug"]
        if not params:
            continue
        path = rule.rule.replace("<org_slug>", org_b.slug)
        for p in params:
            path = path.replace(f"<{p}>", str(values[p]))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, data={"url": "https://93.184.216.34/", "events": "all"})
            assert response.status_code == 404, (method, path, response.status_code)
            checked += 1
    assert checked >= 15
    assert db.session.scalar(select(WebhookEndpoint)).is_active    # nothing changed in org A


@pytest.mark.parametrize("role, expected", [(Role.admin, 200), (Role.member, 403), (Role.viewer, 403)])
def test_webhooks_need_webhooks_manage(client, make, login, role, expected):
    org = make.org()
    login(make.member(org, role=role))
    assert client.get(base(org) + "/").status_code == expected
    assert client.get(base(org) + "/catalog").status_code == expected


def test_malformed_ids_are_404_not_500(client, admin_org):
    for path in ("/not-a-uuid", "/deliveries/123", "/attempts/%00", "/not-a-uuid/edit"):
        assert client.get(base(admin_org) + path).status_code == 404
