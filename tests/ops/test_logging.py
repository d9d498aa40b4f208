"""Structured logs: every line logged during a request or job names its request, org, user, job."""
import json

import pytest

from app import create_app
from config import Config, TestConfig
from extensions import jobs
from models import Role


@pytest.fixture
def acme(make):
    owner = make.user(email="ada@example.com", name="Ada Lovelace")
    return make.org(owner=owner, name="Acme", slug="acme"), owner


def test_every_line_of_a_request_is_json_with_request_org_and_user(acme, client, login, log_output, monkeypatch):
    org, owner = acme
    output = log_output("json")
    login(owner)

    def redis_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    # The invitation email's enqueue fails after the commit, so a line is logged mid-request too.
    monkeypatch.setattr(jobs, "enqueue", redis_down)
    response = client.post("/app/o/acme/invitations", data={"email": "grace@example.com", "role": "member"},
                           headers={"X-Request-ID": "req-from-proxy-42"})
    assert response.status_code == 303
    assert response.headers["X-Request-ID"] == "req-from-proxy-42"

    lines = output.json_lines()  # raises if any line is not one JSON object
    assert len(lines) >= 2
    for line in lines:
        assert line["request_id"] == "req-from-proxy-42"
        assert line["org"] == "acme" and line["org_id"] == str(org.id)
        assert line["user_id"] == str(owner.id)
        assert {"ts", "level", "logger", "msg"} <= set(line)
    failure = next(line for line in lines if "enqueue of deliver_email failed" in line["msg"])
    assert failure["level"] == "ERROR" and "Redis is down" in failure["exc"]
    access = next(line for line in lines if line["logger"] == "orgkit.request")
    assert access["method"] == "POST" and access["path"] == "/app/o/acme/invitations" and access["status"] == 303


def test_anonymous_request_lines_have_a_request_id_and_no_user(client, log_output):
    output = log_output("json")
    response = client.get("/login")
    [line] = [line for line in output.json_lines() if line["logger"] == "orgkit.request"]
    assert line["request_id"] == response.headers["X-Request-ID"] and len(line["request_id"]) == 32
    assert "user_id" not in line and "org" not in line


@pytest.mark.parametrize("header", ['forged", "user_id": "x', "a" * 200, "line\tbreak"])
def test_a_request_id_that_is_not_a_plain_token_is_replaced(client, header):
    response = client.get("/healthz", headers={"X-Request-ID": header})
    assert response.headers["X-Request-ID"] != header
    assert len(response.headers["X-Request-ID"]) == 32


def test_job_lines_name_the_job_and_the_request_and_org_that_enqueued_it(acme, client, login, log_output, run_jobs):
    org, owner = acme
    login(owner)
    response = client.post("/app/o/acme/invitations", data={"email": "grace@example.com", "role": "member"})
    request_id = response.headers["X-Request-ID"]
    output = log_output("json")
    run_jobs(["email"])  # no SMTP_HOST: the email is written to the log by the job

    [email_line] = [line for line in output.json_lines() if line["logger"] == "orgkit.mail"]
    assert "grace@example.com" in email_line["msg"]
    assert email_line["job"] == "deliver_email" and email_line["job_id"].startswith("email-")
    assert email_line["request_id"] == request_id and email_line["org"] == "acme"
    assert "user_id" not in email_line  # a job acts for nobody's session


def test_text_format_puts_the_context_after_the_message(acme, client, login, log_output):
    org, owner = acme
    output = log_output("text")
    login(owner)
    response = client.get("/app/o/acme/members", headers={"X-Request-ID": "r-1"})
    assert response.status_code == 200
    [line] = [line for line in output.text.splitlines() if "orgkit.request" in line]
    assert "GET /app/o/acme/members 200" in line
    assert f"[request_id=r-1 org=acme org_id={org.id} user_id={owner.id}]" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_an_unknown_log_format_stops_the_app_at_start():
    with pytest.raises(ValueError, match="LOG_FORMAT must be json or text"):
        create_app(TestConfig(LOG_FORMAT="xml"))


def test_json_is_the_documented_production_format():
    from config import SETTINGS
    [(_, default, description)] = [s for s in SETTINGS if s[0] == "LOG_FORMAT"]
    assert default == "text" and "json" in description and "production" in description


# --- Cookies --------------------------------------------------------------------------------------

def test_session_cookie_is_secure_when_the_public_url_is_https(monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://orgkit.example.com")
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    config = Config()
    assert config.SESSION_COOKIE_SECURE is True and config.REMEMBER_COOKIE_SECURE is True
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    assert Config().SESSION_COOKIE_SECURE is False
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")
    assert Config().SESSION_COOKIE_SECURE is True


def test_samesite_none_is_refused(monkeypatch):
    monkeypatch.setenv("SESSION_COOKIE_SAMESITE", "None")
    with pytest.raises(ValueError, match="Lax or Strict"):
        Config()
    monkeypatch.setenv("SESSION_COOKIE_SAMESITE", "strict")
    assert Config().SESSION_COOKIE_SAMESITE == "Strict"


def test_login_sets_secure_httponly_samesite_cookies(app, client, make, monkeypatch):
    make.user(email="ada@example.com")
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    monkeypatch.setitem(app.config, "REMEMBER_COOKIE_SECURE", True)
    response = client.post("/login", data={"email": "ada@example.com", "password": make.PASSWORD, "remember": "y"},
                           base_url="https://localhost")
    assert response.status_code in (302, 303)
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    for name in ("session", "remember_token"):
        assert "Secure" in cookies[name] and "HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name]
    assert "Strict-Transport-Security" in response.headers


def test_scim_request_lines_name_the_org_of_the_token(client, make, log_output):
    from tests.scim.conftest import scim_for
    org = make.org(name="Globex", slug="globex")
    scim = scim_for(client, org)
    output = log_output("json")
    assert scim.get("/Users").status_code == 200
    [line] = [line for line in output.json_lines() if line["logger"] == "orgkit.request"]
    assert line["org"] == "globex" and line["org_id"] == str(org.id) and line["path"] == "/scim/v2/Users"


@pytest.mark.parametrize("path, shown", [
    ("/reset-password/{token}", "/reset-password/[redacted]"),
    ("/signup/{token}", "/signup/[redacted]"),
    ("/invitations/{token}", "/invitations/[redacted]"),
    ("/invitations/{token}/accept", "/invitations/[redacted]/accept"),
    ("/join/{token}", "/join/[redacted]"),
    ("/notifications/unsubscribe/{token}", "/notifications/unsubscribe/[redacted]"),
])
def test_access_lines_redact_the_token_of_a_link(client, log_output, path, shown):
    """A reset, sign-up or invitation link in an access log would let whoever reads the log use it."""
    output = log_output("json")
    token = "tok3n-that-must-not-be-logged.AbC_123"
    client.open(path.format(token=token), method="POST" if path.endswith("/accept") else "GET")
    [line] = [line for line in output.json_lines() if line["logger"] == "orgkit.request"]
    assert line["path"] == shown and line["msg"].split()[1] == shown
    assert token not in output.stream.getvalue()


def test_gunicorn_writes_no_access_log_of_its_own(monkeypatch):
    """Its access line would show the raw path (tokens included): the app's redacted one is the log."""
    import runpy
    for log_format in ("text", "json"):
        monkeypatch.setenv("LOG_FORMAT", log_format)
        assert runpy.run_path("gunicorn.conf.py")["accesslog"] is None
