"""Webhook test fixtures: a real local receiver, the real dispatcher in burst mode, and a verifier
built on the official Standard Webhooks library (standardwebhooks.Webhook)."""
import contextvars

import pytest
from standardwebhooks import Webhook

from extensions import db
from models import WebhookEndpoint
from services import webhooks
from services.events import SYSTEM
from tests.receiver import WebhookReceiver


@pytest.fixture
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def fast_retries(app, monkeypatch):
    """Retries at once (no waits), no jitter: schedule tests run in milliseconds."""
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", "0,0,0,0")
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_JITTER", 0.0)


@pytest.fixture
def deliver(app):
    """Run the real WebhookDispatcher (threads, batching, leases) until nothing is due; returns sends."""
    from jobs.webhooks import WebhookDispatcher

    def _deliver(**kwargs):
        dispatcher = WebhookDispatcher(app, **kwargs)
        sent = contextvars.Context().run(dispatcher.run, True)
        db.session.expire_all()
        return sent
    return _deliver


@pytest.fixture
def clock(monkeypatch):
    """Move the webhook service's clock: clock.advance(seconds)."""
    from datetime import timedelta

    from models import utcnow

    class Clock:
        offset = timedelta(0)

        def advance(self, seconds):
            self.offset += timedelta(seconds=seconds)

    c = Clock()
    monkeypatch.setattr(webhooks, "now", lambda: utcnow() + c.offset)
    return c


def make_endpoint(org, url, **kwargs):
    endpoint = webhooks.create_endpoint(org, SYSTEM, url, **kwargs)
    db.session.commit()
    return endpoint


def fire(org, count=1, type="member.role_changed"):
    """Emit count real events through the spine (cheaper than creating users: no password hashing)."""
    from services.events import emit
    for n in range(count):
        emit(org, type, SYSTEM, [], {"user": {"id": str(n), "email": f"person{n}@example.com"}, "role": "admin", "previous_role": "member"})
    db.session.commit()


def verify(request, *secrets):
    """The request's JSON, verified by the official library with each given secret (all must pass)."""
    payload = None
    for secret in secrets:
        payload = Webhook(secret).verify(request.body, request.headers)
    return payload


def secret_of(endpoint):
    return webhooks.current_secret(db.session.get(WebhookEndpoint, endpoint.id))
