"""The JSON API at /api/v1 (issue 5). The org comes from the API key, never from the URL or the body;
a browser session never authenticates here (no cookie is read), so the API is exempt from CSRF.

Every operation is declared once with operation() in blueprints/api/routes.py: its URL rule, the
permission of permissions.py it needs (the scope follows from it and the method), its request and
response schemas. From those declarations come the checks of every request and the OpenAPI document
(blueprints/api/openapi.py), so the document describes exactly what runs.
"""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from blueprints.api import core, routes, openapi  # noqa: E402,F401


def init_app(app):
    from app import register_error_renderer
    from extensions import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp)
    register_error_renderer(app, "/api/", core.render_app_error)
