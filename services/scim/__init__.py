"""SCIM 2.0 service provider (RFC 7643, RFC 7644): schema, filters to SQL, PATCH, provisioning verbs.

Every verb here flushes and never commits; the /scim/v2 request commits once. Refusals are ScimError,
which the blueprint renders as the RFC 7644 section 3.12 error JSON.
"""

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

# The most resources one list response returns; advertised as filter.maxResults (RFC 7644 section 3.4.2.4).
MAX_RESULTS = 200
DEFAULT_COUNT = 100


class ScimError(Exception):
    """A SCIM error response (RFC 7644 section 3.12): HTTP status, optional scimType, detail."""

    def __init__(self, status, detail, scim_type=None, headers=None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}

    def to_json(self):
        body = {"schemas": [ERROR_SCHEMA], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


def invalid_value(detail):
    return ScimError(400, detail, "invalidValue")


def invalid_syntax(detail):
    return ScimError(400, detail, "invalidSyntax")


def invalid_filter(detail):
    return ScimError(400, detail, "invalidFilter")


def invalid_path(detail):
    return ScimError(400, detail, "invalidPath")


def mutability(detail):
    return ScimError(400, detail, "mutability")


def no_target(detail):
    return ScimError(400, detail, "noTarget")


def not_found(kind, resource_id):
    return ScimError(404, f"{kind} {resource_id} not found")
