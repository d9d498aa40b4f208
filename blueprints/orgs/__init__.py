from tenancy import org_blueprint

bp = org_blueprint("orgs", __name__)

from blueprints.orgs import routes  # noqa: E402,F401
