"""The account's factors in the browser (test client): adding an authenticator app, recovery codes,
removing factors behind a recent re-authentication, and passkey endpoints refusing bad input."""
import re

import pyotp
import pytest

from extensions import db
from models import AuditEvent, OutboundEmail, Passkey, RecoveryCode, TotpFactor
from services import twofactor
from tests.factories import PASSWORD
from tests.twofactor.helpers import code_at, enable_totp


@pytest.fixture
def person(make, login, client):
    user = make.user(email="ada@example.com")
    login(user)
    return user


def _fresh(client, user):
    """Mark the session as recently authenticated (as a login does)."""
    import time
    with client.session_transaction() as session:
        session["reauthenticated"] = {"user_id": str(user.id), "at": int(time.time())}


def test_the_account_page_leads_to_two_factor(client, person):
    page = client.get("/app/account")
    assert b'id="manage_two_factor"' in page.data and b"Set up two-factor" in page.data
    overview = client.get("/app/account/two-factor")
    assert overview.status_code == 200 and b'id="two_factor_off"' in overview.data


def test_adding_an_authenticator_app_shows_a_qr_code_then_recovery_codes_once(client, person, run_jobs):
    start = client.post("/app/account/two-factor/totp/start")
    assert start.headers["Location"] == "/app/account/two-factor/totp"
    page = client.get("/app/account/two-factor/totp")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert b"<svg" in page.data and b'hx-history="false"' in page.data
    secret = re.search(rb'id="totp_secret" value="([A-Z2-7]+)"', page.data).group(1).decode()
    assert len(secret) == 32
    assert pyotp.TOTP(secret).provisioning_uri(name=person.email, issuer_name="Orgkit").startswith("otpauth://totp/")

    wrong = client.post("/app/account/two-factor/totp", data={"code": "123456" if code_at(secret) != "123456" else "654321"})
    assert wrong.status_code == 422 and b"That code doesn&#39;t match" in wrong.data
    assert not twofactor.has_two_factor(person.id)

    done = client.post("/app/account/two-factor/totp", data={"code": code_at(secret)})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = re.findall(rb"<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>", done.data)
    assert len(codes) == 10
    assert twofactor.has_two_factor(person.id)
    # Only hashes are kept.
    stored = {row.code_hash for row in RecoveryCode.query.filter_by(user_id=person.id)}
    assert all(code.decode() not in stored for code in codes) and len(stored) == 10
    assert TotpFactor.query.filter_by(user_id=person.id).one().secret_encrypted != secret
    # Audited and sent as a security notice.
    event = AuditEvent.query.filter_by(action="user.second_factor_added").one()
    assert event.data["factor"]["type"] == "totp"
    assert OutboundEmail.query.filter_by(to_address=person.email).count() == 1
    assert b'id="two_factor_on"' in client.get("/app/account/two-factor").data


@pytest.mark.parametrize("typed, message", [
    ("", b"Enter the 6-digit code"), ("12 34", b"The code is the 6 digits"), ("9" * 40, b"The code is 6 digits."),
])
def test_bad_input_when_confirming_the_app_says_what_is_wrong(client, person, typed, message):
    client.post("/app/account/two-factor/totp/start")
    response = client.post("/app/account/two-factor/totp", data={"code": typed})
    assert response.status_code == 422 and message in response.data


def test_confirming_without_a_setup_leads_back(client, person):
    response = client.post("/app/account/two-factor/totp", data={"code": "123456"})
    assert response.status_code == 303 and response.headers["Location"] == "/app/account/two-factor"


def test_a_second_app_cannot_be_started_while_one_is_on(client, person):
    enable_totp(person)
    response = client.post("/app/account/two-factor/totp/start")
    assert b"You already have an authenticator app" in client.get(response.headers["Location"]).data


def test_removing_the_app_needs_a_recent_authentication(client, person):
    secret, _ = enable_totp(person)
    response = client.post("/app/account/two-factor/totp/remove")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/app/account/confirm-access")
    assert twofactor.has_two_factor(person.id)

    page = client.get(response.headers["Location"])
    assert b'id="reauthenticate_form"' in page.data
    wrong = client.post("/app/account/confirm-access", data={"password": "not it", "next": "/app/account/two-factor/totp/remove"})
    assert wrong.status_code == 422 and b"That is not your password." in wrong.data
    nothing = client.post("/app/account/confirm-access", data={})
    assert nothing.status_code == 422 and b"Enter your password or a code" in nothing.data
    bad_code = client.post("/app/account/confirm-access", data={"code": "12"})
    assert bad_code.status_code == 422 and b"The code is the 6 digits" in bad_code.data
    ok = client.post("/app/account/confirm-access", data={"code": code_at(secret), "next": "/app/account/two-factor/totp/remove"})
    assert ok.headers["Location"] == "/app/account/two-factor/totp/remove"
    confirm = client.get("/app/account/two-factor/totp/remove")
    assert b"It is your last second factor" in confirm.data
    removed = client.post("/app/account/two-factor/totp/remove")
    assert removed.headers["Location"] == "/app/account/two-factor"
    assert not twofactor.has_two_factor(person.id)
    assert RecoveryCode.query.filter_by(user_id=person.id).count() == 0
    assert AuditEvent.query.filter_by(action="user.second_factor_removed").count() == 1


def test_confirm_access_never_redirects_off_site(client, person):
    response = client.post("/app/account/confirm-access", data={"password": PASSWORD, "next": "https://evil.example/"})
    assert response.headers["Location"] == "/app/account/two-factor"


def test_regenerating_recovery_codes_needs_a_recent_authentication_and_replaces_them(client, person):
    _, codes = enable_totp(person)
    response = client.post("/app/account/two-factor/recovery-codes")
    assert response.headers["Location"].startswith("/app/account/confirm-access")
    _fresh(client, person)
    ask = client.post("/app/account/two-factor/recovery-codes")  # no JavaScript: a confirmation page first
    assert ask.status_code == 200 and b'id="regenerate_confirm_form"' in ask.data
    assert twofactor.recovery_codes_left(person) == 10 and AuditEvent.query.filter_by(action="user.recovery_codes_regenerated").count() == 0
    page = client.post("/app/account/two-factor/recovery-codes", data={"confirmed": "yes"})
    new_codes = re.findall(rb"<li><code>([a-z2-7-]{19})</code></li>", page.data)
    assert len(new_codes) == 10 and not set(c.decode() for c in new_codes) & set(codes)
    assert AuditEvent.query.filter_by(action="user.recovery_codes_regenerated").count() == 1
    from services.events import Actor
    assert not twofactor.use_recovery_code(person, codes[0], Actor.for_user(person))
    assert twofactor.use_recovery_code(person, new_codes[0].decode(), Actor.for_user(person))


def test_recovery_codes_need_a_factor_first(client, person):
    response = client.post("/app/account/two-factor/recovery-codes")
    assert b"Add an authenticator app or a passkey first" in client.get(response.headers["Location"]).data


def test_passkey_endpoints_refuse_bad_input_with_clear_json_errors(client, person):
    unnamed = client.post("/app/account/two-factor/passkeys/options", json={"name": " "})
    assert unnamed.status_code == 422 and "Name this passkey" in unnamed.json["error"]["message"]
    too_long = client.post("/app/account/two-factor/passkeys/options", json={"name": "x" * 61})
    assert too_long.status_code == 422 and "at most 60" in too_long.json["error"]["message"]
    options = client.post("/app/account/two-factor/passkeys/options", json={"name": "Laptop"})
    assert options.status_code == 200 and options.json["authenticatorSelection"]["residentKey"] == "required"
    no_name = client.post("/app/account/two-factor/passkeys", json={"name": "", "credential": {}})
    assert no_name.status_code == 422 and "Name this passkey" in no_name.json["error"]["message"]
    no_credential = client.post("/app/account/two-factor/passkeys", json={"name": "Laptop"})
    assert no_credential.status_code == 422 and "sent no passkey" in no_credential.json["error"]["message"]
    expired = client.post("/app/account/two-factor/passkeys", json={"name": "Laptop", "credential": {"id": "x"}})
    assert expired.status_code == 422 and "expired" in expired.json["error"]["message"]  # each challenge works once
    client.post("/app/account/two-factor/passkeys/options", json={"name": "Laptop"})
    garbage = client.post("/app/account/two-factor/passkeys", json={"name": "Laptop", "credential": {"id": "x"}})
    assert garbage.status_code == 422 and "could not be verified" in garbage.json["error"]["message"]
    not_json = client.post("/app/account/two-factor/passkeys", data="{{{", content_type="application/json")
    assert not_json.status_code == 422
    assert Passkey.query.count() == 0


def test_passkey_sign_in_refuses_bad_input(client, make):
    anonymous = client.application.test_client()
    no_options = anonymous.post("/login/passkey", json={"credential": {"id": "x"}})
    assert no_options.status_code == 422 and "expired" in no_options.json["error"]["message"]
    anonymous.post("/login/passkey/options", json={})
    unknown = anonymous.post("/login/passkey", json={"credential": {
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AAAA"}}})
    assert unknown.status_code == 422 and "not registered" in unknown.json["error"]["message"]
    nothing = anonymous.post("/login/passkey", data="x", content_type="text/plain")
    assert nothing.status_code == 422


def test_removing_someone_elses_passkey_is_not_found(client, person, make):
    stranger = make.user()
    passkey = Passkey(user_id=stranger.id, name="Theirs", credential_id=b"abc", public_key=b"key", sign_count=0,
                      transports=[])
    db.session.add(passkey)
    db.session.commit()
    _fresh(client, person)
    assert client.get(f"/app/account/two-factor/passkeys/{passkey.id}/remove").status_code == 404
    assert client.post(f"/app/account/two-factor/passkeys/{passkey.id}/remove").status_code == 404
    assert client.get("/app/account/two-factor/passkeys/not-a-uuid/remove").status_code == 404
    assert db.session.get(Passkey, passkey.id) is not None


def test_confirming_with_a_passkey_refuses_bad_input(client, person):
    no_options = client.post("/app/account/confirm-access/passkey", json={"credential": {"id": "x"}})
    assert no_options.status_code == 422 and "expired" in no_options.json["error"]["message"]
    client.post("/app/account/confirm-access/passkey/options", json={})
    nothing = client.post("/app/account/confirm-access/passkey", json={"next": "/app/account"})
    assert nothing.status_code == 422 and "sent no passkey" in nothing.json["error"]["message"]
    with client.session_transaction() as session:
        assert "reauthenticated" not in session


def test_security_notices_name_the_factor(client, person):
    # One's own action is emailed (was it really you?), not put in one's own inbox.
    enable_totp(person)
    email = OutboundEmail.query.filter_by(to_address=person.email).one()
    assert "Authenticator app." in email.text_body
