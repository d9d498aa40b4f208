"""PATCH (RFC 7644 section 3.5.2) applied to a resource's canonical JSON, with the quirks real IdPs
send: Entra's "Replace"/"Add" op names and "True"/"False" strings, path-less values whose keys are
dotted ("name.givenName") or URN-prefixed ("urn:...:enterprise:2.0:User:department"), value-filter
paths (emails[type eq "work"].value) that create the typed item when nothing matches, and Okta's
path-less replace that repeats the resource id.

Group members are not patched here: operations on "members" are handed back as MemberOperation so
the caller applies them in SQL (adding or removing only the members named, never the others).
"""
import copy
from dataclasses import dataclass

from scim2_models import Path
from scim2_models.exceptions import SCIMException
from scim2_models.path import AttrPath, Comparison, CompareOperator, LogicalExpr, LogicalOperator, Not, Present, ValuePath

from services.scim import PATCH_SCHEMA, invalid_path, invalid_syntax, invalid_value, mutability, no_target
from services.scim.schema import coerce_boolean, find_attr

MAX_OPERATIONS = 1000


@dataclass
class MemberOperation:
    op: str                 # add, replace, remove
    values: list | None     # [{"value": "<scim user id>"}, ...] or None
    value_filter: object = None  # a parsed filter on members' sub-attributes (remove members[...])


def read_operations(body):
    """The Operations of a PatchOp request body, checked (RFC 7644 section 3.5.2)."""
    if not isinstance(body, dict):
        raise invalid_syntax("The request body must be a JSON object.")
    schemas = body.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or PATCH_SCHEMA.lower() not in [str(s).lower() for s in schemas]):
        raise invalid_value(f"A PATCH body's schemas must be [\"{PATCH_SCHEMA}\"].")
    operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(operations, list) or not operations:
        raise invalid_syntax("A PATCH body needs a non-empty 'Operations' list.")
    if len(operations) > MAX_OPERATIONS:
        raise invalid_syntax(f"At most {MAX_OPERATIONS} operations per request.")
    result = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise invalid_syntax("Each operation must be a JSON object.")
        fields = {k.lower(): v for k, v in operation.items()}
        op = fields.get("op")
        if not isinstance(op, str) or op.lower() not in ("add", "replace", "remove"):
            raise invalid_syntax(f"'op' must be add, replace or remove, not {op!r}.")
        path = fields.get("path")
        if path is not None and not isinstance(path, str):
            raise invalid_path("'path' must be a string.")
        result.append((op.lower(), path.strip() if path and path.strip() else None, fields.get("value")))
    return result


class Patcher:
    """Applies operations to a canonical resource dict (a deep copy; the caller validates the result)."""

    def __init__(self, kind, resource, resource_id, member_attribute=None):
        self.kind = kind
        self.resource = copy.deepcopy(resource)
        self.resource_id = resource_id
        self.member_attribute = member_attribute
        self.member_operations = []

    def apply(self, operations):
        for op, path, value in operations:
            if path is None:
                self._apply_without_path(op, value)
            else:
                self._apply_path(op, path, value)
        return self.resource

    # -- no path: value is an object of attribute -> value (RFC 7644 section 3.5.2.1 and 3.5.2.3)
    def _apply_without_path(self, op, value):
        if op == "remove":
            raise no_target("A remove operation needs a path.")
        if not isinstance(value, dict):
            raise invalid_syntax(f"An {op} operation without a path needs an object value.")
        for key, item in value.items():
            lowered = key.lower()
            if lowered == "schemas":
                continue
            if lowered == "id":
                # Okta repeats the id in a path-less replace on Groups; only a change is refused.
                if str(item) != self.resource_id:
                    raise mutability("'id' is assigned by Orgkit and cannot be changed.")
                continue
            if lowered == "meta":
                continue
            urn, attributes = self.kind.extension(key)
            if urn is not None and isinstance(item, dict):
                for ext_key, ext_value in item.items():
                    if ext_key.lower() != "schemas":
                        self._apply_path(op, f"{urn}:{ext_key}", ext_value)
                continue
            self._apply_path(op, key, item, merge_complex=True)

    # -- with a path
    def _apply_path(self, op, path, value, merge_complex=True):
        container, attributes, rest, where = self._container(path)
        if rest == "":
            # The path names a whole extension: its value is an object of its attributes.
            if op == "remove":
                container.clear()
                return
            if not isinstance(value, dict):
                raise invalid_value(f"'{path}' needs an object value.")
            for key, item in value.items():
                if key.lower() != "schemas":
                    self._apply_path(op, f"{where}:{key}", item)
            return
        if rest.lower() == "externalid" and container is self.resource:
            self._set_simple(self.resource, "externalId", op, value)
            return
        if container is self.resource and rest.lower() == "id":
            # id is assigned by the service provider (RFC 7643 section 3.1): a change is a mutability
            # error; repeating the current id, as Okta does, changes nothing.
            if op == "remove" or str(value) != self.resource_id:
                raise mutability("'id' is assigned by Orgkit and cannot be changed.")
            return
        if container is self.resource and (rest.lower() == "meta" or rest.lower().startswith("meta.")):
            return  # meta is readOnly (RFC 7643 section 3.1): ignored like any readOnly attribute
        try:
            node = Path(rest).ast
        except SCIMException as exc:
            raise invalid_path(f"The path {path!r} is not valid: {exc}") from None
        if isinstance(node, (Comparison, Present)):
            raise invalid_path(f"The path {path!r} is not an attribute path.")
        attr_path = node.attr_path if isinstance(node, ValuePath) else node
        attr = find_attr(attributes, attr_path.attr)
        if attr is None:
            raise invalid_path(f"'{attr_path.attr}' is not an attribute of a {self.kind.name}.")
        if attr.mutability == "readOnly":
            # A client's values for readOnly attributes are ignored (RFC 7644 sections 3.5.1 and 3.5.2,
            # RFC 7643 section 2.2), so an IdP that echoes groups or manager.displayName is not refused.
            return
        if op == "remove" and attr.required and not isinstance(node, ValuePath) and not attr_path.sub_attr:
            # RFC 7644 section 3.5.2.2: removing a required attribute is refused.
            raise mutability(f"'{attr.name}' is required and cannot be removed.")
        if attr.name == self.member_attribute and container is self.resource:
            self._member_operation(op, node, value, path)
            return
        if isinstance(node, ValuePath):
            if not attr.multi:
                raise invalid_path(f"'{attr.name}' is not multi-valued, so it takes no filter.")
            sub = node.sub_attr
            if sub is not None:
                found = attr.sub_attr(sub)
                if found is None:
                    raise invalid_path(f"'{sub}' is not a sub-attribute of {attr.name}.")
                sub = found.name
            self._apply_filtered(container, attr, node.val_filter, sub, op, value, path)
            return
        sub = attr_path.sub_attr
        if sub is not None:
            found = attr.sub_attr(sub)
            if found is None:
                raise invalid_path(f"'{sub}' is not a sub-attribute of {attr.name}.")
            if found.mutability == "readOnly":
                return  # ignored, as above
            self._apply_sub(container, attr, found.name, op, value)
            return
        if attr.multi:
            self._apply_multi(container, attr, op, value)
        elif attr.type == "complex":
            if op == "remove":
                container.pop(attr.name, None)
            elif value is None:
                container.pop(attr.name, None)
            else:
                if isinstance(value, str) and attr.sub_attr("value") is not None:
                    # Entra sends the enterprise manager as its id alone: read it as {"value": id}.
                    value = {"value": value}
                if not isinstance(value, dict):
                    raise invalid_value(f"'{attr.name}' needs an object value.")
                # Sub-attributes not named are left unchanged (RFC 7644 section 3.5.2.1 and 3.5.2.3).
                existing = container.get(attr.name) or {}
                existing = {k: v for k, v in existing.items()}
                for key, item in value.items():
                    found = attr.sub_attr(key)
                    existing[found.name if found else key] = item
                container[attr.name] = existing
        else:
            self._set_simple(container, attr.name, op, value)

    def _container(self, path):
        """(dict to change, its attribute table, the path inside it, the URN) for a possibly URN-prefixed path."""
        lowered = path.lower()
        for urn, attributes in self.kind.extensions.items():
            if lowered == urn.lower():
                return self.resource.setdefault(urn, {}), attributes, "", urn
            if lowered.startswith(urn.lower() + ":"):
                return self.resource.setdefault(urn, {}), attributes, path[len(urn) + 1:], urn
        if lowered.startswith(self.kind.schema.lower() + ":"):
            path = path[len(self.kind.schema) + 1:]
        return self.resource, self.kind.attributes, path, self.kind.schema

    @staticmethod
    def _set_simple(container, name, op, value):
        if op == "remove" or value is None:
            container.pop(name, None)
        else:
            container[name] = value

    def _apply_sub(self, container, attr, sub, op, value):
        if attr.multi:
            items = container.setdefault(attr.name, [])
            if op == "remove":
                for item in items:
                    item.pop(sub, None)
                return
            if not items:
                items.append({})
            for item in items:
                item[sub] = value
            return
        target = container.get(attr.name) or {}
        if op == "remove":
            target.pop(sub, None)
        else:
            target[sub] = value
        container[attr.name] = target

    def _apply_multi(self, container, attr, op, value):
        if op == "remove":
            container.pop(attr.name, None)
            return
        if value is None:
            items = []
        elif isinstance(value, list):
            items = value
        elif isinstance(value, dict):
            items = [value]
        else:
            raise invalid_value(f"'{attr.name}' needs a list of objects.")
        items = copy.deepcopy(items)
        if op == "replace":
            container[attr.name] = items
        else:
            # add appends values not already there (RFC 7644 section 3.5.2.1).
            existing = container.setdefault(attr.name, [])
            items = [item for item in items if item not in existing]
            existing.extend(items)
        _one_primary(container.get(attr.name, []), newest=items)

    def _apply_filtered(self, container, attr, value_filter, sub, op, value, path):
        items = container.setdefault(attr.name, [])
        matched = [item for item in items if isinstance(item, dict) and matches(value_filter, item)]
        if op == "remove":
            if sub is None:
                container[attr.name] = [item for item in items if not any(item is m for m in matched)]
            else:
                for item in matched:
                    item.pop(sub, None)
            return
        if not matched:
            # Entra sends Replace emails[type eq "work"].value for a user with no work email yet:
            # make the item the filter describes (RFC 7644 section 3.5.2.3 would say noTarget).
            seed = _equalities(value_filter)
            if seed is None:
                raise no_target(f"No value matches {path!r}, and the filter does not describe a new one.")
            new_item = dict(seed)
            if sub is None:
                if not isinstance(value, dict):
                    raise invalid_value(f"'{path}' needs an object value.")
                new_item.update(value)
            else:
                new_item[sub] = value
            items.append(new_item)
            _one_primary(items, newest=[new_item])
            return
        for item in matched:
            if sub is None:
                if not isinstance(value, dict):
                    raise invalid_value(f"'{path}' needs an object value.")
                item.update(value)
            else:
                item[sub] = value
        _one_primary(items, newest=matched)

    def _member_operation(self, op, node, value, path):
        if isinstance(node, ValuePath):
            if op != "remove" or node.sub_attr:
                raise invalid_path(f"'{path}': members can be added or replaced as a list, and removed by a filter.")
            self.member_operations.append(MemberOperation("remove", None, node.val_filter))
            return
        if node.sub_attr:
            raise invalid_path(f"'{path}' is not a path members can be changed through.")
        if value is None:
            values = None
        elif isinstance(value, dict):
            values = [value]
        elif isinstance(value, list):
            values = value
        else:
            raise invalid_value("'members' needs a list of {\"value\": \"<user id>\"} objects.")
        if values is not None:
            for item in values:
                if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                    raise invalid_value("Each member needs a string 'value': the id of a User.")
        if op != "remove" and values is None:
            values = []
        self.member_operations.append(MemberOperation(op, values))


def _one_primary(items, newest):
    """At most one item is primary (RFC 7643 section 2.4): the newest one set wins."""
    newest_primary = [item for item in newest if isinstance(item, dict) and _truthy(item.get("primary"))]
    if not newest_primary:
        return
    keep = newest_primary[-1]
    for item in items:
        if isinstance(item, dict) and item is not keep and _truthy(item.get("primary")):
            item["primary"] = False


def _truthy(value):
    try:
        return coerce_boolean(value, "primary") if value is not None else False
    except Exception:
        return False


def _equalities(node):
    """{sub: value} when the filter is only eq comparisons joined by and; else None."""
    if isinstance(node, Comparison) and node.op == CompareOperator.eq and not node.attr_path.sub_attr:
        return {node.attr_path.attr: node.value}
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_:
        result = {}
        for term in node.terms:
            part = _equalities(term)
            if part is None:
                return None
            result.update(part)
        return result
    return None


def _item_value(item, name):
    lowered = name.lower()
    for key, value in item.items():
        if key.lower() == lowered:
            return value
    return None


def matches(node, item):
    """Whether one item of a multi-valued attribute matches a value filter (RFC 7644 section 3.4.2.2).
    Runs on the items of one resource already loaded for the PATCH, never on a list of resources."""
    if isinstance(node, LogicalExpr):
        results = (matches(term, item) for term in node.terms)
        return all(results) if node.op == LogicalOperator.and_ else any(results)
    if isinstance(node, Not):
        return not matches(node.expr, item)
    if isinstance(node, Present):
        value = _item_value(item, node.attr_path.attr)
        return value not in (None, "", [])
    if isinstance(node, Comparison):
        actual = _item_value(item, node.attr_path.attr)
        expected = node.value
        op = node.op
        if isinstance(expected, bool) or isinstance(actual, bool):
            try:
                actual = coerce_boolean(actual, "x") if actual is not None else False
                expected = coerce_boolean(expected, "x")
            except Exception:
                return False
            return (actual == expected) if op == CompareOperator.eq else (actual != expected) if op == CompareOperator.ne else False
        if actual is None:
            return op == CompareOperator.ne and expected is not None
        if expected is None:
            return op == CompareOperator.ne
        actual, expected = str(actual).lower(), str(expected).lower()
        return {
            CompareOperator.eq: actual == expected,
            CompareOperator.ne: actual != expected,
            CompareOperator.co: expected in actual,
            CompareOperator.sw: actual.startswith(expected),
            CompareOperator.ew: actual.endswith(expected),
            CompareOperator.gt: actual > expected,
            CompareOperator.ge: actual >= expected,
            CompareOperator.lt: actual < expected,
            CompareOperator.le: actual <= expected,
        }[op]
    if isinstance(node, ValuePath):
        raise invalid_path("Value filters cannot be nested.")
    raise invalid_path("Unsupported filter in a path.")


__all__ = ["MemberOperation", "Patcher", "read_operations", "matches", "AttrPath"]
