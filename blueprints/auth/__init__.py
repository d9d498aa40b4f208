from flask import Blueprint

bp = Blueprint("auth", __name__)

from blueprints.auth import ratelimits, routes  # noqa: E402,F401  routes and the 429 page register themselves on bp
