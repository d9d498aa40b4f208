"""Webhook delivery benchmark: events fanned out to endpoints on a local receiver that answers 200 at
once, delivered by 1 and by 2 real worker processes (python worker.py), next to a baseline measured in
the same run: a raw loop of signed POSTs with the same HTTP client (services/egress.py on urllib3),
the same concurrency and the same receiver.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        python bench/webhooks.py [--events 5000] [--endpoints 2] [--workers 1,2]

It DROPS AND RECREATES every table in DATABASE_URL (default: a temporary SQLite file) and FLUSHES the
Redis database in REDIS_URL (required), so point it at throwaway ones.

Figures:
- deliveries/s: a backlog of events is committed first, then the workers start; the rate is the
  number of deliveries over the time from the first to the last request the receiver got (the same
  measure is applied to the raw loop);
- commit-to-receipt p50/p99: with the workers idle and running, single events are committed one per
  transaction at a steady rate below saturation; latency is the receiver's arrival time minus the
  time the committing transaction returned.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rate(requests):
    if len(requests) < 2:
        return float("nan")
    times = [r.received_at for r in requests]
    return (len(times) - 1) / max(max(times) - min(times), 1e-9)


# --- the raw baseline, run in its own process like a worker ---------------------------------------

def raw_loop(url, count, concurrency):
    """count signed POSTs to url from `concurrency` threads with the same client as the workers."""
    from services import egress, webhooks
    policy = egress.EgressPolicy.from_config({"EGRESS_ALLOWLIST": "127.0.0.1/32", "EGRESS_ALLOW_HTTP": True})
    secret = webhooks.generate_secret()
    body = '{"type":"member.role_changed","timestamp":"2025-01-01T00:00:00+00:00","data":{"role":"admin"}}'
    latencies = []

    def post(n):
        webhook_id = f"msg_raw{n}"
        timestamp = int(time.time())
        headers = {"content-type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": webhooks.sign(secret, webhook_id, timestamp, body)}
        started = time.monotonic()
        egress.request("POST", url, headers=headers, body=body.encode(), timeout=15, max_response_bytes=20 * 1024,
                       policy=policy, pool_size=concurrency)
        latencies.append(time.monotonic() - started)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(count)))
    print(f"{percentile(latencies, 50) * 1000:.1f} {percentile(latencies, 99) * 1000:.1f}")


# --- the benchmark ---------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--endpoints", type=int, default=2)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker process counts to measure")
    parser.add_argument("--threads", type=int, default=16, help="WEBHOOK_WORKER_THREADS of each worker")
    parser.add_argument("--endpoint-concurrency", type=int, default=8, help="WEBHOOK_ENDPOINT_CONCURRENCY")
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--latency-rate", type=float, default=50.0, help="events per second in the latency phase")
    parser.add_argument("--timeout", type=float, default=300, help="give up on a phase after this many seconds")
    parser.add_argument("--raw-loop", nargs=3, metavar=("URL", "COUNT", "CONCURRENCY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_loop:
        raw_loop(args.raw_loop[0], int(args.raw_loop[1]), int(args.raw_loop[2]))
        return 0

    if not os.environ.get("REDIS_URL"):
        raise SystemExit("Set REDIS_URL to a Redis database the benchmark may flush.")
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='orgkit-bench-')}/bench.db"
    os.environ.update(
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-secret"), EGRESS_ALLOWLIST="127.0.0.1/32", EGRESS_ALLOW_HTTP="true",
        WEBHOOK_WORKER_THREADS=str(args.threads), WEBHOOK_ENDPOINT_CONCURRENCY=str(args.endpoint_concurrency),
        LOG_LEVEL="WARNING",
    )

    from app import create_app
    from config import Config
    from extensions import db, jobs
    from models import WebhookAttempt, WebhookDelivery, WebhookMessage
    from services import accounts, orgs, webhooks
    from services.events import SYSTEM, emit
    from tests.receiver import WebhookReceiver

    config = Config()
    config.USE_REDIS_QUEUE = True
    app = create_app(config)
    receiver = WebhookReceiver(keep_bodies=False).start()
    concurrency = min(args.threads, args.endpoints * args.endpoint_concurrency)
    deliveries = args.events * args.endpoints
    database = db.engine.dialect.name if False else None  # set inside the context below

    with app.app_context():
        database = db.engine.dialect.name
        db.drop_all()
        db.create_all()
        jobs.redis.flushdb()
        owner = accounts.create_user("bench@example.com", "Bench", "correct horse battery staple")
        org = orgs.create_org("Bench", owner, SYSTEM)
        for n in range(args.endpoints):
            webhooks.create_endpoint(org, SYSTEM, receiver.url(f"/e{n}"))
        db.session.commit()
        org_id = org.id

    print(f"webhooks bench: {args.events} events x {args.endpoints} endpoints = {deliveries} deliveries; "
          f"{database}; {args.threads} threads/worker, {args.endpoint_concurrency} per endpoint; "
          f"concurrency {concurrency}", flush=True)

    def wait_for(count, what):
        if not receiver.wait_for(count, timeout=args.timeout) or len(receiver.requests) < count:
            raise SystemExit(f"timed out waiting for {what}: {len(receiver.requests)} of {count} received")

    # Baseline: raw signed POSTs, same client library, concurrency and receiver.
    receiver.requests.clear()
    raw = subprocess.run([sys.executable, __file__, "--raw-loop", receiver.url("/raw"), str(deliveries), str(concurrency)],
                         cwd=ROOT, capture_output=True, text=True, timeout=args.timeout)
    if raw.returncode:
        raise SystemExit(raw.stderr[-2000:])
    raw_rate = rate(receiver.requests)
    raw_p50, raw_p99 = (float(x) for x in raw.stdout.split())
    print(f"  raw signed-POST loop        {raw_rate:8.0f} deliveries/s   request p50 {raw_p50:6.1f} ms  p99 {raw_p99:6.1f} ms", flush=True)

    results = []
    for worker_count in [int(w) for w in args.workers.split(",") if w.strip()]:
        with app.app_context():
            for model in (WebhookAttempt, WebhookDelivery, WebhookMessage):
                db.session.execute(db.delete(model))
            db.session.commit()
            jobs.redis.flushdb()
            org = db.session.get(__import__("models").Organization, org_id)
            receiver.requests.clear()
            # Backlog: every event committed (in transactions of 500) before the workers start.
            started = time.monotonic()
            for n in range(args.events):
                emit(org, "member.role_changed", SYSTEM, [], {"user": {"id": str(n)}, "role": "admin", "previous_role": "member"})
                if n % 500 == 499:
                    db.session.commit()
            db.session.commit()
            produce_rate = args.events / (time.monotonic() - started)

        workers = [subprocess.Popen([sys.executable, "worker.py", "--no-sweeper", "--queues", "webhooks"], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(worker_count)]
        try:
            wait_for(deliveries, "the backlog")
            worker_rate = rate(receiver.requests)
            # Latency, not saturated: one event per transaction at a steady rate.
            receiver.requests.clear()
            committed = {}
            with app.app_context():
                org = db.session.get(__import__("models").Organization, org_id)
                for n in range(args.latency_events):
                    tick = time.monotonic()
                    event = emit(org, "member.role_changed", SYSTEM, [], {"user": {"id": f"l{n}"}, "role": "admin"})
                    event_id = event.id
                    db.session.commit()
                    committed[event_id] = time.time()
                    time.sleep(max(0.0, 1 / args.latency_rate - (time.monotonic() - tick)))
                wait_for(args.latency_events * args.endpoints, "the latency events")
                message_of = dict(db.session.execute(db.select(WebhookMessage.audit_event_id, WebhookMessage.id)).all())
            commit_time = {f"msg_{message_of[e].hex}": t for e, t in committed.items()}
            latencies = [r.received_at - commit_time[r.webhook_id] for r in receiver.requests if r.webhook_id in commit_time]
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()
        p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
        results.append((worker_count, worker_rate, p50, p99))
        print(f"  {worker_count} worker process{'es' if worker_count > 1 else '  '}        {worker_rate:8.0f} deliveries/s "
              f"({worker_rate / raw_rate:.2f}x raw)   commit-to-receipt p50 {p50:6.1f} ms  p99 {p99:6.1f} ms "
              f"at {args.latency_rate:g} events/s   (backlog produced at {produce_rate:.0f} events/s)", flush=True)
    receiver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
