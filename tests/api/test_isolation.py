"""A key of one org never sees another org: every /api/v1 route with an object id, built from the URL
map (so a new route is covered the day it is added), answers 404 for org B's objects to org A's key,
for every method, and changes nothing."""
import pytest

from extensions import db
from models import AuditEvent, Membership, Role
from services import webhooks
from services.events import SYSTEM, Actor
from services.invitations import invite_member
from tests.api.conftest import ApiOrg, bearer


def _member_id(side):
    person = side.admin
    return str(db.session.scalar(db.select(Membership.id).where(Membership.user_id == person.id,
                                                                 Membership.org_id == side.org.id)))


def _invitation_id(side):
    return str(invite_member(side.org, "someone@example.com", Role.member, Actor.for_user(side.owner), Role.owner).id)


def _endpoint(side):
    if not hasattr(side, "endpoint"):
        side.endpoint = webhooks.create_endpoint(side.org, SYSTEM, "http://127.0.0.1:9/hooks")
    return side.endpoint


def _delivery_id(side):
    return str(webhooks.send_test_message(side.org, _endpoint(side), "member.added", SYSTEM).id)


API_PARAM_FACTORIES = {
    "member_id": _member_id,
    "invitation_id": _invitation_id,
    "endpoint_id": lambda side: str(_endpoint(side).id),
    "delivery_id": _delivery_id,
}


def api_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/") and rule.arguments]


def test_every_api_route_parameter_has_a_factory(app):
    missing = {arg for rule in api_rules(app) for arg in rule.arguments if arg not in API_PARAM_FACTORIES}
    assert not missing, f"Add factories to API_PARAM_FACTORIES for: {missing}"
    assert api_rules(app)


@pytest.fixture
def two_orgs(make):
    a, b = ApiOrg(make), ApiOrg(make)
    key = a.key(["read", "write", "admin"])
    own = {name: factory(a) for name, factory in API_PARAM_FACTORIES.items()}
    other = {name: factory(b) for name, factory in API_PARAM_FACTORIES.items()}
    db.session.commit()
    return a, b, key, own, other


def test_a_key_gets_404_for_every_object_of_another_org(app, client, two_orgs):
    a, b, key, own, other = two_orgs
    before = db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(AuditEvent.org_id == b.org.id))
    checked = 0
    for rule in api_rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for foreign in sorted(rule.arguments):
                # Org B's id in this parameter, org A's own ids in the others (so only B's id can fail).
                values = {arg: (other if arg == foreign else own)[arg] for arg in rule.arguments}
                path = rule.rule
                for arg, value in values.items():
                    path = path.replace(f"<{arg}>", value)
                response = client.open(path, method=method, json={"role": "viewer"} if method == "PATCH" else None,
                                       headers=bearer(key))
                assert response.status_code == 404, (method, path, response.get_json())
                assert response.get_json()["error"]["code"] == "not_found"
                checked += 1
    assert checked >= 12
    after = db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(AuditEvent.org_id == b.org.id))
    assert after == before


def test_lists_only_hold_the_keys_own_org(client, two_orgs):
    a, b, key, own, other = two_orgs
    for path, name in (("/members", "member_id"), ("/invitations", "invitation_id"), ("/webhook-endpoints", "endpoint_id")):
        ids = {item["id"] for item in client.get("/api/v1" + path, headers=bearer(key)).get_json()["data"]}
        assert own[name] in ids and other[name] not in ids
    events = client.get("/api/v1/audit-events?limit=100", headers=bearer(key)).get_json()["data"]
    assert events and all(b.org.slug not in str(e) for e in events)
    assert client.get("/api/v1/org", headers=bearer(key)).get_json()["id"] == str(a.org.id)
