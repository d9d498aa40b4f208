"""Helpers for the account tests: logging in through the real form, finding links in emails."""
import re

from sqlalchemy import event

from extensions import db
from models import OutboundEmail

RESET_LINK = re.compile(r"https?://[^\s\"<>]+/reset-password/[A-Za-z0-9._-]+")
SIGN_UP_LINK = re.compile(r"https?://[^\s\"<>/]+(/signup/[A-Za-z0-9._-]+)")


def form_login(client, email, password, **extra):
    """Log in through the login form, as a person would; returns the response."""
    return client.post("/login", data={"email": email, "password": password, **extra})


def is_logged_in(client):
    """Whether the client's session still opens a signed-in page."""
    return client.get("/app/account").status_code == 200


def reset_link_in(text):
    match = RESET_LINK.search(text)
    assert match, f"no reset link in: {text!r}"
    return match.group(0)


def sign_up_path_in(text):
    """The path of the emailed link that finishes creating an account."""
    match = SIGN_UP_LINK.search(text)
    assert match, f"no sign-up link in: {text!r}"
    return match.group(1)


def path_of(url):
    return "/" + url.split("/", 3)[3]


def outbox_to(address):
    return OutboundEmail.query.filter_by(to_address=address).order_by(OutboundEmail.created_at).all()


def statements_of(request):
    """(what request() returned, the SQL statements it ran): to show two requests do the same work."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        return request(), statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def without_csrf(page):
    """A page without its CSRF tokens, which carry a timestamp (two renders a second apart differ)."""
    return re.sub(r'(csrf_token" type="hidden" value="|"X-CSRFToken": ")[^"]+', r"\1", page)
