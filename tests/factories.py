"""One-line setup for tests. Every factory commits, so requests (which have their own session) see it."""
import itertools

from extensions import db
from models import Role
from services import accounts, orgs
from services.events import SYSTEM

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def user(email=None, name=None, password=PASSWORD):
    n = next(_seq)
    created = accounts.create_user(email or f"user{n}@example.com", name or f"User {n}", password)
    db.session.commit()
    return created


def org(owner=None, name=None, slug=None):
    owner = owner or user()
    created = orgs.create_org(name or f"Org {next(_seq)}", owner, SYSTEM, slug=slug)
    db.session.commit()
    return created


def member(org, role=Role.member, user_=None, email=None):
    """A user (new unless given) with role in org; returns the user."""
    person = user_ or user(email=email)
    orgs.add_member(org, person, role, SYSTEM)
    db.session.commit()
    return person



def login_id(user, method="password", sso_orgs=()):
    """What a signed-in browser's session holds for user: a live server-side session (services/sessions.py)
    with a password grant (method None: none) and SSO grants for sso_orgs. Put it in session["_user_id"]."""
    from services import sessions
    record = sessions.new_session_record(user, method=method, sso_orgs=sso_orgs)
    db.session.commit()
    return sessions.login_id(user, record)
