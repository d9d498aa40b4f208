"""Liveness and readiness probes for load balancers and orchestrators."""
from flask import Blueprint, jsonify
from sqlalchemy import text

from extensions import csrf, db, jobs, redis_reachable
from tenancy import public_page

bp = Blueprint("health", __name__)
csrf.exempt(bp)


@bp.route("/healthz")
@public_page
def healthz():
    """The process is alive (no dependencies checked)."""
    return jsonify(status="ok")


@bp.route("/readyz")
@public_page
def readyz():
    """Ready for traffic: the database answers, and Redis does when the queues use it."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready; say which
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    if jobs.redis is not None and jobs.queues:
        checks["redis"] = "ok" if redis_reachable(jobs.redis) else "error: unreachable"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
