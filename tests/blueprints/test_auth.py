"""Sign-up, login, logout, rate limits, sessions and the account page, through the real routes."""
import re

import pytest

from extensions import db
from models import AuditEvent, OutboundEmail, User
from services import accounts
from services.events import SYSTEM
from tests.accounts_helpers import form_login, is_logged_in, outbox_to, statements_of, without_csrf


def fresh(user_id):
    return db.session.get(User, user_id)


def actions_about(user):
    return [e.action for e in AuditEvent.query.filter_by(org_id=None).order_by(AuditEvent.created_at)
            if any(t["id"] == str(user.id) for t in e.targets)]


# --- Sign up --------------------------------------------------------------------------------------
# Sign-up asks for an address and always answers "check your email"; the worker emails a link to
# finish (name, password) or, for an address with an account, a note saying so.

SIGN_UP_LINK = re.compile(r"http://localhost(/signup/[A-Za-z0-9._-]+)")


def ask_to_sign_up(client, email, path="/signup"):
    return client.post(path, data={"email": email})


def sign_up_link_in(email_row):
    match = SIGN_UP_LINK.search(email_row.text_body)
    assert match, email_row.text_body
    return match.group(1)


def finish(client, link, name="Ada Lovelace", password="analytical engine notes"):
    return client.post(link, data={"name": name, "password": password})


def test_signup_emails_a_link_that_creates_the_account_and_logs_in(client, run_jobs):
    page = client.get("/signup")
    assert page.status_code == 200 and b'id="signup_form"' in page.data

    response = ask_to_sign_up(client, " Ada@Example.COM ")
    assert response.status_code == 303 and response.headers["Location"].endswith("/signup")
    assert b"Check your inbox: we sent ada@example.com a link" in client.get("/signup").data
    assert User.query.count() == 0
    run_jobs(["email"])
    [email] = outbox_to("ada@example.com")
    assert email.subject == "Finish creating your Orgkit account"
    link = sign_up_link_in(email)

    form = client.get(link)
    assert form.status_code == 200 and b'id="signup_finish_form"' in form.data and b"ada@example.com" in form.data
    response = finish(client, link, name=" Ada Lovelace ")
    assert response.status_code == 303 and response.headers["Location"].endswith("/app/workspaces")
    user = User.by_email("ada@example.com")
    assert user.email == "ada@example.com" and user.name == "Ada Lovelace"
    assert user.password_hash.startswith("$argon2id$")
    assert is_logged_in(client)
    assert actions_about(user) == ["user.signed_up"]

    # The link works until the account exists: then it explains itself.
    client.post("/logout")
    again = finish(client, link, name="Someone Else")
    assert again.status_code == 410 and b"already exists" in again.data
    assert User.query.count() == 1 and User.by_email("ada@example.com").name == "Ada Lovelace"


def test_signup_answers_the_same_and_does_the_same_work_whether_or_not_the_address_has_an_account(
        client, make, run_jobs):
    make.user(email="ada@example.com", name="Ada")

    def ask(email):
        response, statements = statements_of(lambda: ask_to_sign_up(client, email))
        return response, statements, client.get("/signup").data.decode().replace(email, "X")

    known, known_sql, known_page = ask("ada@example.com")
    unknown, unknown_sql, unknown_page = ask("nobody@example.com")
    assert known.status_code == unknown.status_code == 303
    assert known_sql == unknown_sql  # the account is looked up in the worker, not in the request
    assert without_csrf(known_page) == without_csrf(unknown_page)

    run_jobs(["email"])
    [note] = outbox_to("ada@example.com")
    assert note.subject == "You already have an Orgkit account"
    assert "http://localhost/login" in note.text_body and "http://localhost/forgot-password" in note.text_body
    assert "/signup/" not in note.text_body
    [link_email] = outbox_to("nobody@example.com")
    assert "/signup/" in link_email.text_body
    assert User.query.count() == 1


def test_signup_follows_a_safe_next_but_not_another_site(client, run_jobs):
    ask_to_sign_up(client, "a@example.com", "/signup?next=/app/account")
    ask_to_sign_up(client, "b@example.com", "/signup?next=https://evil.example/")
    run_jobs(["email"])
    response = finish(client, sign_up_link_in(outbox_to("a@example.com")[0]), name="A")
    assert response.headers["Location"].endswith("/app/account")
    client.post("/logout")
    response = finish(client, sign_up_link_in(outbox_to("b@example.com")[0]), name="B")
    assert response.headers["Location"].endswith("/app/workspaces")


def test_signup_link_refuses_an_address_taken_meanwhile_in_another_case(client, make, run_jobs):
    ask_to_sign_up(client, "ada@example.com")
    run_jobs(["email"])
    link = sign_up_link_in(outbox_to("ada@example.com")[0])
    make.user(email="ADA@example.com")
    response = finish(client, link, name="Imposter")
    assert response.status_code == 410 and b"already exists" in response.data
    assert User.query.count() == 1
    assert not is_logged_in(client)


@pytest.mark.parametrize("token, status, message", [
    ("not-a-token", 400, b"not valid"),
    (None, 410, b"expired"),
])
def test_signup_link_tampered_or_expired_is_refused_clearly(client, app, monkeypatch, token, status, message):
    if token is None:
        with app.test_request_context():
            token = accounts.sign_up_token("ada@example.com")
        monkeypatch.setitem(app.config, "SIGNUP_LINK_TTL_MINUTES", -1)
    response = client.get(f"/signup/{token}")
    assert response.status_code == status and message in response.data
    assert b'href="/signup"' in response.data
    assert finish(client, f"/signup/{token}").status_code == status
    assert User.query.count() == 0


@pytest.mark.parametrize("email, message", [
    ("not-an-email", b"That email address is not valid"),
    ("ada@", b"That email address is not valid"),
    ("", b"Enter your email address."),
])
def test_signup_bad_address_is_shown_inline_and_sends_nothing(client, run_jobs, email, message):
    response = ask_to_sign_up(client, email)
    assert response.status_code == 422
    assert message in response.data
    assert b'class="field-error"' in response.data
    run_jobs(["email"])
    assert OutboundEmail.query.count() == 0


@pytest.mark.parametrize("name, password, message", [
    ("Ada", "short", b"Use at least 8 characters."),
    ("Ada", "x" * 129, b"Use at most 128 characters."),
    ("Ada", "Password123", b"commonly used passwords"),
    ("Ada", "", b"Choose a password."),
    ("", "analytical engine notes", b"Enter your name."),
])
def test_signup_finish_bad_input_is_shown_inline_and_writes_nothing(client, name, password, message):
    with client.application.test_request_context():
        link = f"/signup/{accounts.sign_up_token('ada@example.com')}"
    response = finish(client, link, name=name, password=password)
    assert response.status_code == 422
    assert message in response.data
    assert b'class="field-error"' in response.data
    assert User.query.count() == 0
    assert AuditEvent.query.count() == 0


def test_signup_accepts_long_passphrases_without_composition_rules(client):
    passphrase = "all lower case words and nothing else " + "x" * 26  # 64 characters
    assert len(passphrase) == 64
    with client.application.test_request_context():
        link = f"/signup/{accounts.sign_up_token('ada@example.com')}"
    assert finish(client, link, name="Ada", password=passphrase).status_code == 303
    client.post("/logout")
    assert form_login(client, "ada@example.com", passphrase).status_code == 303


# --- Log in and out -------------------------------------------------------------------------------

def test_login_page_links_to_reset_and_signup(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert b'href="/forgot-password"' in page.data and b'href="/signup' in page.data


def test_login_with_email_in_any_case_then_logout(client, make):
    user = make.user(email="ada@example.com")
    response = form_login(client, "  ADA@example.com", make.PASSWORD)
    assert response.status_code == 303 and response.headers["Location"].endswith("/app/workspaces")
    assert is_logged_in(client)
    assert fresh(user.id).last_login_at is not None

    response = client.post("/logout")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert not is_logged_in(client)


def test_login_redirects_to_a_local_next_only(client, make):
    make.user(email="ada@example.com")
    response = client.post("/login?next=/app/account", data={"email": "ada@example.com", "password": make.PASSWORD})
    assert response.headers["Location"].endswith("/app/account")
    client.post("/logout")
    response = client.post("/login?next=//evil.example/x", data={"email": "ada@example.com", "password": make.PASSWORD})
    assert response.headers["Location"].endswith("/app/workspaces")


def test_wrong_password_and_unknown_account_read_the_same(client, make):
    make.user(email="ada@example.com")
    wrong = form_login(client, "ada@example.com", "not the password")
    unknown = form_login(client, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 422
    message = b"That email and password don&#39;t match an account."
    assert message in wrong.data and message in unknown.data
    assert not is_logged_in(client)


def test_deactivated_user_cannot_log_in(client, make):
    user = make.user(email="ada@example.com")
    user.is_deactivated = True
    db.session.commit()
    response = form_login(client, "ada@example.com", make.PASSWORD)
    assert response.status_code == 422
    assert b"This account was deactivated." in response.data
    assert not is_logged_in(client)
    # A stranger guessing wrong learns nothing more than for any other account.
    assert b"don&#39;t match an account" in form_login(client, "ada@example.com", "guess guess").data


def test_deactivation_ends_an_existing_session(client, make):
    user = make.user(email="ada@example.com")
    form_login(client, "ada@example.com", make.PASSWORD)
    assert is_logged_in(client)
    user.is_deactivated = True
    db.session.commit()
    response = client.get("/app/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_bumped_session_epoch_ends_sessions_at_once(app, client, make):
    """What SCIM deactivation and admins rely on: revoke_sessions() from anywhere ends the cookie's session."""
    user = make.user(email="ada@example.com")
    other = app.test_client()
    form_login(client, "ada@example.com", make.PASSWORD, remember="y")
    form_login(other, "ada@example.com", make.PASSWORD)
    accounts.revoke_sessions(fresh(user.id), SYSTEM)
    db.session.commit()
    assert not is_logged_in(client)  # the remember-me cookie carries the old epoch too
    assert not is_logged_in(other)


# --- Rate limits ----------------------------------------------------------------------------------

def test_login_is_rate_limited_per_ip(client, make, monkeypatch, app):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_IP", "3 per minute")
    make.user(email="ada@example.com")
    for n in range(3):
        assert form_login(client, f"someone{n}@example.com", "wrong password").status_code == 422
    blocked = form_login(client, "ada@example.com", make.PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert b"Too many login attempts" in blocked.data
    assert b'id="login_form"' in blocked.data and b'value="ada@example.com"' in blocked.data
    assert not is_logged_in(client)
    # Another address is its own bucket: the right password works from there.
    elsewhere = client.post("/login", data={"email": "ada@example.com", "password": make.PASSWORD},
                            environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert elsewhere.status_code == 303


def test_login_is_rate_limited_per_account_whether_or_not_it_exists(client, make, monkeypatch, app):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_ACCOUNT", "3 per 15 minutes")
    make.user(email="ada@example.com")

    def attempt(email, password, ip):
        return client.post("/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip})

    pages = {}
    for email in ("ada@example.com", "nobody@example.com"):
        for n in range(3):  # from three different machines, in any letter case
            assert attempt(email.upper() if n == 1 else email, "wrong password", f"198.51.100.{n}").status_code == 422
        blocked = attempt(email, "wrong password", "198.51.100.77")
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        page = re.sub(rb"wait \d+ (minutes|seconds)", b"wait N", blocked.data.replace(email.encode(), b"EMAIL"))
        pages[email] = re.sub(rb'("X-CSRFToken": "|data-csrf=")[^"]+"', b"", page)  # tokens are timestamped
    # The lockout reads the same for an account that exists and one that doesn't.
    assert pages["ada@example.com"] == pages["nobody@example.com"]
    # Even the right password waits out the lock; other accounts from the same machine are unaffected.
    assert attempt("ada@example.com", make.PASSWORD, "198.51.100.78").status_code == 429
    make.user(email="grace@example.com")
    assert attempt("grace@example.com", make.PASSWORD, "198.51.100.77").status_code == 303


def test_successful_logins_do_not_use_up_the_limit(client, make, monkeypatch, app):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_ACCOUNT", "2 per 15 minutes")
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_IP", "2 per minute")
    make.user(email="ada@example.com")
    for _ in range(4):
        assert form_login(client, "ada@example.com", make.PASSWORD).status_code == 303
        client.post("/logout")


def test_rate_limited_login_swaps_in_for_htmx(client, make, monkeypatch, app):
    """The boosted form gets the page back (htmx-config swaps 429), not a silent failure."""
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_IP", "1 per minute")
    form_login(client, "a@example.com", "wrong password")
    blocked = client.post("/login", data={"email": "a@example.com", "password": "x"},
                          headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert blocked.status_code == 429 and b"Too many login attempts" in blocked.data
    assert b'{"code": "429", "swap": true}' in blocked.data


# --- The account page -----------------------------------------------------------------------------

def test_account_page_needs_login(client):
    response = client.get("/app/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_account_page_shows_profile_password_and_sessions(client, make, login):
    user = make.user(email="ada@example.com", name="Ada Lovelace")
    make.org(owner=user)
    login(user)
    page = client.get("/app/account")
    assert page.status_code == 200
    html = page.data.decode()
    assert "ada@example.com" in html and 'value="Ada Lovelace"' in html
    assert 'id="password_form"' in html and 'id="revoke_sessions_form"' in html
    assert 'href="/app/workspaces" id="account_workspaces">1 workspace<' in html
    assert 'data-confirm-title="Log out everywhere?"' in html
    # The user menu leads here.
    assert 'href="/app/account">Account &amp; security' in html


def test_sso_only_account_has_no_password_form(client, make, login):
    user = accounts.create_user("sso@example.com", "Sso User", None)
    db.session.commit()
    login(user)
    page = client.get("/app/account")
    assert b'id="sso_only_password"' in page.data and b'id="password_form"' not in page.data
    response = client.post("/app/account/password", data={"current_password": "x", "new_password": "a new passphrase",
                                                           "confirm_password": "a new passphrase"})
    assert response.status_code == 422 and b"no password to change" in response.data
    assert fresh(user.id).password_hash is None


def test_change_name(client, make, login):
    user = make.user(email="ada@example.com", name="Ada")
    login(user)
    response = client.post("/app/account/profile", data={"name": "  Ada Lovelace "})
    assert response.status_code == 303 and response.headers["Location"].endswith("/app/account")
    assert fresh(user.id).name == "Ada Lovelace"
    assert actions_about(user) == ["user.updated"]
    assert b"Your name was updated." in client.get("/app/account").data


@pytest.mark.parametrize("name, message", [("", b"Enter your name."), ("   ", b"Enter your name."),
                                           ("x" * 121, b"Field cannot be longer than 120 characters.")])
def test_change_name_bad_input(client, make, login, name, message):
    user = make.user(name="Ada")
    login(user)
    response = client.post("/app/account/profile", data={"name": name})
    assert response.status_code == 422 and message in response.data
    assert b'id="password_form"' in response.data  # the rest of the page is still there
    assert fresh(user.id).name == "Ada"
    assert actions_about(user) == []


def test_change_password_keeps_this_session_and_ends_the_others(app, client, make):
    user = make.user(email="ada@example.com")
    other = app.test_client()
    form_login(client, "ada@example.com", make.PASSWORD)
    form_login(other, "ada@example.com", make.PASSWORD)
    response = client.post("/app/account/password", data={
        "current_password": make.PASSWORD, "new_password": "a brand new passphrase",
        "confirm_password": "a brand new passphrase"})
    assert response.status_code == 303
    assert is_logged_in(client)
    assert not is_logged_in(other)
    assert fresh(user.id).password_changed_at is not None
    assert actions_about(user) == ["user.password_changed"]
    client.post("/logout")
    assert form_login(client, "ada@example.com", make.PASSWORD).status_code == 422
    assert form_login(client, "ada@example.com", "a brand new passphrase").status_code == 303


@pytest.mark.parametrize("current, new, confirm, field, message", [
    ("wrong password", "a brand new passphrase", "a brand new passphrase", "current_password",
     b"That is not your current password."),
    (None, "a brand new passphrase", "another passphrase", "confirm_password", b"The two passwords don&#39;t match."),
    (None, "short", "short", "new_password", b"Use at least 8 characters."),
    (None, "y" * 129, "y" * 129, "new_password", b"Use at most 128 characters."),
    (None, "iloveyou", "iloveyou", "new_password", b"commonly used passwords"),
    (None, "PASSWORD", "PASSWORD", "new_password", None),  # filled below: same as current
    ("", "a brand new passphrase", "a brand new passphrase", "current_password", b"Enter your current password."),
])
def test_change_password_bad_input(app, client, make, current, new, confirm, field, message):
    user = make.user(email="ada@example.com")
    if new == "PASSWORD":
        new = confirm = make.PASSWORD
        message = b"Choose a password different from your current one."
    other = app.test_client()
    form_login(client, "ada@example.com", make.PASSWORD)
    form_login(other, "ada@example.com", make.PASSWORD)
    before = fresh(user.id).password_hash
    response = client.post("/app/account/password", data={
        "current_password": make.PASSWORD if current is None else current,
        "new_password": new, "confirm_password": confirm})
    assert response.status_code == 422
    assert message in response.data
    assert f'id="field_{field}"'.encode() in response.data
    # Nothing half-written: same password, same sessions, no event.
    refreshed = fresh(user.id)
    assert refreshed.password_hash == before and refreshed.session_epoch == 0
    assert is_logged_in(client) and is_logged_in(other)
    assert actions_about(user) == []


def test_guessing_the_current_password_is_rate_limited(client, make, monkeypatch, app):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_ACCOUNT", "2 per 15 minutes")
    make.user(email="ada@example.com")
    form_login(client, "ada@example.com", make.PASSWORD)
    data = {"current_password": "guess", "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase"}
    assert client.post("/app/account/password", data=data).status_code == 422
    assert client.post("/app/account/password", data=data).status_code == 422
    blocked = client.post("/app/account/password", data={**data, "current_password": make.PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert b"Too many password change attempts" in blocked.data and b'id="password_form"' in blocked.data
    assert form_login(client.application.test_client(), "ada@example.com", make.PASSWORD).status_code == 303


# --- Log out everywhere ---------------------------------------------------------------------------

def test_log_out_everywhere_asks_first_without_javascript(client, make, login):
    user = make.user()
    login(user)
    page = client.get("/app/account/sessions/revoke")
    assert page.status_code == 200 and b'id="confirm_revoke_sessions"' in page.data
    unconfirmed = client.post("/app/account/sessions/revoke")
    assert unconfirmed.status_code == 200 and b'name="confirmed" value="yes"' in unconfirmed.data
    assert fresh(user.id).session_epoch == 0
    assert is_logged_in(client)


def test_log_out_everywhere_ends_every_session(app, client, make):
    user = make.user(email="ada@example.com")
    phone = app.test_client()
    form_login(client, "ada@example.com", make.PASSWORD)
    form_login(phone, "ada@example.com", make.PASSWORD, remember="y")
    assert is_logged_in(phone)
    response = client.post("/app/account/sessions/revoke", data={"confirmed": "yes"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert not is_logged_in(client)
    assert not is_logged_in(phone)
    assert actions_about(user) == ["user.sessions_revoked"]
    # Logging in again works, with a fresh session.
    assert form_login(phone, "ada@example.com", make.PASSWORD).status_code == 303 and is_logged_in(phone)


# --- CSRF -----------------------------------------------------------------------------------------

POST_FORMS = [
    ("/signup", "/signup", {"email": "new@example.com"}),
    ("/login", "/login", {"email": "ada@example.com", "password": "correct horse battery staple"}),
    ("/forgot-password", "/forgot-password", {"email": "ada@example.com"}),
    ("/app/account", "/app/account/profile", {"name": "Changed"}),
    ("/app/account", "/app/account/password", {"current_password": "correct horse battery staple",
                                                "new_password": "a brand new passphrase",
                                                "confirm_password": "a brand new passphrase"}),
    ("/app/account/sessions/revoke", "/app/account/sessions/revoke", {"confirmed": "yes"}),
]


@pytest.mark.parametrize("page_url, post_url, data", POST_FORMS)
def test_every_form_needs_its_csrf_token(app, client, make, login, monkeypatch, page_url, post_url, data):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    user = make.user(email="ada@example.com", name="Ada")
    if page_url.startswith("/app/"):
        login(user)
    refused = client.post(post_url, data=data)
    assert refused.status_code == 400 and b"The form expired" in refused.data
    after = fresh(user.id)
    assert (after.name, after.session_epoch, User.query.count()) == ("Ada", 0, 1)
    page = client.get(page_url).data.decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'name="csrf_token" value="([^"]+)"', page)
    accepted = client.post(post_url, data={**data, "csrf_token": token.group(1)})
    assert accepted.status_code == 303


def test_signups_are_rate_limited_per_address_and_per_ip(client, make, monkeypatch, app, run_jobs):
    """Each sign-up request sends an email: limited per address (no mail bombing) and per machine."""
    monkeypatch.setitem(app.config, "SIGNUP_RATE_LIMIT_ACCOUNT", "2 per hour")
    monkeypatch.setitem(app.config, "SIGNUP_RATE_LIMIT_IP", "3 per hour")
    assert ask_to_sign_up(client, "ada@example.com").status_code == 303
    assert ask_to_sign_up(client, "ADA@example.com").status_code == 303
    blocked = ask_to_sign_up(client, "ada@example.com")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert b"Too many sign-up attempts" in blocked.data and b'id="signup_form"' in blocked.data
    assert ask_to_sign_up(client, "grace@example.com").status_code == 303
    assert ask_to_sign_up(client, "alan@example.com").status_code == 429
    other = client.post("/signup", data={"email": "alan@example.com"}, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert other.status_code == 303
    run_jobs(["email"])
    assert len(outbox_to("ada@example.com")) == 2 and User.query.count() == 0


@pytest.mark.parametrize("seconds, phrase", [(1, "1 second"), (45, "45 seconds"), (901, "15 minutes"),
                                             (3600, "60 minutes"), (100, "2 minutes")])
def test_wait_phrase(seconds, phrase):
    from blueprints.auth.ratelimits import wait_phrase
    assert wait_phrase(seconds) == phrase
