"""What Orgkit's SCIM resources hold (RFC 7643 sections 4 and 7), in one place.

The attribute tables below drive the /Schemas documents, the reading of request bodies (attribute
names are case-insensitive, RFC 7643 section 2.1), the filter-to-SQL translation and PATCH paths.
"""
from dataclasses import dataclass, field

from services.scim import ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, invalid_syntax, invalid_value


@dataclass(frozen=True)
class Attr:
    name: str
    type: str = "string"          # string, boolean, dateTime, reference, complex
    multi: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"  # readOnly, readWrite, immutable, writeOnly
    returned: str = "default"      # always, never, default, request
    uniqueness: str = "none"
    required: bool = False
    description: str = ""
    sub: tuple = field(default_factory=tuple)
    reference_types: tuple = ()
    column: str | None = None      # ScimUser / ScimGroup column for singular attributes
    # False: accepted from clients and ignored, but neither published in /Schemas nor returned, so
    # discovery says exactly what a resource holds.
    published: bool = True

    def sub_attr(self, name):
        lowered = name.lower()
        for attr in self.sub:
            if attr.name.lower() == lowered:
                return attr
        return None


def _multi_sub(value_type="string", value_description="The value.", value_required=False):
    return (
        Attr("value", value_type, required=value_required, description=value_description),
        Attr("display", description="A human-readable name, primarily used for display purposes."),
        Attr("type", description="A label indicating the attribute's function, e.g. 'work' or 'home'."),
        Attr("primary", "boolean", description="Whether this is the primary value."),
    )


NAME_SUB = (
    Attr("formatted", column="name_formatted", description="The full name, formatted for display."),
    Attr("familyName", column="name_family_name", description="The family name."),
    Attr("givenName", column="name_given_name", description="The given name."),
    Attr("middleName", column="name_middle_name", description="The middle name(s)."),
    Attr("honorificPrefix", column="name_honorific_prefix", description="The honorific prefix, e.g. 'Ms.'."),
    Attr("honorificSuffix", column="name_honorific_suffix", description="The honorific suffix, e.g. 'III'."),
)

ADDRESS_SUB = (
    Attr("formatted"), Attr("streetAddress"), Attr("locality"), Attr("region"), Attr("postalCode"),
    Attr("country"), Attr("type"), Attr("primary", "boolean"),
)

# Multi-valued attributes stored one row per item in scim_user_values.
VALUE_TABLE_ATTRIBUTES = ("emails", "phoneNumbers", "ims", "photos", "entitlements", "roles")

USER_ATTRIBUTES = (
    Attr("userName", required=True, uniqueness="server", column="user_name",
         description="Unique identifier for the user within this Orgkit workspace, typically an email."),
    Attr("name", "complex", sub=NAME_SUB, description="The components of the user's name."),
    Attr("displayName", column="display_name", description="The name of the user, suitable for display."),
    Attr("nickName", column="nick_name", description="The casual way to address the user."),
    Attr("profileUrl", "reference", column="profile_url", reference_types=("external",), description="A URL of the user's profile."),
    Attr("title", column="title", description="The user's title, e.g. 'Vice President'."),
    Attr("userType", column="user_type", description="The relationship between the organization and the user."),
    Attr("preferredLanguage", column="preferred_language", description="The user's preferred written or spoken language."),
    Attr("locale", column="locale", description="The user's default location for localization."),
    Attr("timezone", column="timezone", description="The user's time zone in IANA format."),
    # Not required (RFC 7643 section 4.1.1): a create without it makes an active user, and a PATCH may
    # remove it (unassigned, not returned, counted as true).
    Attr("active", "boolean", column="active",
         description="Whether the user may use this workspace. false suspends their membership (and signs out "
                     "everywhere an account this workspace manages); unassigned counts as true."),
    Attr("password", mutability="writeOnly", returned="never",
         description="Accepted and discarded: Orgkit users sign in with single sign-on."),
    # Not required: without any address (and a userName that is not one) the user is the IdP's record
    # alone until an email arrives (services/scim/provisioning.py, _provision_account).
    Attr("emails", "complex", multi=True, sub=_multi_sub(value_required=True),
         description="Email addresses for the user. Orgkit uses one (the primary, else a work one, else the first, "
                     "else userName when it is an address) to find, invite or create the person; without one the "
                     "user joins no one until an address arrives."),
    Attr("phoneNumbers", "complex", multi=True, sub=_multi_sub(), description="Phone numbers for the user."),
    Attr("ims", "complex", multi=True, sub=_multi_sub(), description="Instant messaging addresses for the user."),
    Attr("photos", "complex", multi=True, sub=_multi_sub("reference"), description="URLs of photos of the user."),
    Attr("addresses", "complex", multi=True, sub=ADDRESS_SUB, description="Physical mailing addresses for the user."),
    Attr("groups", "complex", multi=True, mutability="readOnly",
         sub=(Attr("value", mutability="readOnly"), Attr("$ref", "reference", mutability="readOnly", reference_types=("Group",)),
              Attr("display", mutability="readOnly"), Attr("type", mutability="readOnly")),
         description="The groups the user belongs to; change membership through /Groups."),
    Attr("entitlements", "complex", multi=True, sub=_multi_sub(), description="Entitlements of the user."),
    Attr("roles", "complex", multi=True, sub=_multi_sub(), description="Roles of the user, as the IdP names them."),
)

ENTERPRISE_ATTRIBUTES = (
    Attr("employeeNumber", column="employee_number", description="Numeric or alphanumeric identifier assigned to a person."),
    Attr("costCenter", column="cost_center", description="Identifies the name of a cost center."),
    Attr("organization", column="organization", description="Identifies the name of an organization."),
    Attr("division", column="division", description="Identifies the name of a division."),
    Attr("department", column="department", description="Identifies the name of a department."),
    Attr("manager", "complex", sub=(
        Attr("value", column="manager_value", description="The id of the SCIM resource representing the manager."),
        Attr("$ref", "reference", reference_types=("User",), description="The URI of the manager."),
        # readOnly (RFC 7643 section 4.3): a client's value is ignored; Orgkit does not look it up.
        Attr("displayName", mutability="readOnly", returned="never",
             description="The manager's displayName: ignored when sent, not returned."),
    ), description="The user's manager."),
)

GROUP_ATTRIBUTES = (
    Attr("displayName", required=True, uniqueness="server", column="display_name",
         description="A human-readable name for the group, unique within the workspace."),
    Attr("members", "complex", multi=True, sub=(
        Attr("value", mutability="immutable", description="The id of a member User."),
        Attr("$ref", "reference", mutability="immutable", reference_types=("User",), description="The URI of the member."),
        # IdPs send these with members; Orgkit keeps only the id, so they are ignored and not published.
        Attr("display", mutability="readOnly", published=False),
        Attr("type", mutability="readOnly", published=False),
    ), description="The members of the group (users)."),
)


@dataclass(frozen=True)
class ResourceKind:
    name: str              # "User"
    endpoint: str          # "/Users"
    schema: str
    attributes: tuple
    extensions: dict       # urn -> attributes

    def attr(self, name):
        lowered = name.lower()
        for attr in self.attributes:
            if attr.name.lower() == lowered:
                return attr
        return None

    def extension(self, urn):
        for known, attributes in self.extensions.items():
            if known.lower() == urn.lower():
                return known, attributes
        return None, None


USER = ResourceKind("User", "/Users", USER_SCHEMA, USER_ATTRIBUTES, {ENTERPRISE_SCHEMA: ENTERPRISE_ATTRIBUTES})
GROUP = ResourceKind("Group", "/Groups", GROUP_SCHEMA, GROUP_ATTRIBUTES, {})

# Common attributes (RFC 7643 section 3.1): on every resource, not listed in its schema.
COMMON = {"id": "id", "externalid": "externalId", "meta": "meta", "schemas": "schemas"}


def find_attr(attributes, name):
    lowered = name.lower()
    for attr in attributes:
        if attr.name.lower() == lowered:
            return attr
    return None


# --- Reading request bodies ------------------------------------------------------------------------

def coerce_boolean(value, where):
    """A JSON boolean, or the strings "True"/"False" that Entra ID sends in PATCH values."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid_value(f"'{where}' must be a boolean.")


def _clean_simple(attr, value, where):
    if value is None:
        return None
    if attr.type == "boolean":
        return coerce_boolean(value, where)
    if attr.type == "complex":
        raise invalid_value(f"'{where}' must be an object.")
    if not isinstance(value, str):
        raise invalid_value(f"'{where}' must be a string.")
    return value


def clean_complex(attr, value, where):
    """One complex value with canonical sub-attribute names; unknown sub-attributes refused."""
    if value is None:
        return None
    if isinstance(value, str) and not attr.multi and attr.sub_attr("value") is not None:
        value = {"value": value}  # Entra's manager: the id alone
    if not isinstance(value, dict):
        raise invalid_value(f"'{where}' must be an object.")
    cleaned = {}
    for key, item in value.items():
        sub = attr.sub_attr(key)
        if sub is None:
            raise invalid_syntax(f"'{where}.{key}' is not an attribute of {attr.name}.")
        if sub.mutability == "readOnly":
            continue
        cleaned[sub.name] = _clean_simple(sub, item, f"{where}.{sub.name}")
    return cleaned


def clean_attribute(attr, value, where=None):
    """The value of attr in canonical form, or ScimError for a value of the wrong type."""
    where = where or attr.name
    if attr.multi:
        if value is None:
            return []
        if isinstance(value, dict):
            value = [value]  # a lone object where a list belongs: read it as a list of one
        if not isinstance(value, list):
            raise invalid_value(f"'{where}' must be a list.")
        return [clean_complex(attr, item, where) for item in value if item is not None]
    if attr.type == "complex":
        return clean_complex(attr, value, where)
    return _clean_simple(attr, value, where)


def clean_resource(kind, body):
    """A request body (POST/PUT, or a PATCH result) in canonical form: canonical attribute names,
    checked types, readOnly attributes dropped (RFC 7643 section 2.2: "SHALL be ignored"), unknown
    attributes refused. Extension attributes are kept under their schema URN."""
    if not isinstance(body, dict):
        raise invalid_syntax("The request body must be a JSON object.")
    schemas = body.get("schemas")
    if schemas is not None:
        if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
            raise invalid_syntax("'schemas' must be a list of schema URNs.")
        known = {kind.schema.lower(), *(urn.lower() for urn in kind.extensions)}
        unknown = [s for s in schemas if s.lower() not in known]
        if unknown:
            raise invalid_value(f"Unknown schema {unknown[0]!r} for a {kind.name}.")
    result = {}
    for key, value in body.items():
        lowered = key.lower()
        if lowered in ("schemas", "id", "meta"):
            continue
        if lowered == "externalid":
            if value is not None and not isinstance(value, str):
                raise invalid_value("'externalId' must be a string.")
            result["externalId"] = value
            continue
        urn, ext_attributes = kind.extension(key)
        if urn is not None:
            if value is None:
                result[urn] = {}
                continue
            if not isinstance(value, dict):
                raise invalid_value(f"'{key}' must be an object.")
            ext = {}
            for ext_key, ext_value in value.items():
                attr = find_attr(ext_attributes, ext_key)
                if attr is None:
                    raise invalid_syntax(f"'{ext_key}' is not an attribute of {urn}.")
                ext[attr.name] = clean_attribute(attr, ext_value, f"{urn}:{attr.name}")
            result[urn] = ext
            continue
        if lowered.startswith(kind.schema.lower() + ":"):
            key = key[len(kind.schema) + 1:]
        attr = kind.attr(key)
        if attr is None:
            raise invalid_syntax(f"'{key}' is not an attribute of a SCIM {kind.name} here.")
        if attr.mutability == "readOnly" or attr.mutability == "writeOnly":
            continue
        result[attr.name] = clean_attribute(attr, value)
    return result


# --- Discovery documents (RFC 7644 section 4, RFC 7643 section 7) -----------------------------------

def _attr_document(attr):
    doc = {
        "name": attr.name,
        "type": attr.type,
        "multiValued": attr.multi,
        "description": attr.description,
        "required": attr.required,
        "caseExact": attr.case_exact,
        "mutability": attr.mutability,
        "returned": attr.returned,
        "uniqueness": attr.uniqueness,
    }
    if attr.type == "reference":
        doc["referenceTypes"] = list(attr.reference_types or ("external",))
    if attr.sub:
        doc["subAttributes"] = [_attr_document(sub) for sub in attr.sub if sub.published]
    return doc


def schema_documents(base_url):
    def doc(schema_id, name, description, attributes):
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": schema_id,
            "name": name,
            "description": description,
            "attributes": [_attr_document(a) for a in attributes],
            "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{schema_id}"},
        }

    return [
        doc(USER_SCHEMA, "User", "User Account", USER_ATTRIBUTES),
        doc(ENTERPRISE_SCHEMA, "EnterpriseUser", "Enterprise User", ENTERPRISE_ATTRIBUTES),
        doc(GROUP_SCHEMA, "Group", "Group", GROUP_ATTRIBUTES),
    ]


def resource_type_documents(base_url):
    return [
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A member of this Orgkit workspace",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": False}],
            "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/User"},
        },
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A group of members; a group mapped to a role gives its members that role",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/Group"},
        },
    ]


def service_provider_config(base_url, max_results, docs_url):
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": docs_url,
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A SCIM token generated on the workspace's SCIM settings page, sent as "
                           "'Authorization: Bearer <token>'.",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "documentationUri": docs_url,
            "primary": True,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base_url}/ServiceProviderConfig"},
    }
