"""SCIM JSON representations of ScimUser and ScimGroup rows, and the attributes/excludedAttributes
projection (RFC 7644 section 3.4.2.5)."""
import json
import uuid
from functools import lru_cache

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Row

from extensions import db
from models import ScimGroup, ScimGroupMember, ScimUser, ScimUserValue
from services.scim import ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, invalid_value
from services.scim.schema import ENTERPRISE_ATTRIBUTES, GROUP, NAME_SUB, USER, USER_ATTRIBUTES, VALUE_TABLE_ATTRIBUTES


def iso(dt):
    text = dt.isoformat(timespec="milliseconds")   # stored in UTC: "+00:00", or nothing on SQLite
    return (text[:-6] if dt.tzinfo is not None else text) + "Z"


def etag(version):
    return f'W/"{version}"'


def _loaded(row):
    """A row's column values by name: a Core row (the read path) or an ORM object (a write), read
    without the ORM's per-attribute descriptor (an expired or unloaded column falls back to it, which
    loads it)."""
    if isinstance(row, Row):
        return row._mapping.__getitem__
    loaded = row.__dict__
    return lambda column: loaded[column] if column in loaded else getattr(row, column)


def read_columns(model, dialect_name):
    """The columns a resource is built from, for reads that skip the ORM (issue 17: a page of 100
    users from Core rows costs a fraction of 100 ORM objects). A user's row also carries its values
    and its groups (json_items), so a lookup or a page needs no statement per kind."""
    if model is ScimUser:
        return _user_read_columns(dialect_name)
    return tuple(model.__table__.c)


def _json_items(dialect_name, columns, where, order_by):
    """A correlated scalar subquery: the rows matching where, in order, as a JSON array of arrays
    (one array of columns per row); NULL or [] when there are none."""
    if dialect_name == "postgresql":
        return (select(func.json_agg(aggregate_order_by(func.json_build_array(*columns), *order_by)))
                .where(where).scalar_subquery())
    # SQLite: json_group_array keeps the order of the subquery it reads (its aggregates take no ORDER BY
    # before 3.44).
    ordered = select(*columns).where(where).order_by(*order_by).correlate(ScimUser.__table__).subquery()
    return select(func.json_group_array(func.json_array(*ordered.c))).scalar_subquery()


_NOT_IN_A_USER_RESOURCE = {"org_id", "membership_id", "user_id", "invitation_id", "user_name_lower"}


@lru_cache(maxsize=2)
def _user_read_columns(dialect_name):
    users = ScimUser.__table__
    values = ScimUserValue.__table__
    members, groups = ScimGroupMember.__table__, ScimGroup.__table__
    # Only what user_resource reads: psycopg builds a description of every column of every result.
    return (*(c for c in users.c if c.name not in _NOT_IN_A_USER_RESOURCE),
            _json_items(dialect_name, (values.c.attribute, values.c.value, values.c.display, values.c.type, values.c.is_primary),
                        values.c.scim_user_id == users.c.id, (values.c.position,)).label("json_values"),
            _json_items(dialect_name, (groups.c.id, groups.c.display_name),
                        and_(members.c.scim_user_id == users.c.id, groups.c.id == members.c.group_id),
                        (groups.c.display_name,)).label("json_groups"))


def _json_list(value):
    if value is None:
        return ()
    return json.loads(value) if isinstance(value, str) else value   # SQLite gives text, psycopg the list


def read_user_resource(row, base_url):
    """The User resource of a Core row of read_columns(ScimUser)."""
    values = [(attribute, value, display, type_, None if primary is None else bool(primary))
              for attribute, value, display, type_, primary in _json_list(row.json_values)]
    # Group ids as text: PostgreSQL's JSON gives the canonical form; SQLite stores 32 hex digits.
    groups = [(group_id if len(group_id) == 36 else str(uuid.UUID(group_id)), name)
              for group_id, name in _json_list(row.json_groups)]
    return user_resource(row, base_url, groups, values)


def _meta(kind, value_of, resource_id, base_url):
    return {
        "resourceType": kind,
        "created": iso(value_of("created_at")),
        "lastModified": iso(value_of("updated_at")),
        "location": f"{base_url}/{kind}s/{resource_id}",
        "version": etag(value_of("version")),
    }


def user_groups(scim_user_ids):
    """{scim_user_id: [(group_id, display_name), ...]} in one query for a page of users."""
    if not scim_user_ids:
        return {}
    rows = db.session.execute(
        select(ScimGroupMember.scim_user_id, ScimGroup.id, ScimGroup.display_name)
        .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
        .where(ScimGroupMember.scim_user_id.in_(scim_user_ids))
        .order_by(ScimGroup.display_name)
    ).all()
    result = {}
    for user_id, group_id, name in rows:
        result.setdefault(user_id, []).append((group_id, name))
    return result


# (SCIM name, column) pairs, worked out once: a page of 100 users reads each about 30 times.
_USER_COLUMNS = tuple((attr.name, attr.column) for attr in USER_ATTRIBUTES if attr.column)
_NAME_COLUMNS = tuple((sub.name, sub.column) for sub in NAME_SUB)
_ENTERPRISE_COLUMNS = tuple((attr.name, attr.column) for attr in ENTERPRISE_ATTRIBUTES if attr.column)


def user_resource(scim_user, base_url, groups=None, values=None):
    """The whole User resource (returned attributes only; password never) of an ORM object, or of a
    Core row with its values [(attribute, value, display, type, primary)] (read_user_resource)."""
    value_of = _loaded(scim_user)
    resource_id = str(value_of("id"))
    resource = {
        "schemas": [USER_SCHEMA],
        "id": resource_id,
    }
    external_id = value_of("external_id")
    if external_id is not None:
        resource["externalId"] = external_id
    for name, column in _USER_COLUMNS:
        value = value_of(column)
        if value is not None:
            resource[name] = value
    name = {}
    for sub, column in _NAME_COLUMNS:
        value = value_of(column)
        if value is not None:
            name[sub] = value
    if name:
        resource["name"] = name
    if values is None:
        values = [(i.attribute, i.value, i.display, i.type, i.is_primary) for i in scim_user.values]
    by_attribute = {}
    for attribute, value, display, type_, primary in values:
        entry = {"value": value}
        if display is not None:
            entry["display"] = display
        if type_ is not None:
            entry["type"] = type_
        if primary is not None:
            entry["primary"] = primary
        by_attribute.setdefault(attribute, []).append(entry)
    for attribute in VALUE_TABLE_ATTRIBUTES:
        if attribute in by_attribute:
            resource[attribute] = by_attribute[attribute]
    addresses = value_of("addresses")
    if addresses:
        resource["addresses"] = addresses
    if groups is None:
        groups = user_groups([value_of("id")]).get(value_of("id"), [])
    if groups:
        resource["groups"] = [
            {"value": str(group_id), "display": name, "$ref": f"{base_url}/Groups/{group_id}", "type": "direct"}
            for group_id, name in groups
        ]
    enterprise = {}
    for name, column in _ENTERPRISE_COLUMNS:
        value = value_of(column)
        if value is not None:
            enterprise[name] = value
    manager_value = value_of("manager_value")
    if manager_value:
        enterprise["manager"] = {"value": manager_value, "$ref": f"{base_url}/Users/{manager_value}"}
    if enterprise:
        resource["schemas"].append(ENTERPRISE_SCHEMA)
        resource[ENTERPRISE_SCHEMA] = enterprise
    resource["meta"] = _meta("User", value_of, resource_id, base_url)
    return resource


def group_members(group_ids):
    """{group_id: [(scim_user_id, display), ...]} in one query."""
    if not group_ids:
        return {}
    rows = db.session.execute(
        select(ScimGroupMember.group_id, ScimUser.id, ScimUser.display_name, ScimUser.user_name)
        .join(ScimUser, ScimUser.id == ScimGroupMember.scim_user_id)
        .where(ScimGroupMember.group_id.in_(group_ids))
        .order_by(ScimUser.user_name_lower)
    ).all()
    result = {}
    for group_id, user_id, display_name, user_name in rows:
        result.setdefault(group_id, []).append((user_id, display_name or user_name))
    return result


def group_resource(group, base_url, members=None, include_members=True):
    """The Group resource of an ORM object or of a Core row of read_columns(ScimGroup)."""
    value_of = _loaded(group)
    group_id = value_of("id")
    resource = {"schemas": [GROUP_SCHEMA], "id": str(group_id), "displayName": value_of("display_name")}
    if value_of("external_id") is not None:
        resource["externalId"] = value_of("external_id")
    if include_members:
        if members is None:
            members = group_members([group_id]).get(group_id, [])
        resource["members"] = [
            {"value": str(user_id), "$ref": f"{base_url}/Users/{user_id}"}
            for user_id, display in members
        ]
    resource["meta"] = _meta("Group", value_of, resource["id"], base_url)
    return resource


# --- attributes / excludedAttributes --------------------------------------------------------------

ALWAYS_RETURNED = {"id", "schemas"}  # RFC 7643 section 7: returned "always"


def _split(value):
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _normalise_path(kind, path):
    """A requested attribute as (top-level key, sub-attribute or None), canonical names."""
    lowered = path.lower()
    for urn in (kind.schema, *kind.extensions):
        if lowered == urn.lower():
            return urn, None
        if lowered.startswith(urn.lower() + ":"):
            rest = path[len(urn) + 1:]
            if urn == kind.schema:
                path = rest
                break
            top, _, sub = rest.partition(".")
            _, attributes = kind.extension(urn)
            attr = next((a for a in attributes if a.name.lower() == top.lower()), None)
            if attr is None:
                raise invalid_value(f"Unknown attribute {path!r} in attributes or excludedAttributes.")
            return urn, attr.name + (f".{sub}" if sub else "")
    top, _, sub = path.partition(".")
    if top.lower() in ("id", "externalid", "meta", "schemas"):
        return {"id": "id", "externalid": "externalId", "meta": "meta", "schemas": "schemas"}[top.lower()], sub or None
    attr = kind.attr(top)
    if attr is None:
        raise invalid_value(f"Unknown attribute {path!r} in attributes or excludedAttributes.")
    if sub:
        found = attr.sub_attr(sub)
        if found is None:
            raise invalid_value(f"Unknown attribute {path!r} in attributes or excludedAttributes.")
        sub = found.name
    return attr.name, sub or None


class Projection:
    """Which attributes a response carries (RFC 7644 section 3.4.2.5)."""

    def __init__(self, kind, attributes=None, excluded=None):
        self.kind = kind
        self.include = [_normalise_path(kind, p) for p in _split(attributes)]
        self.exclude = [_normalise_path(kind, p) for p in _split(excluded)]

    def wants(self, top):
        """Whether the top-level attribute may appear (lets callers skip loading members)."""
        if self.include:
            return any(key == top for key, _ in self.include)
        return not any(key == top and sub is None for key, sub in self.exclude)

    def apply(self, resource):
        if self.include:
            result = {k: v for k, v in resource.items() if k in ALWAYS_RETURNED}
            for key, sub in self.include:
                if key not in resource:
                    continue
                if sub is None:
                    result[key] = resource[key]
                else:
                    _copy_sub(resource, result, key, sub)
            return result
        if self.exclude:
            result = dict(resource)
            for key, sub in self.exclude:
                if key in ALWAYS_RETURNED or key not in result:
                    continue
                if sub is None:
                    result.pop(key)
                else:
                    result[key] = _drop_sub(result[key], sub)
            return result
        return resource


def _copy_sub(resource, result, key, sub):
    value = resource[key]
    if isinstance(value, list):
        picked = [{s: item[s] for s in [sub] if s in item} for item in value]
        result[key] = [item for item in picked if item]
    elif isinstance(value, dict):
        target = result.setdefault(key, {})
        if "." in sub:
            top, _, rest = sub.partition(".")
            if isinstance(value.get(top), dict) and rest in value[top]:
                target.setdefault(top, {})[rest] = value[top][rest]
        elif sub in value:
            target[sub] = value[sub]


def _drop_sub(value, sub):
    if isinstance(value, list):
        return [{k: v for k, v in item.items() if k != sub} for item in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != sub}
    return value


def kind_for(name):
    return USER if name == "User" else GROUP
