"""Invitations: the org's invitations page (this blueprint) and the public pages their links open
(blueprints.invitations.public)."""
from tenancy import org_blueprint

bp = org_blueprint("invitations", __name__)

from blueprints.invitations import routes  # noqa: E402,F401  routes register themselves on bp
