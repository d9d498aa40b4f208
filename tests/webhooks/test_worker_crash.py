"""A real worker process killed with SIGKILL mid-delivery, then Redis flushed: the database-backed
leases and the sweeper still get every message delivered (at least once; duplicates counted)."""
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import select

from extensions import db, jobs
from jobs.sweeper import sweep_all
from models import WebhookAttempt, WebhookDelivery, WebhookMessage
from services import webhooks
from tests.receiver import Reply
from tests.webhooks.conftest import fire, make_endpoint, secret_of, verify

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 30


def start_worker(*args, **env):
    environment = dict(os.environ, SECRET_KEY=current_app.config["SECRET_KEY"], EGRESS_ALLOWLIST="127.0.0.1/32", EGRESS_ALLOW_HTTP="true",
                       WEBHOOK_ENDPOINT_CONCURRENCY="4", LOG_LEVEL="WARNING", **env)
    # The child keeps its own copy of the log's descriptor: this process's can close at once.
    with open(os.environ.get("WORKER_LOG", os.devnull), "a") as log:
        return subprocess.Popen([sys.executable, "worker.py", *args], cwd=ROOT, env=environment,
                                stdout=subprocess.DEVNULL, stderr=log)


@pytest.mark.slow
def test_sigkilled_worker_and_flushed_redis_lose_nothing(app, make, receiver, monkeypatch):
    org = make.org()
    endpoint = make_endpoint(org, receiver.url())
    secret = secret_of(endpoint)
    # Six answered at once, then four that hang: the worker is killed while they are in flight.
    receiver.script("/hooks", [Reply(200)] * 6 + [Reply(200, delay=5)] * 4)
    fire(org, MESSAGES)
    message_ids = {m.webhook_id for m in db.session.scalars(select(WebhookMessage))}
    assert len(message_ids) == MESSAGES

    worker = start_worker("--no-sweeper", WEBHOOK_LEASE_SECONDS="2")
    try:
        # A liveness bound, not a timing: a worker process starting on a busy machine can take a while.
        assert len(receiver.wait_for(10, timeout=180)) >= 10, "the worker never got going"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert worker.returncode == -signal.SIGKILL
    jobs.redis.flushdb()       # and Redis forgets every signal it held

    # The dead worker's leases run out; the sweeper (grace 0 here) finds the deliveries again.
    monkeypatch.setitem(app.config, "WEBHOOK_SWEEP_GRACE_SECONDS", 0)
    pending = db.session.scalar(select(db.func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "pending"))
    assert pending > 0, "nothing was left in flight: the test did not kill mid-delivery"

    deadline = time.monotonic() + 30
    while len(webhooks.due_or_stuck()) < pending and time.monotonic() < deadline:
        db.session.rollback()
        time.sleep(0.1)     # wait for the 2 s leases to run out
    assert sweep_all()["sweep_webhooks"] == pending

    survivor = start_worker("--burst")
    assert survivor.wait(120) == 0

    received = receiver.received("/hooks")
    for request in received:
        verify(request, secret)
    delivered_ids = [r.webhook_id for r in received]
    assert set(delivered_ids) == message_ids                        # none lost
    duplicates = len(delivered_ids) - len(set(delivered_ids))
    print(f"{len(delivered_ids)} requests for {MESSAGES} messages: {duplicates} duplicates")
    db.session.expire_all()
    assert {d.status for d in db.session.scalars(select(WebhookDelivery))} == {"succeeded"}
    # Every request that left is in the attempt log (written before it left), the killed worker's too:
    # those say no answer was recorded. Nothing the receiver got is missing from the log.
    logged = Counter((a.request_headers["webhook-id"], a.request_headers["webhook-timestamp"])
                     for a in db.session.scalars(select(WebhookAttempt)))
    arrived = Counter((r.webhook_id, r.headers["webhook-timestamp"]) for r in received)
    assert not arrived - logged, f"{sum((arrived - logged).values())} requests missing from the attempt log"
    interrupted = db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.error == webhooks.NO_ANSWER_RECORDED)).all()
    assert interrupted and not any(a.succeeded for a in interrupted)
