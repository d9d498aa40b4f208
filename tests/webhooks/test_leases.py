"""Leases against slow receivers: a worker never holds more deliveries than it can send before their
leases end, and checks (or extends) a lease just before each send, so a slow but healthy receiver gets
no duplicates while the sweeper runs next to it. Answer times and the lease are the issue's (3 s and
8 s answers, a 60 s lease) divided by 20, so the test takes seconds, not minutes."""
import contextvars
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from extensions import db
from jobs.webhooks import WebhookDispatcher, sweep_webhook_deliveries
from models import WebhookAttempt, WebhookDelivery
from services import webhooks
from tests.receiver import Reply
from tests.webhooks.conftest import fire, make_endpoint

EVENTS = 100


@pytest.fixture
def scaled_leases(app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_LEASE_SECONDS", 3.0)
    # Not scaled down as far (0.75 s): on a busy machine an answer could then time out and be retried,
    # a legitimate second request that is not what this test is about.
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 2.5)
    monkeypatch.setitem(app.config, "WEBHOOK_ENDPOINT_CONCURRENCY", 8)


def run_with_the_sweeper(app):
    """The real dispatcher until nothing is left, with the real sweeper signalling expired leases."""
    done = threading.Event()

    def sweep():
        with app.app_context():
            while not done.wait(0.1):
                sweep_webhook_deliveries()
                db.session.rollback()
            db.session.remove()

    sweeper = threading.Thread(target=contextvars.Context().run, args=(sweep,))
    sweeper.start()
    try:
        sent = contextvars.Context().run(WebhookDispatcher(app, threads=16).run, True)
    finally:
        done.set()
        sweeper.join()
    db.session.expire_all()
    return sent


@pytest.mark.slow
def test_slow_healthy_receivers_get_every_message_once(app, make, receiver, scaled_leases):
    org = make.org()
    make_endpoint(org, receiver.url("/three-seconds"))
    make_endpoint(org, receiver.url("/eight-seconds"))
    receiver.script("/three-seconds", [Reply(200, delay=0.15)] * EVENTS)
    receiver.script("/eight-seconds", [Reply(200, delay=0.4)] * EVENTS)
    fire(org, EVENTS)

    run_with_the_sweeper(app)

    for path in ("/three-seconds", "/eight-seconds"):
        counts = Counter(r.webhook_id for r in receiver.received(path))
        assert len(counts) == EVENTS, f"{path}: {EVENTS - len(counts)} messages never arrived"
        duplicates = sum(n - 1 for n in counts.values())
        assert duplicates == 0, f"{path}: {duplicates} duplicates"
    assert {d.status for d in db.session.scalars(select(WebhookDelivery))} == {"succeeded"}
    # One attempt in the log per request the receivers got, each completed with its answer.
    attempts = db.session.scalars(select(WebhookAttempt)).all()
    assert len(attempts) == 2 * EVENTS
    assert all(a.succeeded and a.response_status == 200 and a.error is None for a in attempts)


def one_claimed_delivery(make, receiver):
    """(delivery id, its task) of one event's delivery, claimed with a 60 s lease."""
    org = make.org()
    make_endpoint(org, receiver.url())
    fire(org)
    [delivery_id] = db.session.scalars(select(WebhookDelivery.id)).all()
    [task], _ = webhooks.claim([delivery_id], lease_seconds=60)
    return delivery_id, task


def test_a_lease_about_to_end_is_extended_before_the_send(app, make, receiver, clock):
    delivery_id, task = one_claimed_delivery(make, receiver)
    clock.advance(55)    # it waited in the worker: 5 s left, less than a 15 s request needs
    [owned] = webhooks.start_attempts([task], 60, webhooks.send_seconds(15, 60))
    lease_left = (db.session.get(WebhookDelivery, delivery_id).lease_expires_at - webhooks.now()).total_seconds()
    assert lease_left >= 59


def test_a_lease_taken_over_meanwhile_is_not_sent(app, make, receiver, clock):
    delivery_id, stale = one_claimed_delivery(make, receiver)
    clock.advance(61)    # the lease ran out and the sweeper handed the delivery to another worker
    [fresh], _ = webhooks.claim([delivery_id], lease_seconds=60)
    assert webhooks.start_attempts([stale], 60, webhooks.send_seconds(15, 60)) == []
    assert len(webhooks.start_attempts([fresh], 60, webhooks.send_seconds(15, 60))) == 1
    assert db.session.scalar(select(func.count()).select_from(WebhookAttempt)) == 1


def test_the_attempt_is_in_the_log_before_the_request_leaves(app, make, receiver):
    org = make.org()
    make_endpoint(org, receiver.url())
    fire(org)
    [delivery_id] = db.session.scalars(select(WebhookDelivery.id)).all()
    [task], _ = webhooks.claim([delivery_id], lease_seconds=60)
    [task] = webhooks.start_attempts([task], 60, webhooks.send_seconds(15, 60))
    # A worker killed here (before or during the request) leaves this row, saying what is known.
    written = db.session.scalar(select(WebhookAttempt))
    assert (written.attempt_number, written.succeeded, written.response_status) == (1, False, None)
    assert written.error == webhooks.NO_ANSWER_RECORDED
    assert written.request_headers["webhook-id"] == task.webhook_id
    result = webhooks.attempt(task, app.config)
    webhooks.record([result])
    db.session.expire_all()
    completed = db.session.scalar(select(WebhookAttempt))
    assert (completed.id, completed.succeeded, completed.response_status, completed.error) == (written.id, True, 200, None)
    [request] = receiver.received("/hooks")
    assert request.headers["webhook-timestamp"] == completed.request_headers["webhook-timestamp"]
