"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py "app:create_app()"`.

Every value can be overridden from the environment (WEB_CONCURRENCY, PORT, ...). Orgkit keeps no state
in a process, so scaling out is more processes (here or on more machines) against the same PostgreSQL
and Redis.
"""
import gc
import multiprocessing
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Load the app in each worker after the fork, so no database connection is shared across processes.
preload_app = False
# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), shared by every
# gunicorn on the host, so one instance's shutdown can unlink another's. Orgkit does not use it.
control_socket_disable = True
errorlog = "-"
# The app writes the access line itself (LOG_REQUESTS), with request id, org and user, and with the
# token of a reset, sign-up or invitation link redacted (logs.logged_path); gunicorn's access log
# would print those tokens, so it is off in either format.
accesslog = None
if os.environ.get("LOG_FORMAT", "text").strip().lower() == "json":
    # JSON everywhere: gunicorn's own lines are JSON too. The root logger gets no handler here: the
    # app installs its own (logs.py), and two would print twice.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
            # Dropped: with a logconfig_dict gunicorn logs access lines even when accesslog is None.
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Move everything loaded so far (the app, its modules, SQLAlchemy's mappers: about 180,000
    objects) out of the collector's reach. They live as long as the process, and without this every
    full collection walks them again: a page of 100 SCIM users took 13 ms instead of 9 ms."""
    gc.freeze()
