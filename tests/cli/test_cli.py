"""The operator CLI through Flask's CLI runner: what an operator or a script sees (output, exit code)."""
import pytest
from sqlalchemy import select

import cli
from extensions import db
from models import AuditEvent, Membership, Organization, Role, User


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def invoke(runner, *args, **kwargs):
    result = runner.invoke(args=list(args), **kwargs)
    db.session.expire_all()
    return result


def test_users_create(runner):
    result = invoke(runner, "users", "create", "--email", "Ada@Example.com", "--name", "Ada", "--password", "a long enough password")
    assert result.exit_code == 0, result.output
    assert "ada@example.com" in result.output
    assert User.by_email("ada@example.com").name == "Ada"


@pytest.mark.parametrize("args, reason", [
    (["--email", "not-an-email", "--name", "Ada", "--password", "a long enough password"], "not valid"),
    (["--email", "ada@example.com", "--name", "Ada", "--password", "short"], "at least 8"),
    (["--email", "ada@example.com", "--name", "Ada", "--password", "password123"], "common"),
    (["--email", "ada@example.com", "--name", "x" * 121, "--password", "a long enough password"], "at most 120"),
])
def test_users_create_bad_input_fails_with_one_line(runner, args, reason):
    result = invoke(runner, "users", "create", *args)
    assert result.exit_code != 0
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and reason in error_lines[0]
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 0


def test_users_create_duplicate_email_any_case(runner, make):
    make.user(email="ada@example.com")
    result = invoke(runner, "users", "create", "--email", "ADA@example.com", "--name", "Ada", "--password", "a long enough password")
    assert result.exit_code == 1 and "already exists" in result.output


def test_orgs_create_prints_slug_and_makes_owner(runner, make):
    ada = make.user(email="ada@example.com")
    result = invoke(runner, "orgs", "create", "--name", "Acme Inc", "--owner", "ADA@example.com")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "acme-inc"
    org = Organization.by_slug("acme-inc")
    membership = db.session.scalar(select(Membership).where(Membership.org_id == org.id))
    assert membership.user_id == ada.id and membership.role == Role.owner
    created = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "org.created"))
    assert created.actor_label == "operator (CLI)"


def test_orgs_create_bad_input(runner, make):
    make.user(email="ada@example.com")
    make.org(slug="taken")
    assert "No user with email" in invoke(runner, "orgs", "create", "--name", "X", "--owner", "nobody@example.com").output
    result = invoke(runner, "orgs", "create", "--name", "X", "--owner", "ada@example.com", "--slug", "taken")
    assert result.exit_code == 1 and "taken" in result.output
    result = invoke(runner, "orgs", "create", "--name", "x" * 101, "--owner", "ada@example.com")
    assert result.exit_code == 1 and "at most 100" in result.output
    result = invoke(runner, "orgs", "create", "--name", "X", "--owner", "ada@example.com", "--slug", "Bad Slug!")
    assert result.exit_code == 1 and "lowercase" in result.output
    assert Organization.query.count() == 1


def test_orgs_add_member(runner, make):
    org = make.org(slug="acme")
    grace = make.user(email="grace@example.com")
    result = invoke(runner, "orgs", "add-member", "--org", "acme", "--email", "grace@example.com", "--role", "admin")
    assert result.exit_code == 0, result.output
    membership = db.session.scalar(select(Membership).where(Membership.org_id == org.id, Membership.user_id == grace.id))
    assert membership.role == Role.admin


@pytest.mark.parametrize("args, reason", [
    (["--org", "nope", "--email", "grace@example.com", "--role", "member"], "No workspace"),
    (["--org", "acme", "--email", "nobody@example.com", "--role", "member"], "No user"),
    (["--org", "acme", "--email", "grace@example.com", "--role", "emperor"], "Choose a role"),
    (["--org", "acme", "--email", "owner@example.com", "--role", "member"], "already a member"),
])
def test_orgs_add_member_bad_input(runner, make, args, reason):
    make.org(owner=make.user(email="owner@example.com"), slug="acme")
    make.user(email="grace@example.com")
    result = invoke(runner, "orgs", "add-member", *args)
    assert result.exit_code == 1
    assert reason in result.output and len(result.output.strip().splitlines()) == 1


def test_demo_offer_loads_without_tty_and_prints_login(runner, monkeypatch):
    monkeypatch.setattr(cli, "stdin_is_interactive", lambda: False)
    result = invoke(runner, "demo", "offer")
    assert result.exit_code == 0, result.output
    assert cli.DEMO_OWNER_EMAIL in result.output and "/login" in result.output
    password = result.output.split("with password ")[1].split()[0]
    org = Organization.by_slug("demo-inc")
    assert db.session.scalar(select(db.func.count()).select_from(Membership).where(Membership.org_id == org.id)) == 5
    from services import accounts
    assert accounts.password_matches(User.by_email(cli.DEMO_OWNER_EMAIL), password)


def test_demo_offer_asks_on_a_tty(runner, monkeypatch):
    monkeypatch.setattr(cli, "stdin_is_interactive", lambda: True)
    result = invoke(runner, "demo", "offer", input="n\n")
    assert "Load demo data? [Y/n]" in result.output
    assert result.exit_code == 0 and User.query.count() == 0
    result = invoke(runner, "demo", "offer", input="\n")  # the default is yes
    assert result.exit_code == 0 and User.query.count() == 5


def test_a_second_demo_offer_points_to_set_password_which_sets_a_new_one(runner, monkeypatch):
    monkeypatch.setattr(cli, "stdin_is_interactive", lambda: False)
    invoke(runner, "demo", "offer")
    again = invoke(runner, "demo", "offer")
    command = again.output.strip().splitlines()[-1].split(": ", 1)[1]
    assert command == f"flask --app app users set-password --email {cli.DEMO_OWNER_EMAIL}"
    owner = User.by_email(cli.DEMO_OWNER_EMAIL)
    epoch = owner.session_epoch
    result = invoke(runner, *command.split()[3:], input="a new long password\na new long password\n")
    assert result.exit_code == 0, result.output
    assert "a new long password" not in result.output   # typed at a prompt that does not echo it
    from services import accounts
    owner = User.by_email(cli.DEMO_OWNER_EMAIL)
    assert accounts.password_matches(owner, "a new long password") and owner.session_epoch == epoch + 1
    changed = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.password_changed"))
    assert changed.actor_label == "operator (CLI)"


@pytest.mark.parametrize("args, reason", [
    (["--email", "nobody@example.com", "--password", "a long enough password"], "No user with email nobody@example.com."),
    (["--email", "ada@example.com", "--password", "short"], "at least 8"),
])
def test_set_password_bad_input_fails_with_one_line(runner, make, args, reason):
    ada = make.user(email="ada@example.com")
    before = ada.password_hash
    result = invoke(runner, "users", "set-password", *args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and reason in lines[0]
    assert db.session.get(User, ada.id).password_hash == before


def test_demo_offer_on_a_database_with_data_says_one_line(runner, make, monkeypatch):
    monkeypatch.setattr(cli, "stdin_is_interactive", lambda: False)
    make.user()
    result = invoke(runner, "demo", "offer")
    assert result.exit_code == 0 and len(result.output.strip().splitlines()) == 1
    assert User.query.count() == 1
