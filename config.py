"""Settings, each read from the environment with a default that works for a local run.

The README's settings table is generated from SETTINGS below, so a new setting is documented where
it is declared.
"""
import os
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

BASE_DIR = Path(__file__).resolve().parent

# (environment variable, default, description). The one list of every setting.
SETTINGS = [
    ("SECRET_KEY", "dev-insecure-change-me", "Signs sessions, CSRF tokens and emailed links. Set a long random value in production."),
    ("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'orgkit.db'}", "SQLAlchemy URL. PostgreSQL in production (postgresql+psycopg://...)."),
    ("REDIS_URL", "redis://127.0.0.1:6379/0", "Redis for the job queues and rate limits. When unreachable, jobs run in-process after the commit."),
    ("PUBLIC_BASE_URL", "http://127.0.0.1:5000", "The URL users and IdPs reach Orgkit at; used in emails, SAML and SCIM URLs."),
    ("ENCRYPTION_KEY", "", "Fernet key for secrets stored encrypted (webhook secrets, SAML SP key). Derived from SECRET_KEY when empty."),
    ("SMTP_HOST", "", "SMTP server. When empty, emails are written to the log with their links."),
    ("SMTP_PORT", "25", "SMTP port."),
    ("SMTP_USERNAME", "", "SMTP user name (optional)."),
    ("SMTP_PASSWORD", "", "SMTP password (optional)."),
    ("SMTP_STARTTLS", "false", "Use STARTTLS when talking to the SMTP server."),
    ("MAIL_FROM", "Orgkit <no-reply@orgkit.local>", "From address of every email."),
    ("SESSION_COOKIE_SECURE", "auto", "Send the session and remember-me cookies over HTTPS only: true, false, or auto (true when PUBLIC_BASE_URL is https://)."),
    ("LOGIN_RATE_LIMIT_IP", "20 per minute", "Failed login attempts allowed per client IP (then 429 until the window frees)."),
    ("LOGIN_RATE_LIMIT_ACCOUNT", "10 per 15 minutes", "Failed login attempts allowed per account (email), whether or not the account exists."),
    ("INVITATION_TTL_DAYS", "7", "Days an emailed invitation link stays valid."),
    ("PASSWORD_RESET_TTL_MINUTES", "60", "Minutes a password reset link stays valid."),
    ("TRUSTED_PROXY_COUNT", "0", "How many reverse proxies in front of Orgkit set X-Forwarded-For/-Proto/-Host (0 = trust none)."),
    ("LOG_LEVEL", "INFO", "Logging level."),
    # Accounts
    ("FORGOT_PASSWORD_RATE_LIMIT_IP", "10 per hour", "Password reset requests allowed per client IP."),
    ("FORGOT_PASSWORD_RATE_LIMIT_ACCOUNT", "3 per hour", "Password reset emails allowed per address."),
    ("SIGNUP_RATE_LIMIT_IP", "20 per hour", "Sign-up requests allowed per client IP (each sends an email)."),
    ("SIGNUP_RATE_LIMIT_ACCOUNT", "3 per hour", "Sign-up emails allowed per address."),
    ("SIGNUP_LINK_TTL_MINUTES", "60", "Minutes the emailed link that finishes creating an account stays valid."),
    # Invitations
    ("INVITE_LINK_RATE_LIMIT", "10 per hour", "Requests to join through a shareable invite link allowed per client IP (each sends an email)."),
    # SCIM provisioning
    ("SCIM_RATE_LIMIT", "50 per second", "Requests allowed per SCIM token (Flask-Limiter syntax); past it, 429 with Retry-After."),
    # JSON API (API keys)
    ("API_IDEMPOTENCY_RETENTION_DAYS", "1", "Days the JSON API keeps the answer to a POST sent with an Idempotency-Key (a retry within them gets the same answer and changes nothing); older ones are pruned by the retention job (0 = forever)."),
    ("API_RATE_LIMIT", "100 per second", "Requests allowed per API key (Flask-Limiter syntax, e.g. 600 per minute), counted in Redis across processes; past it, 429 with Retry-After."),
    # Webhooks and outbound HTTP (services/webhooks.py, services/egress.py)
    ("EGRESS_ALLOWLIST", "", "Comma-separated CIDRs and host names that outbound calls (webhooks, IdP metadata) may reach even though they are private, loopback or otherwise refused; e.g. 10.0.0.0/8,hooks.internal. For self-hosting next to internal receivers."),
    ("EGRESS_ALLOW_HTTP", "false", "Allow plain http:// URLs for outbound calls. Off in production: webhook payloads and IdP metadata travel over HTTPS."),
    ("EGRESS_CA_BUNDLE", "", "Extra PEM file of CA certificates trusted for outbound HTTPS (a corporate CA), in addition to the system store."),
    ("WEBHOOK_TIMEOUT_SECONDS", "15", "Seconds a webhook receiver has to answer one delivery attempt."),
    ("WEBHOOK_RETRY_SCHEDULE", "0,5,300,1800,7200,18000,36000,36000", "Seconds before each delivery attempt (the first is the initial attempt); after the last the message is failed."),
    ("WEBHOOK_RETRY_JITTER", "0.1", "Random spread added to each retry delay, as a fraction of it (0.1 = up to +/-10%)."),
    ("WEBHOOK_DISABLE_AFTER_DAYS", "5", "An endpoint whose every attempt failed for this many days is disabled and the org's admins are told."),
    ("WEBHOOK_SECRET_OVERLAP_HOURS", "24", "Hours the previous signing secret keeps signing next to the new one after a rotation."),
    ("WEBHOOK_WORKER_THREADS", "16", "HTTP requests one worker process keeps in flight at once."),
    ("WEBHOOK_ENDPOINT_CONCURRENCY", "8", "Requests one worker process keeps in flight to a single endpoint, so a slow endpoint cannot hold up the others."),
    ("WEBHOOK_BATCH_SIZE", "200", "Deliveries a worker claims from the database in one query."),
    ("WEBHOOK_LEASE_SECONDS", "60", "Seconds a worker holds a claimed delivery; after that the sweeper hands it to another worker (crash recovery)."),
    ("WEBHOOK_SWEEP_GRACE_SECONDS", "30", "Seconds a due delivery may wait in Redis before the sweeper signals it again from the database."),
    # Operations (issue 8)
    ("LOG_FORMAT", "text", "text (readable, for a terminal) or json (one JSON object per line with request_id, org, user_id, job_id: use in production)."),
    ("LOG_REQUESTS", "true", "Log one line per finished request (method, path, status, duration_ms) with the request's context."),
    ("SESSION_COOKIE_SAMESITE", "Lax", "SameSite of the session and remember-me cookies: Lax (emailed links arrive logged in) or Strict."),
    ("REMEMBER_COOKIE_DAYS", "30", "Days a \"Keep me logged in\" cookie lasts (log out everywhere ends it sooner)."),
    ("AUDIT_RETENTION_DAYS", "365", "Days audit events are kept (0 = forever)."),
    ("NOTIFICATION_RETENTION_DAYS", "90", "Days in-app notifications are kept, read or not (0 = forever)."),
    ("WEBHOOK_ATTEMPT_RETENTION_DAYS", "30", "Days the webhook attempt log (requests and responses) is kept (0 = forever)."),
    ("EMAIL_RETENTION_DAYS", "30", "Days sent or failed emails (bodies with their links) are kept in the outbox table (0 = forever)."),
    ("RETENTION_BATCH_SIZE", "1000", "Rows deleted per transaction by the retention job."),
    ("RETENTION_INTERVAL_MINUTES", "60", "How often the worker's sweeper runs the retention job."),
    ("SWEEP_INTERVAL_SECONDS", "10", "How often each worker's sweeper re-enqueues due or stuck deliveries and emails (after a Redis outage, a worker crash ...)."),
    # Single sign-on (services/sso)
    ("SSO_LOGIN_RATE_LIMIT", "30 per minute", "SSO logins started (GET /sso/<org>/login, each writes a one-time state) allowed per client IP; past it, 429 with Retry-After."),
    ("SSO_ACS_RATE_LIMIT", "60 per minute", "SAML responses accepted per client IP at an org's ACS (Flask-Limiter syntax); past it, 429 with Retry-After."),
    ("SSO_MAX_RESPONSE_BYTES", "262144", "Largest decoded SAMLResponse accepted at the ACS (bytes); larger posts are refused with 413 before any XML parsing."),
    ("SSO_DNS_RESOLVER", "", "host:port of the DNS server that checks domain verification TXT records; empty uses the system resolver."),
    ("SSO_METADATA_REFRESH_HOURS", "24", "Hours between scheduled fetches of an IdP's metadata URL (its certificate rollovers are picked up); 0 turns the schedule off."),
    ("SSO_LOG_RETENTION_DAYS", "90", "Days the SSO log (login attempts and their refusal reasons) is kept (0 = forever)."),
    # Two-factor authentication (services/twofactor.py)
    ("TWO_FACTOR_RATE_LIMIT", "5 per 15 minutes", "Wrong second-factor codes (authenticator or recovery) allowed per account at login and re-authentication; past it, 429 with Retry-After."),
    ("TWO_FACTOR_REMEMBER_DAYS", "30", "Days \"Remember this device\" skips the second factor in one browser (log out everywhere ends it sooner)."),
    ("TWO_FACTOR_LOGIN_MINUTES", "10", "Minutes between a correct password and the second factor before the login must start again."),
    # Notifications
    ("NOTIFICATION_DIGEST_HOUR", "8", "Hour of the day (UTC, 0-23) the daily notification digest emails are sent."),
    # Screens and static files (assets.py)
    ("COMPRESS_RESPONSES", "true", "Compress HTML, CSS, JS and JSON responses (brotli or gzip). Set false when a reverse proxy already compresses."),
    # Installing and running (issue 14)
    ("REDIS_NAMESPACE", "", "Prefix of this install's keys in Redis (job queues, webhook signals, rate limits). Installs sharing a Redis database each need their own; empty takes the database's name from DATABASE_URL."),
    ("ORGKIT_PRODUCTION", "false", "Set to true in production: Orgkit then refuses to start while SECRET_KEY is the default or shorter than 32 bytes (so does an https:// PUBLIC_BASE_URL)."),
]

DEFAULT_SECRET_KEY = SETTINGS[0][1]
MIN_SECRET_KEY_BYTES = 32


RETENTION_SETTINGS = (
    "AUDIT_RETENTION_DAYS", "NOTIFICATION_RETENTION_DAYS", "WEBHOOK_ATTEMPT_RETENTION_DAYS",
    "EMAIL_RETENTION_DAYS", "SSO_LOG_RETENTION_DAYS", "API_IDEMPOTENCY_RETENTION_DAYS", "RETENTION_BATCH_SIZE",
    "RETENTION_INTERVAL_MINUTES",
)


def _non_negative_int(name, value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None
    if number < 0:
        raise ValueError(f"{name} must be 0 or more")
    return number


def _env(name, default):
    value = os.environ.get(name, default)
    if name == "DATABASE_URL" and not value:
        # `DATABASE_URL= make test-sqlite` style: empty means the local SQLite file, not a broken URL.
        return default
    return value


def _bool(value):
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


class Config:
    def __init__(self):
        for name, default, _ in SETTINGS:
            setattr(self, name, _env(name, default))
        self.SQLALCHEMY_DATABASE_URI = _normalise_db_url(self.DATABASE_URL)
        # No pool_pre_ping: extensions._refuse_connection_the_server_closed finds closed connections
        # without its round trip per request.
        self.SQLALCHEMY_ENGINE_OPTIONS = {}
        if self.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
            # Sessions in UTC, sent with the connection's startup packet (no round trip; PgBouncer 1.20
            # and later pass it on). psycopg then gives timestamps with datetime.timezone.utc, which
            # models.base.UTCDateTime keeps as they are, where a server zone named otherwise ("Etc/UTC",
            # Debian's default) came as a ZoneInfo that every value was converted from: a tenth of a
            # SCIM page of 100 users (bench/scim.py). Values are the same instants either way.
            # Options given in DATABASE_URL (?options=...) are kept: connect_args would replace them.
            given = make_url(self.SQLALCHEMY_DATABASE_URI).query.get("options") or ""
            given = given[-1] if isinstance(given, tuple) else given
            self.SQLALCHEMY_ENGINE_OPTIONS["connect_args"] = {"options": f"{given} -c TimeZone=UTC".strip()}
        self.SMTP_PORT = int(self.SMTP_PORT)
        self.TRUSTED_PROXY_COUNT = int(self.TRUSTED_PROXY_COUNT)
        self.SMTP_STARTTLS = _bool(self.SMTP_STARTTLS)
        if str(self.SESSION_COOKIE_SECURE).strip().lower() == "auto":
            # A site served over https gets Secure cookies without a second setting to remember.
            self.SESSION_COOKIE_SECURE = self.PUBLIC_BASE_URL.lower().startswith("https://")
        else:
            self.SESSION_COOKIE_SECURE = _bool(self.SESSION_COOKIE_SECURE)
        self.SESSION_COOKIE_HTTPONLY = True
        # Lax by default, not Strict: links from emails must arrive logged in. The SAML ACS POST is
        # cross-site and so arrives without this cookie; SSO keeps its state server-side.
        self.SESSION_COOKIE_SAMESITE = self.SESSION_COOKIE_SAMESITE.strip().capitalize()
        if self.SESSION_COOKIE_SAMESITE not in ("Lax", "Strict"):
            # None would send the session on cross-site POSTs; CSRF tokens would be the only wall left.
            raise ValueError("SESSION_COOKIE_SAMESITE must be Lax or Strict")
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = self.SESSION_COOKIE_SAMESITE
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_DURATION = timedelta(days=int(self.REMEMBER_COOKIE_DAYS))
        self.LOG_FORMAT = self.LOG_FORMAT.strip().lower()
        self.LOG_REQUESTS = _bool(self.LOG_REQUESTS)
        self.ORGKIT_PRODUCTION = _bool(self.ORGKIT_PRODUCTION)
        self.SWEEP_INTERVAL_SECONDS = float(self.SWEEP_INTERVAL_SECONDS)
        for name in RETENTION_SETTINGS:
            setattr(self, name, _non_negative_int(name, getattr(self, name)))
        if self.RETENTION_BATCH_SIZE < 1 or self.RETENTION_INTERVAL_MINUTES < 1:
            raise ValueError("RETENTION_BATCH_SIZE and RETENTION_INTERVAL_MINUTES must be at least 1")
        self.INVITATION_TTL_DAYS = int(self.INVITATION_TTL_DAYS)
        self.PASSWORD_RESET_TTL_MINUTES = int(self.PASSWORD_RESET_TTL_MINUTES)
        self.SIGNUP_LINK_TTL_MINUTES = int(self.SIGNUP_LINK_TTL_MINUTES)
        self.EGRESS_ALLOW_HTTP = _bool(self.EGRESS_ALLOW_HTTP)
        for name in ("WEBHOOK_TIMEOUT_SECONDS", "WEBHOOK_RETRY_JITTER", "WEBHOOK_DISABLE_AFTER_DAYS",
                     "WEBHOOK_SECRET_OVERLAP_HOURS", "WEBHOOK_LEASE_SECONDS", "WEBHOOK_SWEEP_GRACE_SECONDS"):
            setattr(self, name, float(getattr(self, name)))
        for name in ("WEBHOOK_WORKER_THREADS", "WEBHOOK_ENDPOINT_CONCURRENCY", "WEBHOOK_BATCH_SIZE"):
            setattr(self, name, int(getattr(self, name)))
        self.NOTIFICATION_DIGEST_HOUR = int(self.NOTIFICATION_DIGEST_HOUR)
        self.COMPRESS_RESPONSES = _bool(self.COMPRESS_RESPONSES)
        self.TWO_FACTOR_REMEMBER_DAYS = _non_negative_int("TWO_FACTOR_REMEMBER_DAYS", self.TWO_FACTOR_REMEMBER_DAYS)
        self.TWO_FACTOR_LOGIN_MINUTES = _non_negative_int("TWO_FACTOR_LOGIN_MINUTES", self.TWO_FACTOR_LOGIN_MINUTES)
        self.SSO_MAX_RESPONSE_BYTES = int(self.SSO_MAX_RESPONSE_BYTES)
        self.SSO_METADATA_REFRESH_HOURS = _non_negative_int("SSO_METADATA_REFRESH_HOURS", self.SSO_METADATA_REFRESH_HOURS)
        self.WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
        self.RATELIMIT_HEADERS_ENABLED = True
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL
        self.REDIS_NAMESPACE = self.REDIS_NAMESPACE.strip() or database_namespace(self.SQLALCHEMY_DATABASE_URI)
        self.RATELIMIT_KEY_PREFIX = self.REDIS_NAMESPACE
        self.RATELIMIT_STRATEGY = "moving-window"
        # Redis down must not take the login page down with it: limits are then counted in each
        # process's memory until Redis answers again (tests/faults/test_faults.py proves it).
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_SWALLOW_ERRORS = True
        # Jobs run on Redis queues when True; in-process after commit when False. None = probe Redis.
        self.USE_REDIS_QUEUE = None
        self.TESTING = False


class TestConfig(Config):
    """Used by the test suite: DATABASE_URL and REDIS_URL still come from the environment."""

    __test__ = False  # not a pytest test class

    def __init__(self, **overrides):
        os.environ.setdefault("DATABASE_URL", "sqlite://")
        super().__init__()
        self.TESTING = True
        self.SECRET_KEY = "test-secret-key"
        self.WTF_CSRF_ENABLED = False
        self.USE_REDIS_QUEUE = True
        self.SERVER_NAME = None
        self.PUBLIC_BASE_URL = "http://localhost"
        # Argon2id with 1 MiB instead of 64 MiB (services/accounts.py): the suite creates many users.
        self.FAST_PASSWORD_HASHING = True
        # Webhook tests post to receivers on 127.0.0.1 over plain HTTP (os.environ still wins, so a
        # worker subprocess gets the same values from its environment).
        self.EGRESS_ALLOWLIST = os.environ.get("EGRESS_ALLOWLIST", "127.0.0.1/32")
        self.EGRESS_ALLOW_HTTP = _bool(os.environ.get("EGRESS_ALLOW_HTTP", "true"))
        for key, value in overrides.items():
            setattr(self, key, value)


def database_namespace(url):
    """The default REDIS_NAMESPACE: the database's name (a SQLite file's name without .db)."""
    from sqlalchemy.engine import make_url
    try:
        name = make_url(url).database or ""
    except Exception:  # an unparsable URL fails later, where the database is opened
        name = ""
    if url.startswith("sqlite"):
        name = Path(name).stem if name not in ("", ":memory:") else ""
    return name or "orgkit"


def refuse_insecure_start(config):
    """A production start (ORGKIT_PRODUCTION, or users reach it over https) with the published default
    or a short SECRET_KEY would let anyone forge sessions and emailed links: stop with the fix."""
    production = config.get("ORGKIT_PRODUCTION") or str(config.get("PUBLIC_BASE_URL", "")).lower().startswith("https://")
    key = config.get("SECRET_KEY") or ""
    if not production or (key != DEFAULT_SECRET_KEY and len(key.encode()) >= MIN_SECRET_KEY_BYTES):
        return
    why = "the default" if key == DEFAULT_SECRET_KEY else f"{len(key.encode())} bytes long"
    raise SystemExit(
        f"Refusing to start: SECRET_KEY is {why}, and this is a production start (ORGKIT_PRODUCTION or an "
        f"https:// PUBLIC_BASE_URL). Set SECRET_KEY to at least {MIN_SECRET_KEY_BYTES} random bytes, e.g. "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'")


def _normalise_db_url(url):
    # Heroku-style postgres:// URLs and plain postgresql:// use psycopg 3, which is what we install.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def settings_table_markdown():
    """The README's settings table, from SETTINGS (run `python config.py` to refresh the README)."""
    rows = ["| Variable | Default | What it does |", "|---|---|---|"]
    for name, default, description in SETTINGS:
        if name == "DATABASE_URL":
            default = "sqlite:///instance/orgkit.db"
        rows.append(f"| `{name}` | {f'`{default}`' if default else '(empty)'} | {description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    readme = BASE_DIR / "README.md"
    text = readme.read_text()
    head, rest = text.split("<!-- settings-table -->\n", 1)
    _, tail = rest.split("<!-- /settings-table -->", 1)
    readme.write_text(f"{head}<!-- settings-table -->\n{settings_table_markdown()}\n<!-- /settings-table -->{tail}")
    print(f"updated the settings table in {readme}")
