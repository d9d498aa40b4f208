from flask import Blueprint

bp = Blueprint("workspaces", __name__, url_prefix="/app")

from blueprints.workspaces import routes  # noqa: E402,F401
