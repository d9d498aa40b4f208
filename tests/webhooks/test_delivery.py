"""Delivery end to end: emit -> message and deliveries in the same transaction -> dispatcher ->
signed POST to a real receiver, verified with the official standardwebhooks library."""
import json

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from extensions import db
from models import (AuditEvent, Notification, OutboundEmail, Role, WebhookAttempt, WebhookDelivery, WebhookEndpoint,
                    WebhookMessage)
from services import orgs, webhooks
from services.events import SYSTEM
from tests.receiver import Reply
from tests.webhooks.conftest import fire, make_endpoint, secret_of, verify


def test_member_changes_arrive_signed_and_verified(make, receiver, deliver):
    org = make.org()
    endpoint = make_endpoint(org, receiver.url("/hooks"))
    grace = make.member(org, role=Role.admin, email="grace@example.com")
    assert deliver() == 1

    (request,) = receiver.wait_for(1)
    payload = verify(request, secret_of(endpoint))
    assert payload["type"] == "member.added"
    assert payload["data"]["user"]["email"] == "grace@example.com" and payload["data"]["role"] == "admin"
    assert set(payload) == {"type", "timestamp", "data"}
    assert request.headers["content-type"] == "application/json"
    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.status == "succeeded" and delivery.attempt_count == 1
    assert request.webhook_id == delivery.message.webhook_id
    attempt = db.session.scalar(select(WebhookAttempt))
    assert attempt.response_status == 200 and attempt.succeeded and attempt.response_body == "ok"
    # A wrong secret does not verify: the check above is a real one.
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.generate_secret()).verify(request.body, request.headers)


def test_message_is_written_in_the_transaction_of_the_change(make, receiver):
    org = make.org()
    make_endpoint(org, receiver.url())
    person = make.user()
    orgs.add_member(org, person, Role.member, SYSTEM)
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(WebhookMessage)) == 0
    orgs.add_member(org, person, Role.member, SYSTEM)
    db.session.commit()
    message = db.session.scalar(select(WebhookMessage))
    audit = db.session.get(AuditEvent, message.audit_event_id)
    assert audit.action == "member.added" and json.loads(message.body)["type"] == "member.added"


def test_only_subscribed_active_endpoints_get_a_delivery(make, receiver, deliver):
    org = make.org()
    members_only = make_endpoint(org, receiver.url("/members"), all_events=False, event_types=["member.role_changed"])
    invites_only = make_endpoint(org, receiver.url("/invites"), all_events=False, event_types=["invitation.created"])
    disabled = make_endpoint(org, receiver.url("/off"))
    webhooks.disable_endpoint(org, db.session.get(WebhookEndpoint, disabled.id), SYSTEM, "by hand")
    db.session.commit()
    other_org = make.org()
    fire(org)
    fire(other_org)
    deliver()
    assert [r.path for r in receiver.requests] == ["/members"]
    assert {d.endpoint_id for d in db.session.scalars(select(WebhookDelivery))} == {members_only.id}
    assert invites_only.id


def test_retries_until_the_receiver_recovers(make, receiver, deliver, fast_retries):
    org = make.org()
    endpoint = make_endpoint(org, receiver.url())
    receiver.script("/hooks", [Reply(500), Reply(502), Reply(200)])
    fire(org)
    deliver()
    requests = receiver.wait_for(3)
    assert len(requests) == 3
    assert len({r.webhook_id for r in requests}) == 1          # the same webhook-id on every retry
    for request in requests:
        verify(request, secret_of(endpoint))
    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.status == "succeeded" and delivery.attempt_count == 3
    statuses = [a.response_status for a in db.session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.attempt_number))]
    assert statuses == [500, 502, 200]


def test_message_fails_after_the_last_scheduled_attempt(make, receiver, deliver, fast_retries):
    org = make.org()
    make_endpoint(org, receiver.url())
    receiver.default = Reply(500)
    fire(org)
    deliver()
    assert len(receiver.requests) == 4
    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.status == "failed" and delivery.next_attempt_at is None and delivery.last_status_code == 500


def test_retry_schedule_waits_between_attempts(app, make, receiver, deliver, clock, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_JITTER", 0.0)
    org = make.org()
    make_endpoint(org, receiver.url())
    receiver.script("/hooks", [Reply(500)])
    fire(org)
    deliver()
    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.status == "pending" and len(receiver.requests) == 1
    assert 4.9 <= (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds() <= 5.1  # 2nd attempt after 5 s
    deliver()
    assert len(receiver.requests) == 1          # not due yet
    clock.advance(6)
    deliver()
    assert len(receiver.requests) == 2
    assert db.session.get(WebhookDelivery, delivery.id).status == "succeeded"


def test_retry_after_is_honoured(app, make, receiver, deliver, clock, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_JITTER", 0.0)
    org = make.org()
    make_endpoint(org, receiver.url())
    receiver.script("/hooks", [Reply(429, headers={"Retry-After": "120"}), Reply(503, headers={"Retry-After": "30"})])
    fire(org)
    deliver()
    delivery = db.session.scalar(select(WebhookDelivery))
    assert 119 <= (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds() <= 121
    clock.advance(60)
    deliver()
    assert len(receiver.requests) == 1        # the 5 s schedule step gave way to Retry-After: 120
    clock.advance(61)
    deliver()
    assert len(receiver.requests) == 2
    delivery = db.session.get(WebhookDelivery, delivery.id)
    assert 29 <= (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds() <= 31
    clock.advance(31)
    deliver()
    assert len(receiver.requests) == 3
    assert db.session.get(WebhookDelivery, delivery.id).status == "succeeded"


def disabled_notices(org, owner, member):
    """(the owner's in-app notice, the emails to the owner, emails to a plain member) about the disable."""
    notice = db.session.scalar(select(Notification).where(Notification.type == "webhook.endpoint.disabled",
                                                          Notification.user_id == owner.id))
    emails = OutboundEmail.query.filter(OutboundEmail.subject.contains("was disabled"))
    return notice, emails.filter_by(to_address=owner.email).all(), emails.filter_by(to_address=member.email).all()


def test_gone_disables_the_endpoint_and_tells_admins(make, receiver, deliver):
    owner = make.user()
    org = make.org(owner=owner)
    member = make.member(org)
    endpoint = make_endpoint(org, receiver.url())
    receiver.script("/hooks", [Reply(410)])
    fire(org)
    deliver()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert not endpoint.is_active and "410" in endpoint.disabled_reason
    assert db.session.scalar(select(WebhookDelivery)).status == "failed"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.endpoint.disabled"))
    assert event.actor_type == "system" and event.data["automatic"] is True
    # The notice names the endpoint and the reason, in the app and (by default) by email to admins.
    notice, owner_emails, member_emails = disabled_notices(org, owner, member)
    assert receiver.url() in notice.title and "410 Gone" in notice.body and "automatically" in notice.body
    [email] = owner_emails
    assert receiver.url() in email.subject and "410 Gone" in email.text_body
    assert member_emails == []
    fire(org)
    deliver()
    assert len(receiver.requests) == 1       # nothing more goes to a disabled endpoint


def test_redirect_is_not_followed(make, receiver, deliver, fast_retries):
    org = make.org()
    make_endpoint(org, receiver.url("/old"))
    receiver.script("/old", [Reply(301, headers={"Location": receiver.url("/new")})] * 4)
    fire(org)
    deliver()
    assert {r.path for r in receiver.requests} == {"/old"}
    attempt = db.session.scalars(select(WebhookAttempt)).first()
    assert attempt.response_status == 301 and not attempt.succeeded and "not followed" in attempt.error
    assert db.session.scalar(select(WebhookDelivery)).status == "failed"


def test_timeout_is_a_failed_attempt(app, make, receiver, deliver, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 0.3)
    org = make.org()
    make_endpoint(org, receiver.url())
    receiver.script("/hooks", [Reply(200, delay=2)])
    fire(org)
    deliver()
    attempt = db.session.scalar(select(WebhookAttempt))
    assert not attempt.succeeded and attempt.response_status is None and "timed out" in attempt.error
    assert db.session.scalar(select(WebhookDelivery)).status == "pending"


def test_endpoint_failing_for_days_is_disabled(app, make, receiver, deliver, clock, fast_retries, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", "0")
    owner = make.user()
    org = make.org(owner=owner)
    endpoint = make_endpoint(org, receiver.url())
    receiver.default = Reply(500)
    fire(org)
    deliver()
    first_failure = db.session.get(WebhookEndpoint, endpoint.id).failing_since
    clock.advance(3 * 86400)
    fire(org)
    deliver()
    assert db.session.get(WebhookEndpoint, endpoint.id).is_active
    clock.advance(2 * 86400 + 1)
    fire(org)
    deliver()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    since = f"failed since {first_failure:%Y-%m-%d %H:%M} UTC (5 days)"
    assert not endpoint.is_active and since in endpoint.disabled_reason
    notice, [email], _ = disabled_notices(org, owner, owner)
    assert receiver.url() in notice.title and since in notice.body and since in email.text_body
    # Re-enabling resets the count: one more failure does not disable it again.
    webhooks.enable_endpoint(org, endpoint, SYSTEM)
    db.session.commit()
    fire(org)
    deliver()
    assert db.session.get(WebhookEndpoint, endpoint.id).is_active


def test_success_resets_the_failure_run(app, make, receiver, deliver, clock, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", "0")
    org = make.org()
    endpoint = make_endpoint(org, receiver.url())
    receiver.script("/hooks", [Reply(500), Reply(200)])
    fire(org)
    deliver()
    assert db.session.get(WebhookEndpoint, endpoint.id).failing_since is not None
    clock.advance(6 * 86400)
    fire(org)
    deliver()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert endpoint.is_active and endpoint.failing_since is None


def test_rotation_signs_with_both_secrets_then_only_the_new(make, receiver, deliver, clock):
    org = make.org()
    endpoint = make_endpoint(org, receiver.url())
    old_secret = secret_of(endpoint)
    webhooks.rotate_secret(org, db.session.get(WebhookEndpoint, endpoint.id), SYSTEM)
    db.session.commit()
    new_secret = secret_of(endpoint)
    assert new_secret != old_secret
    fire(org)
    deliver()
    (request,) = receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verify(request, old_secret, new_secret)      # both verify with the official library
    clock.advance(25 * 3600)                     # the 24 h overlap is over
    fire(org)
    deliver()
    latest = receiver.wait_for(2)[-1]
    verify(latest, new_secret)
    with pytest.raises(WebhookVerificationError):
        verify(latest, old_secret)


def test_rotation_revoking_at_once(make, receiver, deliver):
    org = make.org()
    endpoint = make_endpoint(org, receiver.url())
    old_secret = secret_of(endpoint)
    webhooks.rotate_secret(org, db.session.get(WebhookEndpoint, endpoint.id), SYSTEM, keep_previous=False)
    db.session.commit()
    fire(org)
    deliver()
    (request,) = receiver.wait_for(1)
    verify(request, secret_of(endpoint))
    with pytest.raises(WebhookVerificationError):
        verify(request, old_secret)


def test_secret_is_encrypted_at_rest(make, receiver):
    org = make.org()
    endpoint = make_endpoint(org, receiver.url())
    secret = secret_of(endpoint)
    assert secret.startswith("whsec_") and 24 <= len(__import__("base64").b64decode(secret[6:])) <= 64
    stored = db.session.execute(select(WebhookEndpoint.secret_encrypted)).scalar()
    assert secret not in stored and secret[6:] not in stored


def test_slow_endpoint_does_not_hold_up_others(make, receiver, deliver):
    org = make.org()
    make_endpoint(org, receiver.url("/slow"), all_events=False, event_types=["member.role_changed"])
    make_endpoint(org, receiver.url("/fast"), all_events=False, event_types=["member.role_changed"])
    receiver.script("/slow", [Reply(200, delay=0.2)] * 8)
    fire(org, 8)
    deliver(endpoint_concurrency=2, threads=8)
    order = [r.path for r in receiver.requests]
    assert order.count("/fast") == 8 and order.count("/slow") == 8
    # All fast deliveries were received before the slow endpoint's backlog was through.
    assert max(i for i, p in enumerate(order) if p == "/fast") < max(i for i, p in enumerate(order) if p == "/slow")


def test_delivery_is_idempotent_with_duplicate_signals(make, receiver, deliver):
    org = make.org()
    make_endpoint(org, receiver.url())
    fire(org)
    delivery = db.session.scalar(select(WebhookDelivery))
    webhooks.signal([str(delivery.id)] * 3)
    deliver()
    assert len(receiver.requests) == 1


def test_resend_and_recover(app, make, receiver, deliver, fast_retries, clock):
    org = make.org()
    endpoint = make_endpoint(org, receiver.url())
    receiver.default = Reply(500)
    fire(org)
    fire(org)
    deliver()
    assert {d.status for d in db.session.scalars(select(WebhookDelivery))} == {"failed"}
    receiver.default = Reply(200)
    first = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).first()
    webhooks.resend_delivery(org, first, SYSTEM)
    db.session.commit()
    deliver()
    assert db.session.get(WebhookDelivery, first.id).status == "succeeded"
    count = webhooks.recover_failed(org, db.session.get(WebhookEndpoint, endpoint.id), webhooks.now().replace(year=2000), SYSTEM)
    audited = {e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("webhook.message%")))}
    assert audited == {"webhook.message.resent", "webhook.messages.recovered"}
    db.session.commit()
    assert count == 1
    deliver()
    assert {d.status for d in db.session.scalars(select(WebhookDelivery))} == {"succeeded"}


def test_sweeper_finds_deliveries_redis_lost(app, make, receiver, deliver, clock):
    from extensions import jobs
    from jobs.sweeper import sweep_all
    org = make.org()
    make_endpoint(org, receiver.url())
    fire(org)
    jobs.redis.flushdb()                 # the signal is lost
    deliver()
    assert receiver.requests == []
    clock.advance(app.config["WEBHOOK_SWEEP_GRACE_SECONDS"] + 1)
    assert sweep_all()["sweep_webhooks"] == 1
    deliver()
    assert len(receiver.requests) == 1
