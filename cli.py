"""Operator CLI: `flask --app app <group> <command>`. Each command exits non-zero with a one-line
reason on bad input, so automation can rely on it."""
import os
import re
import secrets
import socket
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import func, select, text

from extensions import db

users_cli = AppGroup("users", help="Manage user accounts.")
orgs_cli = AppGroup("orgs", help="Manage workspaces (organizations).")
demo_cli = AppGroup("demo", help="Demo data for a first local run.")


def fail(message):
    raise click.ClickException(message)


def port_busy_message(host, port):
    """None when the dev server can listen on host:port; otherwise the one line `make run` prints
    before it stops (nothing has started yet)."""
    port = int(port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        answered = probe.connect_ex((host, port)) == 0   # a listener on any address (AirPlay: *:5000)
    if not answered:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the server binds it: SO_REUSEADDR, so a just-closed run's TIME_WAIT is no obstacle.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                return None
            except OSError:
                pass
    return (f"Port {port} is in use by another program (on macOS, AirPlay Receiver takes 5000): "
            f"run `make run PORT={port + 1}` or stop that program.")


# SCIM: `flask --app app scim tokens create --org SLUG` prints the new token on its last line.
scim_cli = AppGroup("scim", help="SCIM provisioning.")
scim_tokens_cli = AppGroup("tokens", help="SCIM bearer tokens.")
scim_cli.add_command(scim_tokens_cli)

# PostgreSQL: `flask --app app db-roles grant --role orgkit_app`, run with the tables' owner's
# DATABASE_URL, creates or updates the app's login role (docs/deploy.md).
db_roles_cli = AppGroup("db-roles", help="PostgreSQL roles: the app's login role, which does not own the tables.")


@scim_tokens_cli.command("create")
@click.option("--org", "slug", required=True, help="The workspace's slug.")
def scim_tokens_create(slug):
    """Generate a SCIM token for a workspace (shown once; at most two live)."""
    from extensions import db
    from models import Organization
    from services import ServiceError
    from services.events import SYSTEM
    from services.scim import settings
    from services.scim.provisioning import ensure_config

    org = Organization.by_slug(slug)
    if org is None:
        fail(f"No workspace with slug {slug!r}.")
    try:
        row, token = settings.create_token(org, SYSTEM)
    except ServiceError as error:
        fail(error.message)
    enabled = ensure_config(org).enabled
    db.session.commit()
    click.echo(f"Token {row.prefix}... created for {org.slug}. It is shown once: store it in your identity provider now.")
    if not enabled:
        click.echo("SCIM is off for this workspace: turn it on in its SCIM settings before the IdP connects.")
    click.echo(token)


# SSO: `flask --app app sso domains verify --org SLUG --domain example.com` for offline installs, where
# the DNS TXT check cannot reach a public resolver. Recorded as verified by "operator".
sso_cli = AppGroup("sso", help="Single sign-on.")
sso_domains_cli = AppGroup("domains", help="Email domains claimed for SSO.")
sso_cli.add_command(sso_domains_cli)


@sso_domains_cli.command("verify")
@click.option("--org", "slug", required=True, help="The workspace's slug.")
@click.option("--domain", "domain_name", required=True, help="The domain, e.g. example.com (added if not listed).")
def sso_domains_verify(slug, domain_name):
    """Mark a workspace's email domain verified without the DNS check."""
    from models import Organization, SsoDomain
    from services.sso import domains

    org = Organization.by_slug(slug)
    if org is None:
        fail(f"No workspace with slug {slug!r}.")

    def verify():
        name = domains.clean_domain(domain_name)
        domain = db.session.scalar(SsoDomain.for_org(org.id).where(SsoDomain.domain == name))
        if domain is None:
            domain = domains.add_domain(org, name, _operator())
        return domains.mark_verified(org, domain, _operator(), "operator")
    domain = _service_call(verify)
    click.echo(f"{domain.domain} is verified for {org.slug}.")


# API keys: `flask --app app api-keys create --org SLUG --name N --scopes admin` prints the key last.
api_keys_cli = AppGroup("api-keys", help="Workspace API keys.")


@api_keys_cli.command("create")
@click.option("--org", "slug", required=True, help="The workspace's slug.")
@click.option("--name", required=True, help="What uses the key, e.g. \"CRM sync\".")
@click.option("--scopes", default="read", show_default=True,
              help="read, write or admin (comma-separated; each includes the narrower ones).")
@click.option("--expires", "expires_on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Last day the key works (UTC), YYYY-MM-DD. Default: no expiry.")
def api_keys_create(slug, name, scopes, expires_on):
    """Create an API key for a workspace (shown once)."""
    from models import Organization
    from services import api_keys

    org = Organization.by_slug(slug)
    if org is None:
        fail(f"No workspace with slug {slug!r}.")
    expires_at = api_keys.parse_expiry(expires_on.date()) if expires_on else None
    scope_list = [part.strip() for part in scopes.split(",") if part.strip()]
    row, key = _service_call(api_keys.create_key, org, name, scope_list, _operator(), expires_at=expires_at)
    click.echo(f"Key {row.name} ({row.prefix}…{row.last_four}, scopes {', '.join(row.scopes)}) created for {org.slug}. "
               "It is shown once: store it in your secret manager now.")
    click.echo(key)


def register(app):
    for group in (users_cli, orgs_cli, demo_cli, scim_cli, sso_cli, api_keys_cli, db_roles_cli):
        app.cli.add_command(group)


def _operator():
    from services.events import Actor
    return Actor("system", None, "operator (CLI)")


def _service_call(func, *args, **kwargs):
    """Run a service verb; a refusal becomes the command's one-line error and nothing is written."""
    from services import ServiceError
    try:
        result = func(*args, **kwargs)
    except ServiceError as error:
        db.session.rollback()
        fail(error.message)
    db.session.commit()
    return result


@users_cli.command("create")
@click.option("--email", required=True, help="Email address (unique, any case).")
@click.option("--name", required=True, help="Full name.")
@click.option("--password", help="Password; omit for an SSO-only account.")
def users_create(email, name, password):
    """Create a user account."""
    from services import accounts
    user = _service_call(accounts.create_user, email, name, password)
    click.echo(f"Created user {user.email}")


@users_cli.command("set-password")
@click.option("--email", required=True, help="Email of the account (any case).")
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True,
              help="Asked for when omitted: typed at the prompt it stays out of the shell history.")
def users_set_password(email, password):
    """Set a user's password (e.g. the demo owner's, printed once by `make run`); their sessions end."""
    from models import User
    from services import accounts
    user = User.by_email(email)
    if user is None:
        fail(f"No user with email {email}.")
    _service_call(accounts.set_password, user, password, _operator())
    click.echo(f"Password set for {user.email}; every session of theirs was signed out.")


@orgs_cli.command("create")
@click.option("--name", required=True, help="Workspace name.")
@click.option("--owner", "owner_email", required=True, help="Email of an existing user who becomes the owner.")
@click.option("--slug", help="Address (defaults to one made from the name).")
def orgs_create(name, owner_email, slug):
    """Create a workspace owned by an existing user; prints its slug."""
    from models import User
    from services import orgs
    owner = User.by_email(owner_email)
    if owner is None:
        fail(f"No user with email {owner_email}. Create one with `flask --app app users create`.")
    org = _service_call(orgs.create_org, name, owner, _operator(), slug=slug)
    click.echo(org.slug)


@orgs_cli.command("add-member")
@click.option("--org", "slug", required=True, help="Workspace slug.")
@click.option("--email", required=True, help="Email of an existing user.")
@click.option("--role", required=True, help="owner, admin, member or viewer.")
def orgs_add_member(slug, email, role):
    """Add an existing user to a workspace with a role."""
    from models import Organization, User
    from services import orgs
    org = Organization.by_slug(slug)
    if org is None:
        fail(f"No workspace with slug {slug}.")
    user = User.by_email(email)
    if user is None:
        fail(f"No user with email {email}.")
    from services import ServiceError
    try:
        role = orgs.parse_role(role)
    except ServiceError as error:
        fail(error.message)
    _service_call(orgs.add_member, org, user, role, _operator())
    click.echo(f"Added {user.email} to {org.slug} as {role.value}")


DEMO_OWNER_EMAIL = "owner@demo.example.com"
DEMO_PEOPLE = [
    ("Ada Lovelace", "ada@demo.example.com", "admin"),
    ("Grace Hopper", "grace@demo.example.com", "member"),
    ("Alan Turing", "alan@demo.example.com", "member"),
    ("Katherine Johnson", "katherine@demo.example.com", "viewer"),
]


def stdin_is_interactive():
    return sys.stdin.isatty()


@demo_cli.command("offer")
def demo_offer():
    """On an empty database, offer (TTY) or load (no TTY) a demo workspace; otherwise do nothing."""
    from models import User
    if db.session.scalar(select(func.count()).select_from(User)):
        click.echo("Database has data: no demo data loaded.")
        if User.by_email(DEMO_OWNER_EMAIL) is not None:
            click.echo(f"Demo password lost? Set a new one: flask --app app users set-password --email {DEMO_OWNER_EMAIL}")
        return
    if stdin_is_interactive() and not click.confirm("Load demo data?", default=True):
        click.echo("No demo data loaded. Sign up at /signup to start.")
        return
    password = load_demo_data()
    click.echo("Demo data loaded: workspace “Demo Inc” with 5 members.")
    click.echo(f"Log in at /login as {DEMO_OWNER_EMAIL} with password {password}")
    click.echo(f"(the other demo people, e.g. {DEMO_PEOPLE[0][1]}, use the same password)")


def load_demo_data():
    """A demo owner with a workspace and a few members, committed; returns their password."""
    from services import accounts, orgs
    actor = _operator()
    password = "demo-" + secrets.token_urlsafe(9)
    owner = accounts.create_user(DEMO_OWNER_EMAIL, "Demo Owner", password)
    org = orgs.create_org("Demo Inc", owner, actor)
    for name, email, role in DEMO_PEOPLE:
        orgs.add_member(org, accounts.create_user(email, name, password), role, actor)
    db.session.commit()
    return password


ROLE_NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@db_roles_cli.command("grant")
@click.option("--role", default="orgkit_app", show_default=True, help="The app's login role.")
@click.option("--password-env", help="Environment variable holding the role's password (set on every run).")
def db_roles_grant(role, password_env):
    """Create the app's login role if missing and grant it rows, not tables. Idempotent.

    Run as the tables' owner after every `flask db upgrade`. The role gets SELECT, INSERT, UPDATE and
    DELETE on every table and the sequences, not ownership: PostgreSQL exempts owners (unless FORCE)
    and superusers from row-level security, so an app connected as either would not meet the wall.
    """
    if db.engine.dialect.name != "postgresql":
        fail("db-roles is for PostgreSQL; SQLite has no roles.")
    if not ROLE_NAME_PATTERN.fullmatch(role):
        fail(f"Role name {role!r}: use lower-case letters, digits and _ (at most 63).")
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            fail(f"Environment variable {password_env} is empty.")
    messages = grant_app_role(role, password)
    db.session.commit()
    for message in messages:
        click.echo(message)


def grant_app_role(role, password=None):
    """The SQL behind `db-roles grant`, in the current transaction; returns what it did, line by line."""
    def run(template, *args):
        # format() quotes identifiers (%I) and literals (%L) on the server: no hand-written escaping.
        placeholders = "".join(f", CAST(:a{i} AS text)" for i in range(len(args)))
        values = {f"a{i}": value for i, value in enumerate(args)}
        statement = db.session.scalar(text(f"SELECT format(:template{placeholders})"), {"template": template, **values})
        db.session.execute(text(statement))

    messages = []
    existing = db.session.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"), {"role": role}).first()
    if existing is None:
        run("CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE", role)
        messages.append(f"Created login role {role}.")
    elif existing.rolsuper or existing.rolbypassrls:
        fail(f"Role {role} is a superuser or has BYPASSRLS: row-level security would not apply to it. Use another role.")
    owned = db.session.scalars(text(
        "SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
        "WHERE r.rolname = :role AND c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' LIMIT 3"
    ), {"role": role}).all()
    if owned:
        fail(f"Role {role} owns tables ({', '.join(owned)}): the app must not connect as the owner. Use another role.")
    if password is not None:
        run("ALTER ROLE %I LOGIN PASSWORD %L", role, password)
        messages.append(f"Password of {role} set.")
    schema = db.session.scalar(text("SELECT current_schema()"))
    run("GRANT CONNECT ON DATABASE %I TO %I", db.session.scalar(text("SELECT current_database()")), role)
    run("GRANT USAGE ON SCHEMA %I TO %I", schema, role)
    run("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I", schema, role)
    run("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I", schema, role)
    # The schema version is the migrations' business, not the app's.
    run("REVOKE INSERT, UPDATE, DELETE ON TABLE %I.alembic_version FROM %I", schema, role)
    # Tables the owner creates later (the next migration) are granted without a second run.
    run("ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I", schema, role)
    run("ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO %I", schema, role)
    messages.append(f"Granted {role} rows of every table in schema {schema} (not ownership).")
    return messages
