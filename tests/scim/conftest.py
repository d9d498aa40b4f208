"""SCIM test helpers: an org with SCIM on and a live token, and a client that speaks SCIM to it."""
import json
from dataclasses import dataclass

import pytest

from extensions import db
from services.events import SYSTEM
from services.scim import settings

SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclass
class ScimClient:
    client: object
    token: str
    org: object

    def request(self, method, path, body=None, headers=None, raw=None, token=...):
        all_headers = {"Content-Type": SCIM_JSON, "Accept": SCIM_JSON}
        token = self.token if token is ... else token
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.client.open(f"/scim/v2{path}", method=method, data=data, headers=all_headers)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, operations, **kw):
        return self.request("PATCH", path, {"schemas": [PATCH_OP], "Operations": operations}, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create_user(self, user_name, **attributes):
        body = {"schemas": [USER_SCHEMA], "userName": user_name, "active": True,
                "name": {"givenName": "Test", "familyName": "User"},
                "emails": [{"value": user_name if "@" in user_name else f"{user_name}@example.com", "type": "work", "primary": True}]}
        body.update(attributes)
        response = self.post("/Users", body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def create_group(self, name, members=()):
        response = self.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": name,
                                         "members": [{"value": m} for m in members]})
        assert response.status_code == 201, response.get_json()
        return response.get_json()


def scim_for(client, org, enabled=True, verified_domains=("example.com",)):
    """SCIM on for org with a live token. The org has verified example.com (as an operator would mark
    it), so SCIM creates managed accounts there; any other domain gets the invitation path."""
    settings.set_enabled(org, enabled, SYSTEM)
    _, token = settings.create_token(org, SYSTEM)
    for name in verified_domains:
        verify_domain(org, name)
    db.session.commit()
    return ScimClient(client, token, org)


def verify_domain(org, name):
    from models import SsoDomain, utcnow
    db.session.add(SsoDomain(org_id=org.id, domain=name, verification_token="t" * 32, verified_at=utcnow(),
                             verified_by="operator"))
    db.session.flush()


@pytest.fixture
def scim(client, make):
    owner = make.user(email="owner@acme.example.com", name="Olive Owner")
    org = make.org(owner=owner, name="Acme", slug="acme")
    return scim_for(client, org)


@pytest.fixture
def other_scim(client, make):
    org = make.org(name="Globex", slug="globex")
    return scim_for(client, org)


def assert_scim_error(response, status, scim_type=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == SCIM_JSON
    body = response.get_json(force=True)
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type:
        assert body.get("scimType") == scim_type, body
    return body
