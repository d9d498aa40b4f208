"""Logging in with a second factor: the step after the password, TOTP codes (valid, expired,
replayed, rate limited), recovery codes, remembered devices and break-glass."""
import pytest
from sqlalchemy import select

from extensions import db
from models import AuditEvent, OutboundEmail, RememberedDevice, Role, User
from services import twofactor
from tests.accounts_helpers import is_logged_in
from tests.factories import PASSWORD
from tests.twofactor.helpers import code_at, enable_totp, login_with_password


@pytest.fixture
def person(make):
    return make.user(email="ada@example.com")


def test_password_alone_does_not_sign_in_an_account_with_two_factor(client, person):
    enable_totp(person)
    response = login_with_password(client, person, PASSWORD)
    assert response.status_code == 303 and response.headers["Location"] == "/login/two-factor"
    assert not is_logged_in(client)
    with client.session_transaction() as session:
        assert "_user_id" not in session
        assert set(session["two_factor_pending"]) == {"user_id", "epoch", "remember", "break_glass", "next", "expires"}
    page = client.get("/login/two-factor")
    assert page.status_code == 200 and b'id="two_factor_form"' in page.data


def test_an_account_without_two_factor_signs_in_with_the_password(client, person):
    response = login_with_password(client, person, PASSWORD)
    assert response.headers["Location"] == "/app/workspaces"
    assert is_logged_in(client)


def test_a_valid_code_signs_in_and_goes_where_the_login_was_headed(client, person):
    secret, _ = enable_totp(person)
    client.post("/login?next=/app/notifications", data={"email": person.email, "password": PASSWORD})
    response = client.post("/login/two-factor", data={"code": code_at(secret)})
    assert response.status_code == 303 and response.headers["Location"] == "/app/notifications"
    assert is_logged_in(client)
    with client.session_transaction() as session:
        assert "two_factor_pending" not in session
    assert db.session.get(User, person.id).last_login_at is not None


def test_an_expired_code_is_refused(client, person):
    secret, _ = enable_totp(person)
    login_with_password(client, person, PASSWORD)
    response = client.post("/login/two-factor", data={"code": code_at(secret, -120)})
    assert response.status_code == 422
    assert b"doesn&#39;t match, or it was already used" in response.data
    assert not is_logged_in(client)


def test_a_code_is_accepted_once(app, client, person):
    secret, _ = enable_totp(person)
    code = code_at(secret)
    login_with_password(client, person, PASSWORD)
    assert client.post("/login/two-factor", data={"code": code}).status_code == 303
    other = app.test_client()
    login_with_password(other, person, PASSWORD)
    replay = other.post("/login/two-factor", data={"code": code})
    assert replay.status_code == 422
    assert not is_logged_in(other)


@pytest.mark.parametrize("typed, message", [
    ("", b"Enter the 6-digit code"),
    ("12345", b"The code is the 6 digits"),
    ("abcdef", b"The code is the 6 digits"),
    ("1" * 30, b"The code is 6 digits."),
])
def test_bad_input_on_the_code_form_says_what_is_wrong(client, person, typed, message):
    enable_totp(person)
    login_with_password(client, person, PASSWORD)
    response = client.post("/login/two-factor", data={"code": typed})
    assert response.status_code == 422 and message in response.data


def test_spaces_in_a_code_are_fine(client, person):
    secret, _ = enable_totp(person)
    login_with_password(client, person, PASSWORD)
    code = code_at(secret)
    assert client.post("/login/two-factor", data={"code": f" {code[:3]} {code[3:]} "}).status_code == 303


def test_wrong_codes_are_rate_limited_per_account(app, client, person):
    secret, _ = enable_totp(person)
    login_with_password(client, person, PASSWORD)
    for _ in range(5):
        assert client.post("/login/two-factor", data={"code": "000000"}).status_code in (422, 303)
    limited = client.post("/login/two-factor", data={"code": code_at(secret)})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert not is_logged_in(client)
    # Another browser with the same password counts against the same account.
    other = app.test_client()
    login_with_password(other, person, PASSWORD)
    assert other.post("/login/two-factor", data={"code": code_at(secret)}).status_code == 429
    # The recovery-code door shares the count.
    assert other.post("/login/two-factor/recovery", data={"code": "aaaa-bbbb-cccc-dddd"}).status_code == 429


def test_the_second_step_without_a_password_first_goes_back_to_login(client):
    response = client.get("/login/two-factor")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert client.post("/login/two-factor/recovery", data={"code": "x"}).headers["Location"] == "/login"


def test_a_pending_login_ends_when_the_password_changes_meanwhile(client, person):
    secret, _ = enable_totp(person)
    login_with_password(client, person, PASSWORD)
    person = db.session.get(User, person.id)
    person.session_epoch += 1  # e.g. the owner logged out everywhere from another device
    db.session.commit()
    response = client.post("/login/two-factor", data={"code": code_at(secret)})
    assert response.headers["Location"] == "/login"
    assert not is_logged_in(client)


def test_a_pending_login_expires(app, client, person, monkeypatch):
    secret, _ = enable_totp(person)
    login_with_password(client, person, PASSWORD)
    with client.session_transaction() as session:
        pending = dict(session["two_factor_pending"])
        pending["expires"] -= 3600
        session["two_factor_pending"] = pending
    assert client.post("/login/two-factor", data={"code": code_at(secret)}).headers["Location"] == "/login"


# --- Recovery codes ---------------------------------------------------------------------------------

def test_a_recovery_code_signs_in_once_and_is_audited_and_notified(app, client, person, run_jobs):
    _, codes = enable_totp(person)
    assert len(codes) == 10 and len(set(codes)) == 10
    login_with_password(client, person, PASSWORD)
    response = client.post("/login/two-factor/recovery", data={"code": codes[3].upper()})
    assert response.status_code == 303
    assert is_logged_in(client)
    assert twofactor.recovery_codes_left(person) == 9
    event = AuditEvent.query.filter_by(action="user.recovery_code_used").one()
    assert event.data["codes_left"] == 9
    assert OutboundEmail.query.filter_by(to_address=person.email).filter(
        OutboundEmail.subject.contains("recovery code")).count() == 1

    other = app.test_client()
    login_with_password(other, person, PASSWORD)
    again = other.post("/login/two-factor/recovery", data={"code": codes[3]})
    assert again.status_code == 422 and b"already used" in again.data
    assert not is_logged_in(other)


@pytest.mark.parametrize("typed, message", [
    ("", b"Enter one of your recovery codes."),
    ("abcd-efgh", b"A recovery code has 16 letters and digits"),
    ("x" * 60, b"A recovery code has 16 letters and digits"),
    ("zzzz-zzzz-zzzz-zzzz", b"doesn&#39;t match one of yours"),
])
def test_bad_input_on_the_recovery_form_says_what_is_wrong(client, person, typed, message):
    enable_totp(person)
    login_with_password(client, person, PASSWORD)
    response = client.post("/login/two-factor/recovery", data={"code": typed})
    assert response.status_code == 422 and message in response.data


# --- Remember this device ---------------------------------------------------------------------------

def test_a_remembered_device_skips_the_second_step_until_logout_everywhere(app, client, person):
    secret, _ = enable_totp(person)
    login_with_password(client, person, PASSWORD)
    response = client.post("/login/two-factor", data={"code": code_at(secret), "remember_device": "y"})
    assert "orgkit_2fa_device=" in response.headers["Set-Cookie"]
    assert RememberedDevice.query.filter_by(user_id=person.id).count() == 1
    client.post("/logout")

    # Same browser: the password is enough.
    assert login_with_password(client, person, PASSWORD).headers["Location"] == "/app/workspaces"
    # Another browser is asked.
    other = app.test_client()
    assert login_with_password(other, person, PASSWORD).headers["Location"] == "/login/two-factor"

    # Logging out everywhere ends the grant.
    client.post("/app/account/sessions/revoke", data={"confirmed": "yes"})
    assert login_with_password(client, person, PASSWORD).headers["Location"] == "/login/two-factor"


# --- Break-glass ------------------------------------------------------------------------------------

def test_break_glass_asks_for_the_second_factor_too(client, make, monkeypatch):
    from services.sso import enforcement

    owner = make.user(email="owner@example.com")
    org = make.org(owner=owner)
    secret, _ = enable_totp(owner)
    monkeypatch.setattr(enforcement, "orgs_requiring_sso", lambda user: [(org, type("M", (), {"role": Role.owner, "is_active": True})())])
    response = client.post("/sso/break-glass", data={"email": owner.email, "password": PASSWORD, "reason": "IdP down"})
    assert response.headers["Location"] == "/login/two-factor"
    assert not is_logged_in(client)
    response = client.post("/login/two-factor", data={"code": code_at(secret)})
    assert response.status_code == 303
    from models import UserSession
    assert db.session.scalar(select(UserSession.password_method).where(UserSession.user_id == owner.id,
                                                                        UserSession.ended_at.is_(None))) == "break_glass"
    assert is_logged_in(client)


def test_remembered_browsers_are_listed_and_can_be_forgotten(app, client, person):
    secret, _ = enable_totp(person)
    login_with_password(client, person, PASSWORD)
    client.post("/login/two-factor", data={"code": code_at(secret), "remember_device": "y"},
                headers={"User-Agent": "Firefox on the work laptop"})
    page = client.get("/app/account/two-factor")
    assert b'id="remembered_rows"' in page.data and b"Firefox on the work laptop" in page.data
    response = client.post("/app/account/two-factor/remembered-browsers/forget")
    assert response.headers["Location"] == "/app/account/two-factor"
    assert b'id="no_remembered_browsers"' in client.get("/app/account/two-factor").data
    assert RememberedDevice.query.count() == 0
    client.post("/logout")
    assert login_with_password(client, person, PASSWORD).headers["Location"] == "/login/two-factor"
