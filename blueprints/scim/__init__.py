"""SCIM: the settings page under /app/o/<slug>/settings/scim (bp) and the protocol at /scim/v2
(blueprints.scim.api), registered by init_app with its own error renderer, CSRF exemption (bearer
tokens, no cookies) and rate limit."""
from tenancy import org_blueprint

bp = org_blueprint("scim", __name__, "/settings/scim")

from blueprints.scim import routes  # noqa: E402,F401


def init_app(app):
    from app import register_error_renderer
    from blueprints.scim import api, docs
    from extensions import csrf

    csrf.exempt(api.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(docs.bp)
    register_error_renderer(app, "/scim/", api.render_scim_error)
