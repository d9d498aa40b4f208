"""services.accounts: email rules, password policy and hashing, reset tokens, sessions."""
import pytest

from extensions import db
from models import AuditEvent, User
from services import ServiceError, accounts
from services.events import SYSTEM


@pytest.mark.parametrize("raw, cleaned", [
    ("Ada@Example.COM", "ada@example.com"),
    ("  grace@example.org\n", "grace@example.org"),
    ("o'brien+tag@sub.example.co.uk", "o'brien+tag@sub.example.co.uk"),
])
def test_clean_email_normalises(raw, cleaned):
    assert accounts.clean_email(raw) == cleaned


@pytest.mark.parametrize("raw", ["", "   ", "ada", "ada@", "@example.com", "ada@@example.com", "ada example@x.com",
                                 "a" * 250 + "@example.com"])
def test_clean_email_refuses_invalid(raw):
    with pytest.raises(ServiceError) as error:
        accounts.clean_email(raw)
    assert error.value.field == "email"


@pytest.mark.parametrize("password", ["8 chars!", "x" * 64, "y" * 128, "alllowercaseletters", "12345678901234567",
                                      "pässwörter sind lang"])
def test_password_policy_accepts_length_without_composition_rules(password):
    accounts.check_password_policy(password)


@pytest.mark.parametrize("password, reason", [
    ("", "at least 8"), ("7 chars", "at least 8"), ("z" * 129, "at most 128"),
    ("password", "commonly used"), ("PASSWORD1", "commonly used"), ("iloveyou", "commonly used"),
])
def test_password_policy_refuses(password, reason):
    with pytest.raises(ServiceError) as error:
        accounts.check_password_policy(password, field="new_password")
    assert reason in error.value.message and error.value.field == "new_password"


def test_passwords_are_hashed_with_argon2id(make):
    user = make.user(password="a long enough passphrase")
    assert user.password_hash.startswith("$argon2id$")
    assert "a long enough passphrase" not in user.password_hash
    assert accounts.password_matches(user, "a long enough passphrase")
    assert not accounts.password_matches(user, "a long enough passphrasE")
    assert not accounts.password_matches(None, "anything")


def test_production_hashing_is_argon2id_with_64_mib(app, monkeypatch):
    monkeypatch.setitem(app.config, "FAST_PASSWORD_HASHING", False)
    from config import Config
    assert not getattr(Config(), "FAST_PASSWORD_HASHING", False)
    hashed = accounts.hash_password("a long enough passphrase")
    assert hashed.startswith("$argon2id$") and "m=65536" in hashed
    user = User(email="x@example.com", name="X", password_hash=hashed)
    assert accounts.password_matches(user, "a long enough passphrase")


def test_create_user_refuses_duplicates_in_any_case(make):
    make.user(email="ada@example.com")
    with pytest.raises(ServiceError) as error:
        accounts.create_user("ADA@EXAMPLE.com", "Other", "another passphrase")
    assert error.value.code == "conflict" and error.value.field == "email"


def test_sign_up_records_the_event(make):
    user = accounts.sign_up("new@example.com", "New", "a long enough passphrase", ip="203.0.113.5",
                            user_agent="pytest")
    db.session.commit()
    event = AuditEvent.query.one()
    assert (event.action, event.actor_id, event.ip, event.org_id) == ("user.signed_up", str(user.id), "203.0.113.5", None)


def test_revoke_sessions_bumps_the_epoch_and_changes_the_session_id(make):
    user = make.user()
    old_id = user.get_id()
    accounts.revoke_sessions(user, SYSTEM)
    db.session.commit()
    assert user.session_epoch == 1 and user.get_id() != old_id
    assert AuditEvent.query.one().action == "user.sessions_revoked"


def test_change_password(make):
    user = make.user()
    actor = accounts.Actor.for_user(user)
    with pytest.raises(ServiceError) as error:
        accounts.change_password(user, "wrong", "a new passphrase", actor)
    assert error.value.field == "current_password"
    accounts.change_password(user, make.PASSWORD, "a new passphrase", actor)
    db.session.commit()
    assert accounts.password_matches(user, "a new passphrase") and user.session_epoch == 1
    assert [e.action for e in AuditEvent.query.all()] == ["user.password_changed"]


def test_reset_token_round_trip_and_single_use(make):
    user = make.user()
    token = accounts.password_reset_token(user)
    assert accounts.user_for_reset_token(token).id == user.id
    accounts.reset_password(token, "a new passphrase")
    db.session.commit()
    with pytest.raises(accounts.ResetTokenError) as error:
        accounts.user_for_reset_token(token)
    assert error.value.code == "used"


def test_every_earlier_link_dies_with_the_reset(make):
    user = make.user()
    first = accounts.password_reset_token(user)
    second = accounts.password_reset_token(user)
    accounts.reset_password(second, "a new passphrase")
    db.session.commit()
    with pytest.raises(accounts.ResetTokenError):
        accounts.user_for_reset_token(first)


def test_reset_token_from_another_secret_is_invalid(app, make):
    user = make.user()
    token = accounts.password_reset_token(user)
    original = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "some other secret"
    try:
        with pytest.raises(accounts.ResetTokenError) as error:
            accounts.user_for_reset_token(token)
    finally:
        app.config["SECRET_KEY"] = original
    assert error.value.code == "invalid"


def test_reset_token_of_a_deleted_user_is_refused(make):
    user = make.user()
    token = accounts.password_reset_token(user)
    db.session.delete(user)
    db.session.commit()
    with pytest.raises(accounts.ResetTokenError) as error:
        accounts.user_for_reset_token(token)
    assert error.value.code == "used"


def test_email_password_reset_only_for_active_accounts(make):
    make.user(email="ada@example.com")
    assert accounts.email_password_reset("nobody@example.com") is None
    email = accounts.email_password_reset("ada@example.com")
    assert email.to_address == "ada@example.com" and "http://localhost/reset-password/" in email.text_body


def test_public_url_uses_the_configured_base(app):
    app.config["PUBLIC_BASE_URL"], original = "https://orgkit.example.com/", app.config["PUBLIC_BASE_URL"]
    try:
        assert accounts.public_url("auth.reset_password", token="abc") == "https://orgkit.example.com/reset-password/abc"
    finally:
        app.config["PUBLIC_BASE_URL"] = original


def test_update_profile(make):
    user = make.user(name="Ada")
    assert accounts.update_profile(user, " Ada Lovelace ", SYSTEM) is True
    assert accounts.update_profile(user, "Ada Lovelace", SYSTEM) is False
    db.session.commit()
    event = AuditEvent.query.one()
    assert event.data["changes"] == {"name": ["Ada", "Ada Lovelace"]}
    with pytest.raises(ServiceError):
        accounts.update_profile(user, "", SYSTEM)
    assert db.session.get(User, user.id).name == "Ada Lovelace"
