"""Load benchmark: gunicorn and worker processes under an open-loop, fixed-rate mix of page views, HTMX
fragments, SCIM calls and JSON API calls, next to a baseline measured in the same run: GET /healthz
at the same rate.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        python bench/load.py --rate 100 --duration 60          # hold one rate
    ... python bench/load.py --steps 25,50,100,150,200 --step-duration 15 --p99-bound 500
                                                                # step up: the highest rate held

It DROPS AND RECREATES every table in DATABASE_URL and writes to the Redis database in REDIS_URL, so
point both at throwaway ones. Without DATABASE_URL it uses a temporary SQLite file, which is only for
the smoke test (one web process; SQLite is not a production database and its figures mean nothing).

Open loop: request i is due at start + i/rate whatever happened to the earlier ones, and its latency
is measured from that due time, so time spent waiting for a free client thread or a server thread
counts (closed-loop benchmarks hide that queueing). A request is an error when it raises, times out
or answers a status other than its kind expects. A rate is "held" when it ran with zero errors and the
mix's p99 stayed under --p99-bound.

Set-up, through the services: an org with --members members provisioned over SCIM (so the audit log
and webhook deliveries are real), an owner signed in to the browser (a session cookie signed with the
app's key), a SCIM token, an admin-scoped API key, and a webhook endpoint subscribed to every event on a local receiver, which
the worker processes deliver to while the load runs (every SCIM PATCH emits scim.user.updated).
The SCIM and API rate limits are raised for the run (SCIM_RATE_LIMIT, API_RATE_LIMIT): this measures
capacity, not the limiters.
"""
import argparse
import collections
import http.client
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ORG_SLUG = "load-org"
SCIM_JSON = "application/scim+json"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


# --- Request kinds: the one list a new kind is added to ---------------------------------------------

@dataclass
class Setup:
    """What the requests need, made by seed(): the session cookie, the SCIM token, the API key, ids to
    ask for."""
    session_cookie: str
    scim_token: str
    api_key: str
    scim_user_ids: list
    member_names: list


@dataclass(frozen=True)
class RequestKind:
    name: str
    weight: int                      # share of the mix, relative to the other kinds' weights
    make: object                     # (setup, n) -> (method, path, headers, body or None)
    ok: tuple = (200,)               # statuses that count as success


def _browser(setup, htmx_target=None):
    headers = {"Cookie": f"session={setup.session_cookie}"}
    if htmx_target:
        headers.update({"HX-Request": "true", "HX-Target": htmx_target})
    return headers


def _scim(setup):
    return {"Authorization": f"Bearer {setup.scim_token}", "Accept": SCIM_JSON, "Content-Type": SCIM_JSON}


PAGES = [f"/app/o/{ORG_SLUG}/members", f"/app/o/{ORG_SLUG}/audit", f"/app/o/{ORG_SLUG}/webhooks/"]


def page_view(setup, n):
    return "GET", PAGES[n % len(PAGES)], _browser(setup), None


def htmx_fragment(setup, n):
    if n % 2:
        # The unread badge every page polls (blueprints/notifications), answered as a fragment.
        return "GET", "/app/notifications/badge", _browser(setup, "notification_badge"), None
    # Typing in the members search box: the member_results block of members/list.html alone.
    name = setup.member_names[n % len(setup.member_names)]
    return "GET", f"/app/o/{ORG_SLUG}/members?q={quote(name[:6])}", _browser(setup, "member_results"), None


def scim_call(setup, n):
    user_id = setup.scim_user_ids[n % len(setup.scim_user_ids)]
    step = n % 3
    if step == 0:
        prefix = setup.member_names[n % len(setup.member_names)][:6].lower()
        return "GET", "/scim/v2/Users?count=20&filter=" + quote(f'userName sw "{prefix}"'), _scim(setup), None
    if step == 1:
        return "GET", f"/scim/v2/Users/{user_id}", _scim(setup), None
    body = {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "title", "value": f"Title {n}"}]}
    return "PATCH", f"/scim/v2/Users/{user_id}", _scim(setup), json.dumps(body).encode()


def api_call(setup, n):
    headers = {"Authorization": f"Bearer {setup.api_key}", "Accept": "application/json"}
    path = ["/api/v1/members?limit=20", "/api/v1/org", "/api/v1/audit-events?limit=20"][n % 3]
    return "GET", path, headers, None


REQUEST_KINDS = [
    RequestKind("page view", 3, page_view),
    RequestKind("htmx fragment", 3, htmx_fragment),
    RequestKind("scim", 3, scim_call),
    RequestKind("api", 3, api_call),
]
BASELINE = RequestKind("baseline: GET /healthz", 1, lambda setup, n: ("GET", "/healthz", {}, None))


# --- Data, through the services ----------------------------------------------------------------------

def seed(members):
    """A fresh database: the org, its members (SCIM-provisioned), a SCIM token, a webhook endpoint."""
    from flask import session

    from app import create_app
    from config import Config
    from extensions import db
    from models import ScimUser
    from services import accounts, api_keys, orgs, webhooks
    from services.events import SYSTEM, Actor
    from services.scim import provisioning, settings
    from services.sso import domains

    app = create_app(Config())
    with app.app_context():
        db.drop_all()
        db.create_all()
        owner = accounts.create_user("owner@load.example.com", "Olive Owner", "correct horse battery staple")
        org = orgs.create_org("Load Org", owner, SYSTEM, slug=ORG_SLUG)
        settings.set_enabled(org, True, SYSTEM)
        _, token = settings.create_token(org, SYSTEM)
        _, api_key = api_keys.create_key(org, "load bench", ["admin"], SYSTEM)
        webhooks.create_endpoint(org, SYSTEM, os.environ["LOAD_RECEIVER_URL"], "load receiver")
        # Verified, as an operator would mark it: SCIM then makes the members (managed accounts). On an
        # unverified domain it only invites them (issue 13), and the pages would show one member.
        domains.mark_verified(org, domains.add_domain(org, "load.example.com", SYSTEM), SYSTEM, "operator")
        db.session.commit()
        idp = Actor("scim", "load", "SCIM token (load bench)", "127.0.0.1", "load-bench")
        names = []
        for n in range(members):
            first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"][n % 8]
            user_name = f"{first.lower()}{n:05d}@load.example.com"
            provisioning.create_user(org, {
                "userName": user_name, "active": True, "name": {"givenName": first, "familyName": f"Member{n}"},
                "emails": [{"value": user_name, "type": "work", "primary": True}],
            }, idp, "http://127.0.0.1")
            names.append(user_name)
            if n % 100 == 99:
                db.session.commit()
        db.session.commit()
        scim_ids = [str(i) for i in db.session.scalars(db.select(ScimUser.id).where(ScimUser.org_id == org.id))]
        with app.test_request_context():
            from bench.pages import _signed_in_login_id
            session["_user_id"] = _signed_in_login_id(owner)
            session["_fresh"] = True
            cookie = app.session_interface.get_signing_serializer(app).dumps(dict(session))
        database = db.engine.dialect.name
    return Setup(cookie, token, api_key, scim_ids, names), database


# --- Processes -----------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_processes(port, web_processes, threads, worker_processes, log_path):
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY=str(web_processes),
               GUNICORN_THREADS=str(threads))
    log = open(log_path, "ab")
    gunicorn = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py",
                                 "--access-logfile", "/dev/null", "app:create_app()"],
                                cwd=ROOT, env=env, stdout=log, stderr=log)
    workers = [subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log, stderr=log)
               for _ in range(worker_processes)]
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline or gunicorn.poll() is not None:
            stop_processes([gunicorn, *workers])
            raise SystemExit(f"gunicorn did not start: see {log_path}")
        time.sleep(0.2)
    return [gunicorn, *workers]


def stop_processes(processes):
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


# --- The open-loop driver ------------------------------------------------------------------------------

class Driver:
    """Issues requests on a fixed schedule from a pool of client threads, each with its own keep-alive
    connection; records (kind, latency from the due time, error, method) per request."""

    def __init__(self, port, setup, client_threads, timeout):
        self.port, self.setup, self.timeout = port, setup, timeout
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(max_workers=client_threads)
        # Numbering goes on across runs, so no PATCH repeats an earlier one (a no-op emits no event).
        self.counters = collections.defaultdict(itertools.count)

    def _connection(self):
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return connection

    def _send(self, kind, n, due, results):
        method, path, headers, body = kind.make(self.setup, n)
        error = None
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status not in kind.ok:
                    error = f"{method} {path} -> {response.status}"
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    self.local.connection = None
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                # A kept-alive connection the server closed while idle: reconnect once, as browsers do.
                connection.close()
                self.local.connection = None
                if attempt == 2:
                    error = f"{method} {path}: {exc!r}"
            except Exception as exc:  # timeouts and refused connections are errors of the run
                connection.close()
                self.local.connection = None
                error = f"{method} {path}: {exc!r}"
                break
        results.append((kind.name, time.perf_counter() - due, error, method))

    def run(self, kinds, rate, duration):
        """Requests at `rate` per second for `duration` seconds, kinds interleaved by weight."""
        schedule = [kind for kind in kinds for _ in range(kind.weight)]
        total = int(rate * duration)
        results, futures = [], []
        start = time.perf_counter() + 0.05
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            kind = schedule[i % len(schedule)]
            futures.append(self.pool.submit(self._send, kind, next(self.counters[kind.name]), due, results))
        for future in futures:
            future.result()
        return results, time.perf_counter() - start


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


def summarize(results, kinds):
    rows = {}
    for kind in kinds:
        mine = [r for r in results if r[0] == kind.name]
        latencies = [r[1] * 1000 for r in mine]
        rows[kind.name] = (len(mine), statistics.median(latencies) if latencies else float("nan"),
                           percentile(latencies, 99), sum(1 for r in mine if r[2]))
    everything = [r[1] * 1000 for r in results]
    rows["all"] = (len(results), statistics.median(everything) if everything else float("nan"),
                   percentile(everything, 99), sum(1 for r in results if r[2]))
    return rows


def print_table(title, rows):
    print(title)
    print(f"  {'kind':26} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, (count, p50, p99, errors) in rows.items():
        print(f"  {name:26} {count:9d} {p50:8.1f} {p99:8.1f} {errors:7d}")


def busy_cpu_seconds():
    """CPU seconds the whole machine has spent busy so far (every process: gunicorn, the workers,
    PostgreSQL, Redis and this driver), from /proc/stat; None where there is no /proc."""
    try:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in stat.readline().split()[1:9])
    except OSError:
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_counting_cpu(driver, kinds, rate, duration):
    """driver.run, and the CPU the machine and this process (the driver and the webhook receiver)
    spent on it."""
    machine, own = busy_cpu_seconds(), time.process_time()
    results, elapsed = driver.run(kinds, rate, duration)
    machine = None if machine is None else busy_cpu_seconds() - machine
    return results, elapsed, machine, time.process_time() - own


def cpu_line(machine, own, requests):
    """What a mix request costs in CPU, and the rate the server side could reach on this machine's
    cores if it had them to itself, at 100% (a ceiling: a p99 bound is met well below it)."""
    if machine is None or not requests:
        return "  CPU: not measured (no /proc/stat)"
    server = max(machine - own, 1e-9) / requests
    cores = os.cpu_count()
    return (f"  CPU per mix request: {machine / requests * 1000:.1f} ms on the machine, {own / requests * 1000:.1f} ms of it "
            f"this driver and the receiver; the other {server * 1000:.1f} ms (web, workers, PostgreSQL, Redis) "
            f"would fill {cores} cores at {cores / server:.0f} req/s")


def first_errors(results, limit=5):
    return [r[2] for r in results if r[2]][:limit]


# --- Main ----------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50, help="requests per second to hold (without --steps)")
    parser.add_argument("--duration", type=float, default=60, help="seconds to hold --rate")
    parser.add_argument("--steps", default="", help="comma-separated rates to step up through, e.g. 25,50,100,150")
    parser.add_argument("--step-duration", type=float, default=15)
    parser.add_argument("--baseline-duration", type=float, default=None, help="seconds of /healthz (default: as the mix)")
    parser.add_argument("--p99-bound", type=float, default=500, help="ms: a step is held only with p99 under this")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--web-processes", type=int, default=None, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per process")
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes (python worker.py)")
    parser.add_argument("--client-threads", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=10, help="seconds before a request counts as an error")
    args = parser.parse_args(argv)

    if not os.environ.get("REDIS_URL"):
        raise SystemExit("Set REDIS_URL to a Redis database the benchmark may write to.")
    sqlite = not os.environ.get("DATABASE_URL")
    if sqlite:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='orgkit-load-')}/load.db"
    from tests.receiver import WebhookReceiver

    receiver = WebhookReceiver(keep_bodies=False).start()
    os.environ.update(
        SECRET_KEY=os.environ.get("SECRET_KEY", "load-bench-secret"), LOG_LEVEL="WARNING", LOG_REQUESTS="false",
        EGRESS_ALLOWLIST="127.0.0.1/32", EGRESS_ALLOW_HTTP="true", SCIM_RATE_LIMIT="100000 per second",
        API_RATE_LIMIT="100000 per second",
        PUBLIC_BASE_URL="http://127.0.0.1", LOAD_RECEIVER_URL=receiver.url("/hooks"),
    )
    setup, database = seed(args.members)
    web_processes = args.web_processes or (1 if sqlite else None)
    if web_processes is None:
        import multiprocessing
        web_processes = multiprocessing.cpu_count() * 2 + 1
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"orgkit-load-{port}.log"
    processes = start_processes(port, web_processes, args.threads, args.workers, log_path)
    driver = Driver(port, setup, args.client_threads, args.timeout)
    print(f"Orgkit load bench · {database} · gunicorn {web_processes} processes x {args.threads} threads · "
          f"{args.workers} worker processes · {args.members} members · open loop, latency from the due time · "
          f"log {log_path}", flush=True)
    exit_code = 0
    try:
        driver.run(REQUEST_KINDS + [BASELINE], min(args.rate, 20), 2)    # warm-up: templates, pools
        if args.steps:
            held = None
            for rate in [float(r) for r in args.steps.split(",")]:
                baseline, _ = driver.run([BASELINE], rate, args.baseline_duration or args.step_duration)
                results, elapsed, machine, own = run_counting_cpu(driver, REQUEST_KINDS, rate, args.step_duration)
                rows = summarize(results, REQUEST_KINDS)
                base = summarize(baseline, [BASELINE])[BASELINE.name]
                ok = rows["all"][3] == 0 and rows["all"][2] < args.p99_bound
                print_table(f"\n{rate:g} req/s for {args.step_duration:g} s (served {len(results) / elapsed:.1f}/s): "
                            f"{'held' if ok else 'NOT held'}", {**rows, BASELINE.name: base})
                print(cpu_line(machine, own, len(results)))
                for error in first_errors(results):
                    print(f"  error: {error}")
                if not ok:
                    break
                held = rate
            print(f"\nhighest rate held (zero errors, p99 < {args.p99_bound:g} ms): "
                  f"{f'{held:g} req/s' if held else 'none of the steps'}")
            print(f"webhook deliveries received since set-up: {len(receiver.requests)}")
        else:
            baseline, _ = driver.run([BASELINE], args.rate, args.baseline_duration or args.duration)
            delivered_before = len(receiver.requests)
            results, elapsed, machine, own = run_counting_cpu(driver, REQUEST_KINDS, args.rate, args.duration)
            rows = summarize(results, REQUEST_KINDS)
            rows[BASELINE.name] = summarize(baseline, [BASELINE])[BASELINE.name]
            print_table(f"\n{args.rate:g} req/s for {args.duration:g} s (served {len(results) / elapsed:.1f}/s)", rows)
            print(cpu_line(machine, own, len(results)))
            for error in first_errors(results):
                print(f"  error: {error}")
            exit_code = 1 if rows["all"][3] else 0
            # Every SCIM PATCH emits scim.user.updated: the workers deliver one webhook for each.
            patches = sum(1 for r in results if r[3] == "PATCH" and not r[2])
            receiver.wait_for(delivered_before + patches, timeout=30)
            print(f"webhooks delivered for the run's {patches} SCIM PATCHes: {len(receiver.requests) - delivered_before} "
                  f"(by {args.workers} worker processes, while the load ran)")
    finally:
        stop_processes(processes)
        driver.pool.shutdown()
        receiver.stop()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
