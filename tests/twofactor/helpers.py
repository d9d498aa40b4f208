"""Helpers for the two-factor tests: turning a factor on through the service, computing codes."""
import time

import pyotp

from extensions import db
from services import twofactor
from services.events import Actor


def enable_totp(user):
    """Give user a confirmed authenticator app; returns its secret. Confirmed with the previous
    step's code, so the current and next codes are still unused."""
    secret = twofactor.start_totp_setup(user)
    codes = twofactor.confirm_totp(user, code_at(secret, -30), Actor.for_user(user))
    db.session.commit()
    return secret, codes


def code_at(secret, offset_seconds=0):
    return pyotp.TOTP(secret).at(time.time() + offset_seconds)


def login_with_password(client, user, password, **extra):
    return client.post("/login", data={"email": user.email, "password": password, **extra})
