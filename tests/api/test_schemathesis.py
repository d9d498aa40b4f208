"""Schemathesis runs the published OpenAPI document against the app served over real HTTP: generated
valid and invalid requests for every operation (a bounded number of examples each), with no 5xx and
every response matching its documented status, headers and schema."""
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from extensions import db
from models import Role
from services import webhooks
from services.events import SYSTEM, Actor
from services.invitations import invite_member
from tests.api.conftest import ApiOrg, bearer

MAX_EXAMPLES = 25


def _published_document():
    # The document as /api/v1/openapi.json serves it (test_the_document_is_what_is_served checks that).
    import blueprints.api  # noqa: F401  registers every operation
    from blueprints.api.openapi import build_document
    return build_document("http://localhost/api/v1")


schema = schemathesis.openapi.from_dict(_published_document())


@pytest.fixture
def populated_key(app, make, monkeypatch):
    """An org with a member, an invitation, an endpoint with a message, and a key of every scope."""
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "100000 per second")
    side = ApiOrg(make)
    make.member(side.org, Role.viewer)
    invite_member(side.org, "pending@example.com", Role.member, Actor.for_user(side.owner), Role.owner)
    endpoint = webhooks.create_endpoint(side.org, SYSTEM, "http://127.0.0.1:9/hooks")
    webhooks.send_test_message(side.org, endpoint, "member.added", SYSTEM)
    db.session.commit()
    return side.key(["read", "write", "admin"])


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_matches_its_openapi_document(case, live_server, populated_key):
    # positive_data_acceptance is left out: some refusals cannot be said in JSON Schema (an email
    # address's syntax, the egress policy for webhook URLs, reserved or taken slugs). They get 409 or
    # 422 with the field named, which the other checks hold to the document.
    case.call_and_validate(base_url=live_server.url + "/api/v1", headers=bearer(populated_key),
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])


def test_the_document_is_valid_openapi_3_1(client):
    from jsonschema import Draft202012Validator
    document = client.get("/api/v1/openapi.json").get_json()
    assert document == _published_document()
    assert document["openapi"] == "3.1.0"
    for name, component in document["components"]["schemas"].items():
        Draft202012Validator.check_schema(component)
    # Every route of the blueprint is documented, and nothing else.
    documented = {(path, method.upper()) for path, methods in document["paths"].items() for method in methods}
    from flask import current_app
    served = {(rule.rule[len("/api/v1"):].replace("<", "{").replace(">", "}"), method)
              for rule in current_app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              and rule.endpoint not in ("api.openapi_document", "api.api_reference")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served


def test_the_reference_page_is_generated_from_the_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    page = client.get("/api/v1/reference").get_data(as_text=True)
    for path, methods in document["paths"].items():
        for spec in methods.values():
            assert f'id="{spec["operationId"]}"' in page and path in page
