"""JSON Schemas (2020-12) of every request body and response of /api/v1.

The request schemas validate bodies at runtime (jsonschema) and the same objects are published in the
OpenAPI document's components, so the document and the behaviour cannot drift apart.
"""
from models import Role
from services.orgs import SLUG_RE
from services import catalog

ROLES = [role.value for role in Role]
TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
ID = {"type": "string", "format": "uuid"}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties, required=None, additional=False, **extra):
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": additional, **extra}


USER = _object({"id": ID, "email": {"type": "string"}, "name": {"type": "string"}})

RESPONSES = {
    "Error": _object({"error": _object({
        "code": {"type": "string", "description": "Stable, machine-readable: unauthorized, missing_scope, not_found, invalid_json, validation_failed, conflict, rate_limited ..."},
        "message": {"type": "string", "description": "What went wrong and what to do, for a person."},
        "details": {"type": "object", "description": "More about it: the field, the required scope, the validation errors."},
    })}),
    "Org": _object({"id": ID, "slug": {"type": "string"}, "name": {"type": "string"},
                    "status": {"type": "string", "enum": ["active", "suspended"]}, "created_at": TIMESTAMP}),
    "User": USER,
    "Member": _object({"id": {**ID, "description": "The membership's id (use it in /members/{member_id})."},
                       "user": ref("User"), "role": {"type": "string", "enum": ROLES},
                       "active": {"type": "boolean"}, "deactivated_at": NULLABLE_TIMESTAMP, "joined_at": TIMESTAMP}),
    "Invitation": _object({"id": ID, "email": {"type": "string"}, "role": {"type": "string", "enum": ROLES},
                           "status": {"type": "string", "enum": ["pending", "expired", "accepted", "revoked"]},
                           "expires_at": TIMESTAMP, "created_at": TIMESTAMP,
                           "invited_by": {"oneOf": [ref("User"), {"type": "null"}]}}),
    "WebhookEndpoint": _object({
        "id": ID, "url": {"type": "string"}, "description": {"type": "string"},
        "event_types": {"type": ["array", "null"], "items": {"type": "string"},
                        "description": "null: every event type, including ones added later."},
        "active": {"type": "boolean"}, "disabled_reason": {"type": ["string", "null"]},
        "created_at": TIMESTAMP, "updated_at": NULLABLE_TIMESTAMP}),
    "WebhookEndpointWithSecret": {"allOf": [ref("WebhookEndpoint"), {
        "type": "object", "required": ["secret"],
        "properties": {"secret": {"type": "string", "description": "whsec_... signing secret (Standard Webhooks)."}}}]},
    "WebhookMessage": _object({
        "id": {**ID, "description": "The delivery's id (use it in .../messages/{delivery_id})."},
        "webhook_id": {"type": "string", "description": "The webhook-id header receivers deduplicate on."},
        "event_type": {"type": "string"}, "is_test": {"type": "boolean"},
        "status": {"type": "string", "enum": ["pending", "succeeded", "failed"]},
        "attempt_count": {"type": "integer"}, "next_attempt_at": NULLABLE_TIMESTAMP,
        "last_attempt_at": NULLABLE_TIMESTAMP, "last_status_code": {"type": ["integer", "null"]},
        "last_error": {"type": ["string", "null"]}, "created_at": TIMESTAMP}),
    "WebhookAttempt": _object({
        "id": ID, "attempt_number": {"type": "integer"}, "succeeded": {"type": "boolean"},
        "request_url": {"type": "string"}, "response_status": {"type": ["integer", "null"]},
        "response_body": {"type": ["string", "null"]}, "duration_ms": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]}, "created_at": TIMESTAMP}),
    "AuditEvent": _object({
        "id": ID, "action": {"type": "string"},
        "actor": _object({"type": {"type": "string"}, "id": {"type": ["string", "null"]}, "label": {"type": "string"}}),
        "targets": {"type": "array", "items": {"type": "object"}}, "data": {"type": "object"},
        "ip": {"type": ["string", "null"]}, "user_agent": {"type": ["string", "null"]}, "created_at": TIMESTAMP}),
    "Event": _object({"id": ID, "type": {"type": "string"}, "timestamp": TIMESTAMP, "data": {"type": "object"}},
                     description="The same type and data a webhook for this event carries."),
}

_EVENT_TYPE = {"type": "string", "enum": [t.name for t in catalog.webhook_types()]}

REQUESTS = {
    "OrgUpdate": _object({"name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"},
                          "slug": {"type": "string", "pattern": SLUG_RE.pattern,
                                   "description": "The workspace's address: lowercase letters, digits and dashes."}},
                         required=[], minProperties=1),
    "MemberUpdate": _object({"role": {"type": "string", "enum": ROLES}}),
    "InvitationCreate": _object({"email": {"type": "string", "minLength": 3, "maxLength": 254},
                                 "role": {"type": "string", "enum": ROLES}}),
    "WebhookEndpointCreate": _object({
        "url": {"type": "string", "minLength": 1, "maxLength": 2048},
        "description": {"type": "string", "maxLength": 200},
        "event_types": {"type": ["array", "null"], "items": _EVENT_TYPE, "minItems": 1, "maxItems": 100,
                        "description": "Omit or null for every event type."}},
        required=["url"]),
    "WebhookEndpointUpdate": _object({
        "url": {"type": "string", "minLength": 1, "maxLength": 2048},
        "description": {"type": "string", "maxLength": 200},
        "event_types": {"type": ["array", "null"], "items": _EVENT_TYPE, "minItems": 1, "maxItems": 100}},
        required=[], minProperties=1),
    "SecretRotation": _object({"keep_previous": {
        "type": "boolean", "description": "Keep signing with the old secret too for the overlap (default true)."}},
        required=[]),
}

ALL = {**RESPONSES, **REQUESTS}


def list_of(name):
    return _object({"data": {"type": "array", "items": ref(name)},
                    "next_cursor": {"type": ["string", "null"], "description": "Pass as ?cursor= for the next page; null on the last page."}})
