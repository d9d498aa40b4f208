"""Forgotten password: the request page, the emailed link (real SMTP, real worker) and the reset page."""
import logging
import re
import time

import pytest
from itsdangerous.timed import TimestampSigner

from extensions import db
from models import AuditEvent, OutboundEmail, User
from services import accounts
from tests.accounts_helpers import (form_login, is_logged_in, outbox_to, path_of, reset_link_in, statements_of,
                                    without_csrf)
from tests.tokens import tampered

SENT = "If an account exists for {}, we sent it a link"


def fresh(user_id):
    return db.session.get(User, user_id)


def request_link(client, email):
    return client.post("/forgot-password", data={"email": email})


def token_for(user):
    return accounts.password_reset_token(fresh(user.id))


# --- Asking for a link ----------------------------------------------------------------------------

def test_forgot_password_page(client):
    page = client.get("/forgot-password")
    assert page.status_code == 200 and b'id="forgot_password_form"' in page.data


def test_same_answer_whether_or_not_the_account_exists(client, make, run_jobs):
    make.user(email="ada@example.com")
    known, known_sql = statements_of(lambda: request_link(client, "Ada@Example.com"))
    assert known.status_code == 303 and known.headers["Location"].endswith("/forgot-password")
    known_page = client.get("/forgot-password").data.decode()
    unknown, unknown_sql = statements_of(lambda: request_link(client, "nobody@example.com"))
    assert unknown.status_code == 303
    # The same work too (it used to look the account up and render an email only when it existed):
    # the look-up happens in the worker.
    assert known_sql == unknown_sql
    unknown_page = client.get("/forgot-password").data.decode()
    assert SENT.format("ada@example.com") in known_page
    assert SENT.format("nobody@example.com") in unknown_page
    # CSRF tokens carry a timestamp, so two pages rendered a second apart differ there and only there.
    assert without_csrf(known_page.replace("ada@example.com", "X")) == without_csrf(unknown_page.replace("nobody@example.com", "X"))
    # Only the real account gets an email.
    run_jobs(["email"])
    assert [e.to_address for e in OutboundEmail.query.all()] == ["ada@example.com"]


def test_deactivated_account_gets_no_link(client, make, run_jobs):
    user = make.user(email="ada@example.com")
    user.is_deactivated = True
    db.session.commit()
    response = request_link(client, "ada@example.com")
    assert response.status_code == 303
    run_jobs(["email"])
    assert OutboundEmail.query.count() == 0


@pytest.mark.parametrize("email, message", [("", b"Enter your email address."),
                                            ("not an email", b"That email address is not valid")])
def test_forgot_password_bad_email(client, run_jobs, email, message):
    response = request_link(client, email)
    assert response.status_code == 422 and message in response.data
    run_jobs(["email"])
    assert OutboundEmail.query.count() == 0


def test_forgot_password_is_rate_limited_per_address_and_per_ip(client, make, monkeypatch, app, run_jobs):
    monkeypatch.setitem(app.config, "FORGOT_PASSWORD_RATE_LIMIT_ACCOUNT", "2 per hour")
    monkeypatch.setitem(app.config, "FORGOT_PASSWORD_RATE_LIMIT_IP", "4 per hour")
    make.user(email="ada@example.com")
    assert request_link(client, "ada@example.com").status_code == 303
    assert request_link(client, "ADA@example.com").status_code == 303
    blocked = request_link(client, "ada@example.com")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert b"Too many password reset requests" in blocked.data and b'id="forgot_password_form"' in blocked.data
    run_jobs(["email"])
    assert len(outbox_to("ada@example.com")) == 2
    # Other addresses from this machine until the per-IP limit.
    assert request_link(client, "grace@example.com").status_code == 303
    assert request_link(client, "alan@example.com").status_code == 303
    assert request_link(client, "edsger@example.com").status_code == 429


# --- The emailed link, end to end -----------------------------------------------------------------

def test_reset_link_arrives_by_smtp_and_works_once(app, client, make, smtp_server, run_jobs):
    user = make.user(email="ada@example.com", name="Ada")
    elsewhere = app.test_client()
    form_login(elsewhere, "ada@example.com", make.PASSWORD)

    request_link(client, "ada@example.com")
    run_jobs(["email"])
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "ada@example.com" and message["Subject"] == "Reset your Orgkit password"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = reset_link_in(text)
    assert link.startswith(app.config["PUBLIC_BASE_URL"] + "/reset-password/")  # absolute, from PUBLIC_BASE_URL
    assert link in html and "expires in 60 minutes" in text
    assert OutboundEmail.query.one().status == "sent"

    page = client.get(path_of(link))
    assert page.status_code == 200 and b'id="reset_password_form"' in page.data and b"ada@example.com" in page.data
    done = client.post(path_of(link), data={"password": "a fresh passphrase", "confirm_password": "a fresh passphrase"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/login")
    assert b"Your password was changed" in client.get("/login").data

    assert form_login(client, "ada@example.com", make.PASSWORD).status_code == 422
    assert form_login(client, "ada@example.com", "a fresh passphrase").status_code == 303
    assert not is_logged_in(elsewhere)  # a reset ends every other session
    events = AuditEvent.query.filter_by(action="user.password_reset").all()
    assert len(events) == 1 and events[0].targets[0]["id"] == str(user.id)

    # The same link again: a clear page, not a second reset.
    reused = client.get(path_of(link))
    assert reused.status_code == 410 and b"already used" in reused.data
    again = client.post(path_of(link), data={"password": "another passphrase", "confirm_password": "another passphrase"})
    assert again.status_code == 410
    assert accounts.password_matches(fresh(user.id), "a fresh passphrase")


def test_without_smtp_the_email_and_its_link_go_to_the_log(app, client, make, run_jobs, caplog, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    make.user(email="ada@example.com")
    request_link(client, "ada@example.com")
    with caplog.at_level(logging.INFO, logger="orgkit.mail"):
        run_jobs(["email"])
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "orgkit.mail")
    link = reset_link_in(logged)
    assert "To: ada@example.com" in logged
    # The link stands alone on its line, so a terminal makes it clickable, and it works.
    assert f"\n{link}\n" in logged
    assert client.get(path_of(link)).status_code == 200
    assert OutboundEmail.query.one().status == "sent"


def test_smtp_down_keeps_the_email_pending_until_a_later_sweep_sends_it(app, client, make, run_jobs, monkeypatch):
    from jobs.sweeper import sweep_emails
    from models import utcnow
    from tests.servers import SmtpServer, free_port

    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())  # nothing listens there
    make.user(email="ada@example.com")
    request_link(client, "ada@example.com")
    run_jobs(["email"])
    email = OutboundEmail.query.one()
    assert email.status == "pending" and email.attempts == 1
    assert email.next_attempt_at > utcnow() and email.last_error
    assert sweep_emails() == 0  # not due yet

    server = SmtpServer()
    server.start()
    try:
        monkeypatch.setitem(app.config, "SMTP_PORT", server.port)
        email.next_attempt_at = utcnow()  # the retry time has come
        db.session.commit()
        assert sweep_emails() == 1
        run_jobs(["email"])
        [message] = server.wait_for(1)
    finally:
        server.stop()
    email = OutboundEmail.query.one()
    assert email.status == "sent" and email.attempts == 2
    link = reset_link_in(message.get_body(("plain",)).get_content())
    assert client.get(path_of(link)).status_code == 200


# --- Bad links and bad passwords ------------------------------------------------------------------

def test_tampered_link_is_refused_clearly(client, make):
    user = make.user()
    token = token_for(user)
    bad_token = tampered(token)
    for bad in (bad_token, "garbage", "a" * 300, token + "x"):
        page = client.get(f"/reset-password/{bad}")
        assert page.status_code == 400 and b"This link isn" in page.data
        assert b'href="/forgot-password"' in page.data
        post = client.post(f"/reset-password/{bad}", data={"password": "a fresh passphrase",
                                                           "confirm_password": "a fresh passphrase"})
        assert post.status_code == 400
    assert accounts.password_matches(fresh(user.id), "correct horse battery staple")
    assert AuditEvent.query.filter_by(action="user.password_reset").count() == 0


def test_expired_link_is_refused_clearly(client, make, monkeypatch, app):
    user = make.user()
    ttl = app.config["PASSWORD_RESET_TTL_MINUTES"] * 60
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - ttl - 5)
        old = token_for(user)
    page = client.get(f"/reset-password/{old}")
    assert page.status_code == 410 and b"This link has expired" in page.data
    assert client.post(f"/reset-password/{old}", data={"password": "a fresh passphrase",
                                                       "confirm_password": "a fresh passphrase"}).status_code == 410
    assert accounts.password_matches(fresh(user.id), "correct horse battery staple")
    # A link issued just inside the window still works.
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - ttl + 30)
        recent = token_for(user)
    assert client.get(f"/reset-password/{recent}").status_code == 200


def test_links_die_when_the_password_changes_another_way(client, make, login):
    user = make.user(email="ada@example.com")
    token = token_for(user)
    login(user)
    client.post("/app/account/password", data={"current_password": make.PASSWORD,
                                               "new_password": "a brand new passphrase",
                                               "confirm_password": "a brand new passphrase"})
    assert client.get(f"/reset-password/{token}").status_code == 410


@pytest.mark.parametrize("password, confirm, message", [
    ("short", "short", b"Use at least 8 characters."),
    ("z" * 129, "z" * 129, b"Use at most 128 characters."),
    ("qwertyuiop", "qwertyuiop", b"commonly used passwords"),
    ("a fresh passphrase", "a different one", b"The two passwords don&#39;t match."),
    ("", "", b"Choose a password."),
])
def test_bad_new_password_keeps_the_link_usable(client, make, password, confirm, message):
    user = make.user()
    token = token_for(user)
    response = client.post(f"/reset-password/{token}", data={"password": password, "confirm_password": confirm})
    assert response.status_code == 422 and message in response.data
    refreshed = fresh(user.id)
    assert accounts.password_matches(refreshed, "correct horse battery staple") and refreshed.session_epoch == 0
    assert AuditEvent.query.count() == 0
    assert client.get(f"/reset-password/{token}").status_code == 200


def test_reset_link_of_a_deactivated_account_is_refused(client, make):
    user = make.user()
    token = token_for(user)
    user.is_deactivated = True
    db.session.commit()
    assert client.get(f"/reset-password/{token}").status_code == 410


def test_email_template_renders_name_and_link(client, make, run_jobs):
    make.user(email="ada@example.com", name="Ada <script>")
    request_link(client, "ada@example.com")
    run_jobs(["email"])
    email = OutboundEmail.query.one()
    assert "Hi Ada <script>," in email.text_body
    assert "Ada &lt;script&gt;" in email.html_body  # HTML part is escaped
    assert re.search(r'href="http://localhost/reset-password/[^"]+"', email.html_body)
