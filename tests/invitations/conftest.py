"""Helpers for invitation tests: invite through the service, and read the link from the email sent."""
import re

import pytest
from sqlalchemy import select

from extensions import db
from models import OutboundEmail, Role
from services.events import Actor
from services.invitations import invite_member

LINK_RE = re.compile(r"http://localhost(/invitations/[A-Za-z0-9_\-]+)")


def last_email_to(address):
    return db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.to_address == address).order_by(OutboundEmail.created_at.desc())
    ).first()


def link_path_in(text):
    match = LINK_RE.search(text)
    assert match, f"no invitation link in: {text}"
    return match.group(1)


class Inviter:
    def __init__(self, make):
        self.make = make

    def __call__(self, org, owner, email="grace@example.com", role=Role.member):
        """Invite email to org as owner; returns (invitation, path of the emailed link)."""
        invitation = invite_member(org, email, role, Actor.for_user(owner), Role.owner)
        db.session.commit()
        return invitation, link_path_in(last_email_to(invitation.email).text_body)


@pytest.fixture
def invite(make):
    return Inviter(make)


@pytest.fixture
def acme(make):
    """An org with its owner: (org, owner)."""
    owner = make.user(email="ada@example.com", name="Ada Lovelace")
    return make.org(owner=owner, name="Acme", slug="acme"), owner
