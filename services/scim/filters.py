"""SCIM filters (RFC 7644 section 3.4.2.2) translated to SQL WHERE clauses.

Parsing is scim2-models' (its RFC 7644 grammar with the errata applied: `and` binds tighter than `or`,
value paths, Entra's `emails[type eq "work"].value eq "x"`); this module only walks the syntax tree
and builds SQLAlchemy expressions, so a filter never loads an org's users into Python. Multi-valued
attributes become EXISTS subqueries on their rows.
"""
from datetime import datetime

from scim2_models import ScimFilter
from scim2_models.exceptions import SCIMException
from scim2_models.path import Comparison, CompareOperator, LogicalExpr, LogicalOperator, Not, Present, ValuePath
from sqlalchemy import and_, false, func, not_, or_, select, true

from models import ScimGroup, ScimGroupMember, ScimUser, ScimUserValue, parse_uuid
from services.scim import ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, invalid_filter
from services.scim.schema import ENTERPRISE_ATTRIBUTES, NAME_SUB, USER_ATTRIBUTES, VALUE_TABLE_ATTRIBUTES

MAX_FILTER_LENGTH = 2000


def parse_filter(text):
    """The filter's syntax tree, or 400 invalidFilter."""
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    try:
        return ScimFilter(text).ast
    except SCIMException as exc:
        raise invalid_filter(f"The filter {text!r} is not valid: {exc}") from None


# --- Scalar comparisons ----------------------------------------------------------------------------

class Scalar:
    """A single-valued attribute stored in one column."""

    def __init__(self, column, kind="string", case_exact=False, stored_lower=False):
        self.column = column
        self.kind = kind              # string, boolean, datetime, uuid
        self.case_exact = case_exact
        self.stored_lower = stored_lower  # the column already holds the lower-cased value

    def present(self):
        if self.kind == "string":
            return and_(self.column.is_not(None), self.column != "")
        return self.column.is_not(None)

    def compare(self, op, value, name):
        if value is None:
            if op == CompareOperator.eq:
                return self.column.is_(None)
            if op == CompareOperator.ne:
                return self.column.is_not(None)
            raise invalid_filter(f"'{op.value} null' is not a comparison for {name}.")
        if self.kind == "boolean":
            return self._compare_boolean(op, value, name)
        if self.kind == "datetime":
            return _ordered(self.column, op, _parse_datetime(value, name), name, allow_text_ops=False)
        if self.kind == "uuid":
            return self._compare_uuid(op, value, name)
        if not isinstance(value, str):
            value = str(value)
        column = self.column
        if not self.case_exact:
            # caseExact false (RFC 7643 section 2.2): compare case-insensitively.
            value = value.lower()
            if not self.stored_lower:
                column = func.lower(column)
        return _ordered(column, op, value, name, allow_text_ops=True, nullable_column=self.column)

    def _compare_boolean(self, op, value, name):
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise invalid_filter(f"{name} is a boolean: compare it with true or false.")
        if op == CompareOperator.eq:
            return self.column.is_(True) if value else self.column.is_(False)
        if op == CompareOperator.ne:
            return self.column.is_(False) if value else self.column.is_(True)
        # RFC 7644 section 3.4.2.2: gt/ge/lt/le on a boolean is invalidFilter; so are co/sw/ew.
        raise invalid_filter(f"'{op.value}' cannot be used on the boolean attribute {name}.")

    def _compare_uuid(self, op, value, name):
        parsed = parse_uuid(value) if isinstance(value, str) else None
        if op == CompareOperator.eq:
            return self.column == parsed if parsed else false()
        if op == CompareOperator.ne:
            return self.column != parsed if parsed else true()
        raise invalid_filter(f"{name} can be compared with eq and ne only.")


def _ordered(column, op, value, name, allow_text_ops, nullable_column=None):
    if op == CompareOperator.eq:
        return column == value
    if op == CompareOperator.ne:
        # An absent attribute is not equal to anything.
        return or_(column != value, (nullable_column if nullable_column is not None else column).is_(None))
    if op == CompareOperator.gt:
        return column > value
    if op == CompareOperator.ge:
        return column >= value
    if op == CompareOperator.lt:
        return column < value
    if op == CompareOperator.le:
        return column <= value
    if not allow_text_ops:
        raise invalid_filter(f"'{op.value}' cannot be used on {name}.")
    if op == CompareOperator.co:
        return column.contains(value, autoescape=True)
    if op == CompareOperator.sw:
        return column.startswith(value, autoescape=True)
    if op == CompareOperator.ew:
        return column.endswith(value, autoescape=True)
    raise invalid_filter(f"Unknown operator {op!r}.")


def _parse_datetime(value, name):
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:
                from datetime import timezone
                parsed = parsed.replace(tzinfo=timezone.utc)
            return parsed
    raise invalid_filter(f"{name} is a dateTime: compare it with a string like \"2024-05-13T04:42:34Z\".")


# --- Multi-valued attributes -----------------------------------------------------------------------

class Multi:
    """A multi-valued attribute whose items are rows of another table: filters become EXISTS."""

    def __init__(self, name, base_query, sub_attributes, default_sub="value"):
        self.name = name
        self.base_query = base_query      # () -> (SELECT correlated to the parent row)
        self.sub_attributes = sub_attributes  # lowercase name -> Scalar
        self.default_sub = default_sub

    def sub(self, name):
        scalar = self.sub_attributes.get((name or self.default_sub).lower())
        if scalar is None:
            raise invalid_filter(f"'{name}' is not a sub-attribute of {self.name} that can be filtered.")
        return scalar

    def exists_where(self, condition):
        return self.base_query().where(condition).exists()


# --- Resource attribute tables -------------------------------------------------------------------

def _user_values(attribute):
    def query():
        return select(ScimUserValue.id).where(
            ScimUserValue.scim_user_id == ScimUser.id, ScimUserValue.attribute == attribute
        )
    return Multi(attribute, query, {
        "value": Scalar(ScimUserValue.value_lower, stored_lower=True),
        "display": Scalar(ScimUserValue.display),
        "type": Scalar(ScimUserValue.type),
        "primary": Scalar(ScimUserValue.is_primary, "boolean"),
    })


def _user_groups():
    def query():
        return (
            select(ScimGroupMember.id)
            .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
            .where(ScimGroupMember.scim_user_id == ScimUser.id)
        )
    return Multi("groups", query, {
        "value": Scalar(ScimGroupMember.group_id, "uuid"),
        "display": Scalar(ScimGroup.display_name),
    })


def _group_members():
    def query():
        return (
            select(ScimGroupMember.id)
            .join(ScimUser, ScimUser.id == ScimGroupMember.scim_user_id)
            .where(ScimGroupMember.group_id == ScimGroup.id)
        )
    return Multi("members", query, {
        "value": Scalar(ScimGroupMember.scim_user_id, "uuid"),
        "display": Scalar(ScimUser.display_name),
    })


def _user_attributes():
    table = {
        "id": Scalar(ScimUser.id, "uuid"),
        "externalid": Scalar(ScimUser.external_id, case_exact=True),  # RFC 7643 section 3.1: caseExact
        "username": Scalar(ScimUser.user_name_lower, stored_lower=True),
        "meta.created": Scalar(ScimUser.created_at, "datetime"),
        "meta.lastmodified": Scalar(ScimUser.updated_at, "datetime"),
    }
    for attr in USER_ATTRIBUTES:
        if attr.column and attr.name != "userName":
            table[attr.name.lower()] = Scalar(getattr(ScimUser, attr.column), "boolean" if attr.type == "boolean" else "string")
    for sub in NAME_SUB:
        table[f"name.{sub.name.lower()}"] = Scalar(getattr(ScimUser, sub.column))
    for attr in ENTERPRISE_ATTRIBUTES:
        if attr.column:
            table[attr.name.lower()] = Scalar(getattr(ScimUser, attr.column))
    table["manager"] = table["manager.value"] = Scalar(ScimUser.manager_value, case_exact=True)
    for name in VALUE_TABLE_ATTRIBUTES:
        table[name.lower()] = _user_values(name)
    table["groups"] = _user_groups()
    return table


def _group_attributes():
    return {
        "id": Scalar(ScimGroup.id, "uuid"),
        "externalid": Scalar(ScimGroup.external_id, case_exact=True),
        "displayname": Scalar(ScimGroup.display_name_lower, stored_lower=True),
        "meta.created": Scalar(ScimGroup.created_at, "datetime"),
        "meta.lastmodified": Scalar(ScimGroup.updated_at, "datetime"),
        "members": _group_members(),
    }


_TABLES = {}


def _table(kind_name):
    if kind_name not in _TABLES:
        _TABLES[kind_name] = _user_attributes() if kind_name == "User" else _group_attributes()
    return _TABLES[kind_name]


_SCHEMAS = {"User": (USER_SCHEMA.lower(), ENTERPRISE_SCHEMA.lower()), "Group": (GROUP_SCHEMA.lower(),)}


# --- The walk --------------------------------------------------------------------------------------

class FilterTranslator:
    def __init__(self, kind_name):
        self.kind_name = kind_name
        self.table = _table(kind_name)

    def where(self, node):
        if isinstance(node, LogicalExpr):
            clauses = [self.where(term) for term in node.terms]
            return and_(*clauses) if node.op == LogicalOperator.and_ else or_(*clauses)
        if isinstance(node, Not):
            return _negate(self.where(node.expr))
        if isinstance(node, ValuePath):
            multi = self._multi(node.attr_path)
            return multi.exists_where(self._inner(multi, node.val_filter))
        if isinstance(node, (Comparison, Present)):
            return self._attr_expression(node)
        raise invalid_filter("Unsupported filter expression.")

    def _key(self, attr_path):
        if attr_path.uri and attr_path.uri.lower() not in _SCHEMAS[self.kind_name]:
            raise invalid_filter(f"Unknown schema {attr_path.uri} in the filter.")
        key = attr_path.attr.lower()
        return key, (attr_path.sub_attr.lower() if attr_path.sub_attr else None)

    def _multi(self, attr_path):
        key, sub = self._key(attr_path)
        entry = self.table.get(key)
        if not isinstance(entry, Multi):
            raise invalid_filter(f"'{attr_path}' is not a multi-valued attribute that can be filtered.")
        return entry

    def _attr_expression(self, node):
        key, sub = self._key(node.attr_path)
        entry = self.table.get(key)
        if isinstance(entry, Multi):
            # emails co "@x" reads as emails.value co "@x" (RFC 7644 section 3.4.2.2).
            scalar = entry.sub(sub)
            return entry.exists_where(self._leaf(scalar, node, f"{entry.name}.{sub or entry.default_sub}"))
        full_key = f"{key}.{sub}" if sub else key
        scalar = self.table.get(full_key)
        if scalar is None or isinstance(scalar, Multi):
            raise invalid_filter(f"'{node.attr_path}' is not an attribute that can be filtered.")
        return self._leaf(scalar, node, str(node.attr_path))

    def _inner(self, multi, node):
        """A value filter's expression, whose attribute names are sub-attributes of multi."""
        if isinstance(node, LogicalExpr):
            clauses = [self._inner(multi, term) for term in node.terms]
            return and_(*clauses) if node.op == LogicalOperator.and_ else or_(*clauses)
        if isinstance(node, Not):
            return _negate(self._inner(multi, node.expr))
        if isinstance(node, (Comparison, Present)):
            name = node.attr_path.attr
            if node.attr_path.sub_attr:
                raise invalid_filter(f"'{node.attr_path}' inside {multi.name}[...] must be a sub-attribute name.")
            return self._leaf(multi.sub(name), node, f"{multi.name}.{name}")
        raise invalid_filter("Value filters cannot be nested.")

    @staticmethod
    def _leaf(scalar, node, name):
        if isinstance(node, Present):
            return scalar.present()
        return scalar.compare(node.op, node.value, name)


def _negate(clause):
    """not (...) over a comparison on an absent attribute: SQL says NOT NULL is NULL (row dropped), while
    the filter is false there, so its negation is true. Comparisons with NULL count as false first."""
    return not_(func.coalesce(clause, false()))


def where_clause(kind_name, filter_text):
    """The SQL condition for a filter on Users or Groups (already limited to one org by the caller)."""
    return FilterTranslator(kind_name).where(parse_filter(filter_text))

