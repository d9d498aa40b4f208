"""Operator CLI: `flask --app app <group> <command>`. Each command exits non-zero with a one-line
reason on bad input, so automation can rely on it."""
import click
from flask.cli import AppGroup

users_cli = AppGroup("users", help="Manage user accounts.")
orgs_cli = AppGroup("orgs", help="Manage workspaces (organizations).")


def fail(message):
    raise click.ClickException(message)


def register(app):
    for group in (users_cli, orgs_cli):
        app.cli.add_command(group)
