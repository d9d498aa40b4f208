"""The bell, the inbox (/app/notifications), notification settings and one-click unsubscribe."""
from flask import Blueprint

bp = Blueprint("notifications", __name__)

from blueprints.notifications import routes  # noqa: E402,F401  routes register themselves on bp


def init_app(app):
    from blueprints.notifications.routes import notification_bell
    from extensions import csrf
    # Mail clients POST "List-Unsubscribe=One-Click" without cookies or a CSRF token (RFC 8058
    # section 3.2); the signed token in the URL is what authorizes the change.
    csrf.exempt(routes.notifications_unsubscribe)
    app.jinja_env.globals["notification_bell"] = notification_bell
