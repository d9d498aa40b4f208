from tenancy import org_blueprint

bp = org_blueprint("audit", __name__, "/audit")

from blueprints.audit import routes  # noqa: E402,F401
