"""Values for the URL parameters of org routes, used by the permission matrix (role x route x own org /
other org) that is generated from app.url_map.

PARAM_FACTORIES maps a URL parameter name (as in the route rule, e.g. "endpoint_id") to a callable
(org, owner) -> value that creates a real object of that kind in org (committing it) and returns the
value to put in the URL. An org route whose parameter has no factory here fails the matrix, so every
new route gets an entry. Add yours in a block named after your feature.
"""

PARAM_FACTORIES = {}


# --- Webhooks ------------------------------------------------------------------------------------

def _webhook_endpoint(org, owner):
    from extensions import db
    from services import webhooks
    from services.events import SYSTEM
    endpoint = webhooks.create_endpoint(org, SYSTEM, "http://127.0.0.1:9/hooks", "permission matrix")
    db.session.commit()
    return endpoint


def _webhook_delivery(org, owner):
    from extensions import db
    from services import webhooks
    delivery = webhooks.send_test_message(org, _webhook_endpoint(org, owner), "member.added")
    db.session.commit()
    return delivery


def _webhook_attempt(org, owner):
    from extensions import db
    from models import WebhookAttempt
    delivery = _webhook_delivery(org, owner)
    attempt = WebhookAttempt(org_id=org.id, delivery_id=delivery.id, endpoint_id=delivery.endpoint_id, attempt_number=1,
                             succeeded=False, request_url="http://127.0.0.1:9/hooks", request_headers={},
                             response_headers={}, error="Could not connect: connection refused")
    db.session.add(attempt)
    db.session.commit()
    return str(attempt.id)


PARAM_FACTORIES["endpoint_id"] = lambda org, owner: str(_webhook_endpoint(org, owner).id)
PARAM_FACTORIES["delivery_id"] = lambda org, owner: str(_webhook_delivery(org, owner).id)
PARAM_FACTORIES["attempt_id"] = _webhook_attempt
