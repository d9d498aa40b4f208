from tenancy import org_blueprint

bp = org_blueprint("webhooks", __name__, "/webhooks")

from blueprints.webhooks import routes  # noqa: E402,F401
