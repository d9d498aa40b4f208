"""Two-factor authentication in the browser: the login step after the password, passkey sign-in,
the account's factors, and (blueprints.twofactor.org_settings) an org's requirement."""
from flask import Blueprint

bp = Blueprint("twofactor", __name__)

from blueprints.twofactor import account, login  # noqa: E402,F401  routes register themselves on bp
