"""Properties of SCIM filtering and PATCH (RFC 7644 sections 3.4.2.2 and 3.5.2), through /scim/v2.

Filters: any text gives 200 or a 400 invalidFilter error, never a 500; a filter built from the grammar
gives 200 and exactly the users the same predicate selects when evaluated in Python over their JSON
(which checks the translation to SQL, on PostgreSQL and SQLite). PATCH: any operations give 200 or a
SCIM error, and a refused PATCH leaves the user exactly as it was.
"""
import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.scim.conftest import ENTERPRISE, ERROR_SCHEMA, USER_SCHEMA, scim_for

PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

# Data chosen so that comparisons hit: shared prefixes and suffixes, case differences, LIKE wildcards
# (% and _) in values, absent attributes, several emails per user, and accented letters (caseExact false
# must fold É to é on both databases).
USERS = [
    dict(userName="alice@example.com", displayName="Alice Adams", title="Engineer", externalId="ext-A1",
         active=True, name={"givenName": "Alice", "familyName": "Adams"},
         emails=[{"value": "alice@example.com", "type": "work", "primary": True},
                 {"value": "a.adams@home.example.net", "type": "home"}],
         **{ENTERPRISE: {"department": "R&D"}}),
    dict(userName="BOB@Example.org", displayName="bob", externalId="ext-b2", active=False,
         name={"givenName": "Bob", "familyName": "Builder"},
         emails=[{"value": "bob@example.org", "type": "work"}]),
    dict(userName="carol", displayName="Carol_Smith", title="engineer manager", active=True,
         name={"givenName": "Carol"}, emails=[{"value": "carol@x.example.net", "type": "Work", "primary": True}],
         **{ENTERPRISE: {"department": "r&d"}}),
    dict(userName="emile", displayName="Émile Zürcher", title="Ingénieur", active=True,
         name={"givenName": "Émile", "familyName": "Zürcher"}, emails=[{"value": "emile@example.com", "type": "WORK"}]),
    dict(userName="dave_100%", displayName="D%ve", title="50% off", externalId="EXT-A1", active=True,
         name={"familyName": "Adams"}, emails=[{"value": "d_a%ve@x.example.net"}]),
]

VALUE_POOL = ["alice", "Alice", "ALICE@EXAMPLE.COM", "alice@example.com", "bob", "example", "Example.org", ".net", "x.example",
              "@", "%", "_", "a", "A", "adams", "Adams", "Engineer", "engineer", "ext-A1", "EXT-A1", "ext-a1", "ext",
              "work", "Work", "home", "émile", "ÉMILE", "ingénieur", "ZÜRCHER", "ü", "É", "é", "émile zürcher", "r&d", "R&D", "50%", "d_a", "carol", "Carol_Smith", "", "z", "b", "\"", "\\"]

STRING_ATTRS = {  # filter attribute -> (where it is in the JSON, case exact)
    "userName": (("userName",), False),
    "displayName": (("displayName",), False),
    "title": (("title",), False),
    "externalId": (("externalId",), True),
    "name.givenName": (("name", "givenName"), False),
    "name.familyName": (("name", "familyName"), False),
    f"{ENTERPRISE}:department": ((ENTERPRISE, "department"), False),
}
EMAIL_SUBS = {"value": ("string", False), "type": ("string", False), "primary": ("boolean", None)}
STRING_OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]


# --- The predicate, as a tree both rendered to filter text and evaluated in Python ------------------

def odd_case(draw, name):
    """Attribute names are case-insensitive (RFC 7643 section 2.1): vary their case."""
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(name, flips))


@st.composite
def comparisons(draw, inside_emails=False):
    if inside_emails:
        sub = draw(st.sampled_from(sorted(EMAIL_SUBS)))
        kind = EMAIL_SUBS[sub][0]
        attr, path = sub, ("email", sub)
    else:
        attr = draw(st.sampled_from([*STRING_ATTRS, "active", "emails", "emails.value", "emails.type", "emails.primary"]))
        if attr == "active":
            kind, path = "boolean", ("active",)
        elif attr.startswith("emails"):
            sub = attr.partition(".")[2] or "value"
            kind, path = EMAIL_SUBS[sub][0], ("emails", sub)
        else:
            kind, path = "string", ("scalar", attr)
    if draw(st.integers(0, 9)) == 0:
        return ("pr", kind, path), f"{odd_case(draw, attr)} pr"
    if kind == "boolean":
        op = draw(st.sampled_from(["eq", "ne"]))
        value = draw(st.booleans())
        literal = json.dumps(value)
    else:
        op = draw(st.sampled_from(STRING_OPS))
        value = draw(st.one_of(st.sampled_from(VALUE_POOL), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=6)))
        if op in ("eq", "ne") and draw(st.integers(0, 9)) == 0:
            value = None
        literal = json.dumps(value)
    return ("cmp", kind, path, op, value), f"{odd_case(draw, attr)} {odd_case(draw, op)} {literal}"


def filters(inside_emails=False):
    leaves = comparisons(inside_emails)
    if not inside_emails:
        leaves = st.one_of(leaves, value_paths())

    def extend(children):
        return st.one_of(
            st.tuples(st.sampled_from(["and", "or"]), children, children).map(
                lambda t: (("logic", t[0], t[1][0], t[2][0]), f"({t[1][1]}) {t[0]} ({t[2][1]})")),
            children.map(lambda c: (("not", c[0]), f"not ({c[1]})")),
        )
    return st.recursive(leaves, extend, max_leaves=4)


@st.composite
def value_paths(draw):
    inner, text = draw(filters(inside_emails=True))
    return ("emails[]", inner), f"{odd_case(draw, 'emails')}[{text}]"


def lookup(resource, keys):
    for key in keys:
        if not isinstance(resource, dict):
            return None
        resource = resource.get(key)
    return resource


def compare(kind, op, actual, value, case_exact):
    if op == "pr":
        return actual is not None and actual != "" if kind == "string" else actual is not None
    if value is None:
        return actual is None if op == "eq" else actual is not None
    if kind == "boolean":
        if actual is None:
            return False
        return actual == value if op == "eq" else actual != value
    if actual is None:
        return op == "ne"   # an absent attribute equals nothing, so it is "not equal" to anything
    if not case_exact:
        actual, value = actual.lower(), value.lower()
    return {
        "eq": actual == value, "ne": actual != value, "co": value in actual, "sw": actual.startswith(value),
        "ew": actual.endswith(value), "gt": actual > value, "ge": actual >= value, "lt": actual < value,
        "le": actual <= value,
    }[op]


def evaluate(node, resource, email=None):
    tag = node[0]
    if tag == "logic":
        left, right = evaluate(node[2], resource, email), evaluate(node[3], resource, email)
        return (left and right) if node[1] == "and" else (left or right)
    if tag == "not":
        return not evaluate(node[1], resource, email)
    if tag == "emails[]":
        return any(evaluate(node[1], resource, item) for item in resource.get("emails", []))
    kind, path = node[1], node[2]
    op, value = ("pr", None) if tag == "pr" else (node[3], node[4])
    if path[0] == "email":
        return compare(kind, op, email.get(path[1]), value, False)
    if path[0] == "emails":
        return any(compare(kind, op, item.get(path[1]), value, False) for item in resource.get("emails", []))
    if path[0] == "active":
        return compare(kind, op, resource.get("active"), value, None)
    keys, case_exact = STRING_ATTRS[path[1]]
    return compare(kind, op, lookup(resource, keys), value, case_exact)


# --- Fixtures ----------------------------------------------------------------------------------------

@pytest.fixture
def directory(app, client, make, monkeypatch):
    """An org with SCIM on and the USERS provisioned; returns (scim client, their resources by id)."""
    monkeypatch.setitem(app.config, "SCIM_RATE_LIMIT", "100000 per minute")  # hundreds of requests here
    owner = make.user(email="owner@acme.example.com")
    scim = scim_for(client, make.org(owner=owner, name="Acme", slug="acme"))
    for user in USERS:
        attributes = {k: v for k, v in user.items() if k != "userName"}
        attributes["schemas"] = [USER_SCHEMA, ENTERPRISE]
        scim.create_user(user["userName"], **attributes)
    listed = scim.get("/Users" + "?" + urlencode({"count": 200})).get_json()["Resources"]
    return scim, {r["id"]: r for r in listed}


def is_scim_error(response, status=400, scim_type=None):
    body = response.get_json(silent=True) or {}
    return (response.status_code == status and ERROR_SCHEMA in body.get("schemas", [])
            and (scim_type is None or body.get("scimType") == scim_type))


# --- Filters -----------------------------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(predicate=filters())
@example(predicate=(("cmp", "string", ("scalar", "name.givenName"), "sw", "é"), 'name.givenName sw "é"'))
def test_a_grammatical_filter_selects_exactly_the_users_its_predicate_holds_for(directory, predicate):
    scim, resources = directory
    tree, text = predicate
    response = scim.get("/Users" + "?" + urlencode({"filter": text, "count": 200}))
    assert response.status_code == 200, (text, response.get_json())
    found = {r["id"] for r in response.get_json()["Resources"]}
    expected = {rid for rid, resource in resources.items() if evaluate(tree, resource)}
    assert found == expected, (text, sorted(resources[i]["userName"] for i in found ^ expected))


filter_words = st.sampled_from([
    "userName", "emails", "emails.value", "name.givenName", "active", "groups", "meta.created", "id", "members",
    ENTERPRISE + ":department", "urn:x:y", "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "and", "or",
    "not", "(", ")", "[", "]", ".", " ", '"x"', '"', "true", "false", "null", "1", "-1.5e3", '"2024-01-01T00:00:00Z"',
    '"not a date"', "\\", "\u00e9", "\t",
])


@PROPERTY_SETTINGS
@given(text=st.one_of(st.text(max_size=60).filter(lambda t: "\x00" not in t),
                      st.lists(filter_words, min_size=1, max_size=10).map(" ".join),
                      filters().map(lambda p: p[1][: len(p[1]) // 2])))
def test_any_filter_text_gives_results_or_an_invalid_filter_error(directory, text):
    scim, _ = directory
    for path in ("/Users", "/Groups"):
        response = scim.get(path + "?" + urlencode({"filter": text}))
        assert response.status_code == 200 or is_scim_error(response, 400, "invalidFilter"), (
            text, response.status_code, response.get_data(as_text=True)[:300])


def test_a_nul_in_a_filter_is_a_scim_error(directory):
    scim, _ = directory
    response = scim.get("/Users" + "?" + urlencode({"filter": 'userName eq "a\x00b"'}))
    assert is_scim_error(response, 400)
    assert "NUL" in response.get_json()["detail"]


# --- PATCH -------------------------------------------------------------------------------------------

patch_paths = st.one_of(st.none(), st.sampled_from([
    "title", "displayName", "nickName", "name", "name.givenName", "NAME.FAMILYNAME", "active", "Active", "emails",
    'emails[type eq "work"].value', 'emails[type eq "home"]', 'emails[value co "@"].primary', "emails.type",
    'emails[type eq "work" and primary eq true].value', "externalId", "userName", "id", "meta.created", "groups",
    "phoneNumbers", 'phoneNumbers[type eq "mobile"].value', "addresses", f"{ENTERPRISE}:department",
    f"{ENTERPRISE}:manager", ENTERPRISE, "urn:ietf:params:scim:schemas:core:2.0:User:title", "members",
    "password", "emails[", "title eq 1", "", " ", "x.y.z",
]), st.text(max_size=20).filter(lambda t: "\x00" not in t))

json_scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(["True", "False", "true", "FALSE", "", "x", "alice@example.com"]),
    st.integers(-3, 3), st.text(max_size=20).filter(lambda t: "\x00" not in t),
)
patch_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["value", "type", "primary", "givenName", "familyName", "title", "active",
                                         "displayName", "emails", "name.givenName", "department", "id", "schemas",
                                         f"{ENTERPRISE}:department", ENTERPRISE, "userName", "display"]),
                        children, max_size=3)),
    max_leaves=6,
)
# Operations an IdP would send, with the quirks real ones have (Entra's capitalised op names and
# "True"/"False" strings, path-less objects with dotted and URN keys, value-filter paths).
op_names = st.sampled_from(["add", "replace", "remove", "Add", "Replace", "Remove", "REPLACE"])
texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12)
booleans = st.sampled_from([True, False, "True", "False", "true", "false"])
addresses = st.sampled_from(["alice@example.com", "alice.adams@example.org", "a+1@example.net"])
email_items = st.fixed_dictionaries({"value": addresses}, optional={"type": st.sampled_from(["work", "home", "Work"]),
                                                                     "primary": booleans})
well_formed_operation = st.one_of(
    st.builds(lambda op, path, value: {"op": op, "path": path, "value": value}, op_names,
              st.sampled_from(["title", "displayName", "nickName", "name.givenName", "name.familyName",
                               f"{ENTERPRISE}:department", "urn:ietf:params:scim:schemas:core:2.0:User:title"]), texts),
    st.builds(lambda op, value: {"op": op, "path": "active", "value": value}, op_names, booleans),
    st.builds(lambda op, value: {"op": op, "path": "emails", "value": value}, op_names, st.lists(email_items, min_size=1, max_size=2)),
    st.builds(lambda op, path, value: {"op": op, "path": path, "value": value}, op_names,
              st.sampled_from(['emails[type eq "work"].value', 'emails[type eq "home"].value']), addresses),
    st.builds(lambda op, value: {"op": op, "value": value}, st.sampled_from(["add", "replace", "Replace"]),
              st.fixed_dictionaries({}, optional={"title": texts, "active": booleans, "name.givenName": texts,
                                                  "displayName": texts, ENTERPRISE: st.fixed_dictionaries({"department": texts}),
                                                  f"{ENTERPRISE}:costCenter": texts, "emails": st.lists(email_items, max_size=2)})),
)
wild_operation = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "replace", "remove", "Add", "Replace", "REMOVE", "rePlace", "copy", ""])},
    optional={"path": patch_paths, "value": patch_values})
operations = st.lists(st.one_of(well_formed_operation, wild_operation), min_size=1, max_size=3)


@PROPERTY_SETTINGS
@given(ops=operations)
def test_any_patch_is_applied_whole_or_refused_without_a_trace(directory, ops):
    scim, resources = directory
    user_id = next(rid for rid, r in resources.items() if r["userName"] == "alice@example.com")
    before = scim.get(f"/Users/{user_id}").get_json()
    response = scim.patch(f"/Users/{user_id}", ops)
    after = scim.get(f"/Users/{user_id}")
    assert after.status_code == 200, after.get_data(as_text=True)[:300]
    event(f"PATCH answered {response.status_code}")
    if response.status_code in (200, 204):
        if response.status_code == 200:
            assert response.get_json() == after.get_json(), ops
        assert after.get_json()["userName"]
        # The list (a SQL query) sees the same user as the read: no row left behind by the change.
        listed = scim.get("/Users?" + urlencode({"filter": f'userName eq {json.dumps(after.get_json()["userName"])}'}))
        assert [r["id"] for r in listed.get_json()["Resources"]] == [user_id], ops
    else:
        assert is_scim_error(response, response.status_code) and response.status_code in (400, 409), (
            ops, response.status_code, response.get_data(as_text=True)[:300])
        assert after.get_json() == before, ops
