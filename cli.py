"""Operator CLI: `flask --app app <group> <command>`. Each command exits non-zero with a one-line
reason on bad input, so automation can rely on it."""
import click
from flask.cli import AppGroup

users_cli = AppGroup("users", help="Manage user accounts.")
orgs_cli = AppGroup("orgs", help="Manage workspaces (organizations).")


def fail(message):
    raise click.ClickException(message)


# SCIM: `flask --app app scim tokens create --org SLUG` prints the new token on its last line.
scim_cli = AppGroup("scim", help="SCIM provisioning.")
scim_tokens_cli = AppGroup("tokens", help="SCIM bearer tokens.")
scim_cli.add_command(scim_tokens_cli)


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


def register(app):
    for group in (users_cli, orgs_cli, scim_cli):
        app.cli.add_command(group)
