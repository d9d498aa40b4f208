"""API keys: the settings page under /app/o/<slug>/settings/api-keys (bp). The JSON API the keys
unlock is blueprints.api, registered here by init_app with its JSON error renderer and CSRF exemption
(bearer keys, no cookies)."""
from tenancy import org_blueprint

bp = org_blueprint("api_keys", __name__, "/settings/api-keys")

from blueprints.api_keys import routes  # noqa: E402,F401


def init_app(app):
    from blueprints import api
    api.init_app(app)
