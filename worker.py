"""Starts the RQ worker inside an app context, with the periodic sweeper on a side thread.

    python worker.py            # work the default, email and webhooks queues until stopped
    python worker.py --burst    # work until the queues are empty, then exit (tests, cron)

The worker is an RQ SimpleWorker: jobs run in this process, one after another, with the app context,
database pool and HTTP connection pools kept warm between jobs. A forking worker pays a fork, a new
database connection and a new TLS handshake per job, which on a 2-core machine caps it near 70 jobs a
second. Crash safety does not depend on the fork: every job's state is in the database and the
sweeper re-enqueues whatever is due or stuck.

Webhook deliveries do not go through RQ jobs at all (even a SimpleWorker's ~200 jobs a second is
slower than the receivers): a WebhookDispatcher thread (jobs/webhooks.py) pops delivery ids from
Redis in batches, claims them in the database with a lease, and sends them from a thread pool over
kept-alive connections with a per-endpoint concurrency limit. Run more processes to scale out.
"""
import argparse
import gc
import logging
import threading
import time

from rq import SimpleWorker

import logs
from extensions import QUEUE_NAMES, db, jobs

log = logging.getLogger("orgkit.worker")

class OrgkitWorker(SimpleWorker):
    """A SimpleWorker that gives each job a fresh database session."""

    def perform_job(self, job, queue, *args, **kwargs):
        # RQ 3 passes an execution record as well; pass through whatever this RQ version gives.
        try:
            with logs.job_context(job):
                return super().perform_job(job, queue, *args, **kwargs)
        finally:
            db.session.remove()


def make_worker(queue_names=QUEUE_NAMES):
    return OrgkitWorker([jobs.queues[name] for name in queue_names], connection=jobs.redis)


def run_sweeper(app, stop, interval=None):
    from jobs.sweeper import sweep_all
    interval = interval or app.config["SWEEP_INTERVAL_SECONDS"]
    while not stop.is_set():
        with app.app_context(), logs.bound(job="sweeper"):
            try:
                sweep_all()
            except Exception:
                log.exception("sweep failed")
        stop.wait(interval)


def main(argv=None):
    from app import create_app

    parser = argparse.ArgumentParser(description="Orgkit background worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--no-sweeper", action="store_true", help="do not run the periodic sweeper")
    parser.add_argument("--queues", default=",".join(QUEUE_NAMES), help="comma-separated queue names")
    parser.add_argument("--no-webhooks", action="store_true", help="do not deliver webhooks in this process")
    args = parser.parse_args(argv)

    app = create_app()
    if not app.config["USE_REDIS_QUEUE"]:
        raise SystemExit("worker.py needs Redis (REDIS_URL); without it the web process runs jobs itself.")
    gc.freeze()  # as gunicorn.conf.py's post_worker_init: the loaded app lives as long as the process
    with app.app_context():
        stop = threading.Event()
        if not args.no_sweeper and not args.burst:
            threading.Thread(target=run_sweeper, args=(app, stop), daemon=True, name="sweeper").start()
        dispatcher = dispatcher_thread = None
        if not args.no_webhooks:
            from jobs.webhooks import WebhookDispatcher
            dispatcher = WebhookDispatcher(app)
            if not args.burst:
                dispatcher_thread = threading.Thread(target=dispatcher.run, daemon=True, name="webhooks")
                dispatcher_thread.start()
        try:
            make_worker(args.queues.split(",")).work(burst=args.burst, logging_level=app.config["LOG_LEVEL"])
            if dispatcher is not None and args.burst:
                dispatcher.run(burst=True)
        finally:
            stop.set()
            if dispatcher_thread is not None:
                dispatcher.stop()
                dispatcher_thread.join(app.config["WEBHOOK_TIMEOUT_SECONDS"] + 5)


if __name__ == "__main__":
    main()
