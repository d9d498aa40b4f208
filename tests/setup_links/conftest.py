"""Fixtures for setup links: an org with an owner, and helpers to make a link and open it."""
import re

import pytest

from extensions import db
from services import setup_links
from services.events import Actor


@pytest.fixture
def acme(make):
    owner = make.user(email="olive@example.com", name="Olive Owner")
    org = make.org(owner=owner, name="Acme", slug="acme")
    return org, owner


def make_link(org, owner, scopes=("sso", "scim", "domains"), days=7, send_to=None):
    """(link, path of its URL) made as the owner."""
    link, token = setup_links.create_link(org, Actor.for_user(owner), list(scopes), days, send_to, created_by=owner)
    db.session.commit()
    return link, f"/setup/{token}"


def open_link(client, path):
    """Open a link that needs no code; returns the page path it leads to (/setup/l/<id>)."""
    response = client.get(path)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def code_in(message):
    return re.search(r"\b(\d{8})\b", message.get_body(("plain",)).get_content()).group(1)


@pytest.fixture
def dns(app, monkeypatch):
    """A real local DNS server the domain checks ask (SSO_DNS_RESOLVER)."""
    from tests.sso.servers import DnsServer
    server = DnsServer().start()
    monkeypatch.setitem(app.config, "SSO_DNS_RESOLVER", server.address)
    yield server
    server.stop()


HTMX = {"HX-Request": "true"}
