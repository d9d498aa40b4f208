"""Helpers for the account tests: logging in through the real form, finding links in emails."""
import re

from models import OutboundEmail

RESET_LINK = re.compile(r"https?://[^\s\"<>]+/reset-password/[A-Za-z0-9._-]+")


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


def path_of(url):
    return "/" + url.split("/", 3)[3]


def outbox_to(address):
    return OutboundEmail.query.filter_by(to_address=address).order_by(OutboundEmail.created_at).all()
