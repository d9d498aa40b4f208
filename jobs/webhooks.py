"""Webhook delivery work: the batching dispatcher that worker.py runs, and the one-shot job used when
there is no Redis (and by anything that enqueues deliver_webhooks on the "webhooks" RQ queue).

Why not one RQ job per delivery: an RQ job costs about 5 ms of bookkeeping (job hash, registries,
status updates; ~200 jobs/s for a SimpleWorker on these machines, ~70/s forking), more than the HTTP
request to a nearby receiver. So Redis carries bare delivery ids (services/webhooks.py due_key()) and
each worker process runs one WebhookDispatcher:

  - one loop thread pops up to WEBHOOK_BATCH_SIZE ids at once, claims them in the database with one
    UPDATE (a lease, so two workers never send the same delivery at the same time, and a dead worker's
    deliveries come back after the lease), and records finished attempts in batches (one commit per
    batch). It claims no more per endpoint than that endpoint's senders can start before the lease
    ends (concurrency x half the lease / its typical answer time), and just before requests leave it
    extends any lease that could run out during the request and writes the attempt rows;
  - WEBHOOK_WORKER_THREADS sender threads make the HTTP requests over kept-alive connections
    (services/egress.py pools), at most WEBHOOK_ENDPOINT_CONCURRENCY at a time per endpoint; a
    saturated endpoint's further deliveries are handed back for a second later rather than queued
    here, so a slow endpoint cannot hold up the others.

Retries sit in a Redis sorted set scored by due time; the loop moves due ones to the list. Whatever
Redis loses, the sweeper (jobs/sweeper.py) finds again in the database.
"""
import logging
import queue
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor

from redis import Redis

from extensions import db
from services import egress
from services import webhooks as service

log = logging.getLogger("orgkit.webhooks")

# Move due retries from the sorted set to the list atomically (two workers never both move one).
_PROMOTE_SCRIPT = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
  redis.call('RPUSH', KEYS[2], unpack(ids))
end
return #ids
"""

# A delivery whose endpoint has no room in this worker is handed back for this long.
DEFER_SECONDS = 0.25


class WebhookDispatcher:
    def __init__(self, app, threads=None, endpoint_concurrency=None, batch_size=None, lease_seconds=None):
        config = app.config
        self.app = app
        self.config = config
        # Its own connection pool: RQ's worker adjusts socket timeouts on the shared one.
        self.redis = Redis.from_url(config["REDIS_URL"])
        self.threads = threads or config["WEBHOOK_WORKER_THREADS"]
        self.endpoint_limit = endpoint_concurrency or config["WEBHOOK_ENDPOINT_CONCURRENCY"]
        self.batch_size = batch_size or config["WEBHOOK_BATCH_SIZE"]
        self.lease_seconds = lease_seconds or config["WEBHOOK_LEASE_SECONDS"]
        # Claimed work held here at most: enough to keep every sender busy while the next batch loads.
        self.max_local = max(self.threads * 4, self.batch_size)
        self.timeout = config["WEBHOOK_TIMEOUT_SECONDS"]
        # A lease with less than this left is extended just before the send (service.start_attempts).
        self.send_seconds = service.send_seconds(self.timeout, self.lease_seconds)
        self.typical_seconds = {}              # endpoint id -> moving average of its answer times
        self.policy = egress.EgressPolicy.from_config(config)
        self.stop_event = threading.Event()
        self.results = queue.Queue()
        self.waiting = defaultdict(deque)      # endpoint id -> claimed tasks not yet sent
        self.inflight = defaultdict(int)       # endpoint id -> requests in flight
        self.local_count = 0
        self.sent = 0
        self._promote = self.redis.register_script(_PROMOTE_SCRIPT)
        self._last_promote = 0.0

    def stop(self):
        self.stop_event.set()

    def run(self, burst=False):
        """Work until stop() (or, with burst, until nothing is due and nothing is in flight)."""
        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="webhook-send")
        self.pool = pool
        with self.app.app_context():
            try:
                while not self.stop_event.is_set():
                    promoted = self._promote_due(force=burst)
                    fetched = self._fetch(block=not burst and self.local_count == 0)
                    recorded = self._record_finished()
                    if burst and not (promoted or fetched or recorded or self.local_count or self._handed_back_soon()):
                        break
                while self.local_count:   # stopping: let requests in flight finish and record them
                    self._record_finished()
            finally:
                pool.shutdown(wait=True)
                db.session.remove()
        return self.sent

    # -- the loop's steps --

    def _promote_due(self, force=False):
        if not force and time.monotonic() - self._last_promote < 0.2:
            return 0
        self._last_promote = time.monotonic()
        return int(self._promote(keys=[service.scheduled_key(), service.due_key()],
                                 args=[service.now().timestamp(), 1000]))

    def _handed_back_soon(self):
        # Deliveries _fetch handed back for a moment (their endpoint's room was full) are still work.
        return self.redis.zcount(service.scheduled_key(), "-inf", service.now().timestamp() + DEFER_SECONDS * 4) > 0

    def _fetch(self, block):
        room = min(self.batch_size, self.max_local - self.local_count)
        if room <= 0:
            return 0
        if block:
            first = self.redis.blpop([service.due_key()], timeout=0.5)
            if first is None:
                return 0
            ids = [first[1]] + (self.redis.lpop(service.due_key(), room - 1) or []) if room > 1 else [first[1]]
        else:
            ids = self.redis.lpop(service.due_key(), room) or []
        if not ids:
            return 0
        ids = list(dict.fromkeys(i.decode() if isinstance(i, bytes) else i for i in ids))
        try:
            tasks, deferred = service.claim(ids, self.lease_seconds, self._endpoint_room)
        except Exception:
            db.session.rollback()
            log.exception("claiming %d webhook deliveries failed; the sweeper will bring them back", len(ids))
            return 0
        if deferred:
            self.redis.zadd(service.scheduled_key(), {i: service.now().timestamp() + DEFER_SECONDS for i in deferred})
        for task in tasks:
            self.waiting[task.endpoint_id].append(task)
        self.local_count += len(tasks)
        self._pump()
        return len(ids)

    def _endpoint_room(self, endpoint_id):
        """How many more deliveries to this endpoint to claim now: no more than its senders can start
        within half a lease at its typical answer time (the other half covers the send itself)."""
        typical = self.typical_seconds.get(endpoint_id, self.timeout)   # unknown: assume the slowest
        sendable = self.endpoint_limit * max(1, int(self.lease_seconds / 2 / max(typical, 0.001)))
        return sendable - len(self.waiting.get(endpoint_id, ())) - self.inflight.get(endpoint_id, 0)

    def _pump(self):
        starting = []
        for endpoint_id in list(self.waiting):
            tasks = self.waiting[endpoint_id]
            while tasks and self.inflight[endpoint_id] < self.endpoint_limit:
                starting.append(tasks.popleft())
                self.inflight[endpoint_id] += 1
            if not tasks:
                del self.waiting[endpoint_id]
        if not starting:
            return
        try:
            owned = service.start_attempts(starting, self.lease_seconds, self.send_seconds)
        except Exception:
            db.session.rollback()
            log.exception("starting %d webhook attempts failed; their leases expire and they are retried", len(starting))
            owned = []
        owned_ids = {id(task) for task in owned}
        for task in starting:
            if id(task) in owned_ids:
                self.pool.submit(self._send, task)
            else:   # the lease went to another worker (or the delivery was settled): not ours to send
                self._release(task.endpoint_id, 1)

    def _release(self, endpoint_id, count):
        self.inflight[endpoint_id] -= count
        if not self.inflight[endpoint_id]:
            del self.inflight[endpoint_id]
        self.local_count -= count

    def _send(self, task):
        try:
            result = service.attempt(task, self.config, self.policy)
        except Exception as exc:   # a bug must not lose the result slot; the lease brings it back
            log.exception("webhook attempt crashed")
            result = service.AttemptResult(task=task, attempted_at=service.now(), request_headers={},
                                           error=f"Internal error: {type(exc).__name__}")
        self.results.put(result)

    def _record_finished(self):
        batch = []
        try:
            # Wait briefly only when requests are out and nothing else is to be done.
            batch.append(self.results.get(timeout=0.02) if self.local_count else self.results.get_nowait())
        except queue.Empty:
            return 0
        while len(batch) < 1000:
            try:
                batch.append(self.results.get_nowait())
            except queue.Empty:
                break
        for result in batch:
            self._release(result.task.endpoint_id, 1)
            if result.duration_ms is not None:
                previous = self.typical_seconds.get(result.task.endpoint_id, result.duration_ms / 1000)
                self.typical_seconds[result.task.endpoint_id] = 0.7 * previous + 0.3 * result.duration_ms / 1000
        self.sent += len(batch)
        self._pump()   # refill the senders first: they keep working while this thread writes to the database
        try:
            service.record(batch)
        except Exception:
            db.session.rollback()
            log.exception("recording %d webhook attempts failed; their leases expire and they are retried", len(batch))
        return len(batch)


def deliver_webhooks(delivery_ids):
    """Deliver these deliveries now, one after another (no-Redis local mode, or an RQ job). Idempotent:
    deliveries already done or leased by a worker are skipped by the claim."""
    from flask import current_app
    config = current_app.config
    lease, timeout = config["WEBHOOK_LEASE_SECONDS"], config["WEBHOOK_TIMEOUT_SECONDS"]
    tasks, _ = service.claim(delivery_ids, lease)
    sent = 0
    for task in tasks:   # one by one: each lease is checked (and extended) just before its request
        for owned in service.start_attempts([task], lease, service.send_seconds(timeout, lease)):
            service.record([service.attempt(owned, config)])
            sent += 1
    return sent


def sweep_webhook_deliveries():
    """Signal again every delivery Redis may have lost (due and unleased, or with an expired lease)."""
    ids = service.due_or_stuck()
    if ids:
        service.signal([str(i) for i in ids])
    return len(ids)
