from tenancy import org_blueprint

bp = org_blueprint("members", __name__, "/members")

from blueprints.members import routes  # noqa: E402,F401
