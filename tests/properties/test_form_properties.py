"""Properties of the browser interface: no form field value and no query string gives a 5xx.

The routes come from the URL map: every POST route of the browser blueprints (not /scim, /api or
static), posted by a signed-in owner with the fields its form on some page has (found by reading
every page's forms) plus generated extra ones; and every GET page with generated query parameters.
Values include control characters, NUL, very long strings, unicode, empty strings and numbers too
large for a database integer. Runs on PostgreSQL and SQLite like the rest of the suite.
"""
import socket
import uuid
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app import NUL_REFUSED, create_app
from config import TestConfig
from extensions import db
from models import Membership, Organization, Role
from tests import factories
from tests.permission_params import PARAM_FACTORIES
from tenancy import ORG_PREFIX

MACHINE_PREFIXES = ("/scim/", "/api/", "/static/")
PROPERTY_SETTINGS = settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))


def browser_rules(methods):
    app = create_app(TestConfig())
    return sorted(
        ((rule.endpoint, rule.rule) for rule in app.url_map.iter_rules()
         if not rule.rule.startswith(MACHINE_PREFIXES) and rule.methods & set(methods)),
    )


POST_ROUTES = browser_rules({"POST"})
GET_ROUTES = browser_rules({"GET"})


# --- A workspace to post into --------------------------------------------------------------------

class Workspace:
    """An org with its owner signed in; put back whenever a request deleted it or demoted the owner."""

    def __init__(self, app, client):
        self.app, self.client, self.made = app, client, {}
        self.build()

    def build(self):
        self.owner = factories.user(password="Correct-Horse-9-Battery")
        self.org = factories.org(owner=self.owner)
        factories.member(self.org, Role.member)
        self.org_id, self.slug = self.org.id, self.org.slug

    def repair(self):
        db.session.expire_all()
        org = db.session.get(Organization, self.org_id)
        if org is None:
            self.build()
        else:
            membership = db.session.scalar(select(Membership).where(
                Membership.org_id == self.org_id, Membership.user_id == self.owner.id))
            if membership is None or membership.role != Role.owner or membership.deactivated_at is not None:
                self.build()
        owner = db.session.get(type(self.owner), self.owner.id)
        with self.client.session_transaction() as session:   # sign in again: some routes sign out
            session["_user_id"] = factories.login_id(owner)
            session["_fresh"] = True

    def url(self, rule, values=None):
        values = dict(values or {})
        for arg in rule.arguments:
            if arg in values:
                continue
            if arg == "org_slug":
                values[arg] = self.slug
            elif rule.rule.startswith(ORG_PREFIX) and arg in PARAM_FACTORIES:
                values[arg] = self.fresh(arg)
            elif arg == "section":
                values[arg] = "scim"
            elif arg.endswith("_id"):
                values[arg] = str(uuid.uuid4())        # someone else's or nobody's: must be a 404
            else:
                values[arg] = "not-a-real-token"      # signed tokens in emails: must be refused cleanly
        return rule.build(values, append_unknown=False)[1]

    def fresh(self, arg):
        """A new object for the route (the last request may have deleted the previous one); a factory
        that makes a uniquely named object (the SCIM group) keeps its first one."""
        if (self.org_id, arg) in self.made and arg == "group_id":
            return self.made[self.org_id, arg]
        value = PARAM_FACTORIES[arg](db.session.get(Organization, self.org_id), self.owner)
        self.made[self.org_id, arg] = str(getattr(value, "id", value))
        return self.made[self.org_id, arg]


class FormFields(HTMLParser):
    """(action, method, {field name: [option values]}) of every form on a page."""

    def __init__(self):
        super().__init__()
        self.forms, self.current = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.current = (attrs.get("action") or "", (attrs.get("method") or "get").lower(), {})
            self.forms.append(self.current)
        elif tag in ("input", "select", "textarea", "button") and self.current and attrs.get("name"):
            options = self.current[2].setdefault(attrs["name"], [])
            if attrs.get("value") is not None:
                options.append(attrs["value"])
        elif tag == "option" and self.current and self.current[2]:
            last = list(self.current[2])[-1]
            self.current[2][last].append(attrs.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None


@pytest.fixture
def workspace(app, client, monkeypatch):
    # Rate limits would turn most generated requests into 429s: lift them for these properties.
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", False)
    from extensions import limiter
    monkeypatch.setattr(limiter, "enabled", False)
    # Generated URLs (a webhook's, an IdP metadata URL) name outside hosts: looking them up would send a
    # DNS query off this machine. Every name fails to resolve here, which the forms answer with a field
    # error like any other (services/egress.py).
    from services import egress

    def no_dns(host, port):
        raise socket.gaierror(f"tests do not look up {host}")
    monkeypatch.setattr(egress, "_resolve", no_dns)
    place = Workspace(app, client)
    place.repair()
    return place


def fields_by_endpoint(app, place):
    """Every POST form's fields on every GET page, keyed by the endpoint the form posts to."""
    adapter = app.url_map.bind("localhost")
    found = {}
    anonymous = app.test_client()   # the log-in, sign-up and password pages show their forms to visitors only
    visits = [(client, endpoint, rule_text) for client in (place.client, anonymous) for endpoint, rule_text in GET_ROUTES
              if client is place.client or getattr(app.view_functions[endpoint], "required_permission", None) == "public"]
    for client, endpoint, rule_text in visits:
        rule = next(r for r in app.url_map.iter_rules(endpoint) if r.rule == rule_text)
        page_url = place.url(rule)
        response = client.get(page_url)
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        parser = FormFields()
        parser.feed(response.get_data(as_text=True))
        for action, method, fields in parser.forms:
            if method != "post":
                continue
            path = urlsplit(action).path or urlsplit(page_url).path
            try:
                target, _ = adapter.match(path, method="POST")
            except Exception:
                continue
            merged = found.setdefault(target, {})
            for name, options in fields.items():
                merged.setdefault(name, []).extend(options)
    return found


_crawled = {}


def crawled_fields(app, place):
    """fields_by_endpoint, crawled once per run: every page is rendered to find the forms, and the
    fields and options a page shows do not change from one workspace to the next (re-crawling for each
    of about 170 routes rendered some 17,000 pages a run)."""
    if app not in _crawled:
        _crawled[app] = fields_by_endpoint(app, place)
    return _crawled[app]


# --- Values --------------------------------------------------------------------------------------

NASTY = [
    "", " ", "\x00", "a\x00b", "\r\n", "\t", "\x1b[31m", "\u202eevil", "\ufeff", "\ud7ff", "\U0001f600" * 50,
    "e\u0301", "x" * 20_000, "9" * 40, "-1", "0", "1e309", "NaN", "true", "on", "owner", "admin", "member",
    "viewer", "a@b.c", "someone@example.com", "https://example.com/hook", "http://127.0.0.1:1/x",
    "<script>alert(1)</script>", "' OR 1=1 --", "%", "_", "\\", "../../etc/passwd", "{{7*7}}",
]
values = st.one_of(st.sampled_from(NASTY), st.text(max_size=80), st.text(st.characters(max_codepoint=31), max_size=5))


def field_values(fields):
    """Each known field gets a generated value or one of its own options (sometimes left out), plus a
    few made-up fields."""
    known = {name: st.one_of(values, st.sampled_from(options)) if options else values for name, options in fields.items()}
    return st.tuples(
        st.fixed_dictionaries({}, optional=known),
        st.dictionaries(st.sampled_from(["q", "next", "name", "email", "role", "url", "x\x00", "confirm"]), values, max_size=2),
    ).map(lambda pair: {**pair[1], **pair[0]})


def is_server_error(response):
    return response.status_code >= 500


# --- Properties ----------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint, rule_text", POST_ROUTES, ids=[e for e, _ in POST_ROUTES])
def test_no_form_input_gives_a_server_error(app, workspace, endpoint, rule_text):
    rule = next(r for r in app.url_map.iter_rules(endpoint) if r.rule == rule_text)
    fields = {name: options for name, options in crawled_fields(app, workspace).get(endpoint, {}).items()
              if name != "csrf_token"}

    @PROPERTY_SETTINGS
    @given(data=field_values(fields), htmx=st.booleans())
    def post(data, htmx):
        workspace.repair()
        headers = {"HX-Request": "true"} if htmx else {}
        response = workspace.client.post(workspace.url(rule), data=data, headers=headers)
        assert not is_server_error(response), (endpoint, response.status_code, {k: v[:80] for k, v in data.items()})
        if any("\x00" in k or "\x00" in v for k, v in data.items()):
            assert response.status_code == 400 and NUL_REFUSED.encode() in response.data

    post()


def test_the_forms_are_found_on_the_pages(app, workspace):
    """The crawl above sees the forms, so the property posts real field names (it cannot go blind)."""
    found = fields_by_endpoint(app, workspace)
    assert {"email", "password"} <= set(found["auth.login"])
    assert {"url", "description", "events"} <= set(found["webhooks.webhook_endpoints_create"])
    assert {"name", "slug"} <= set(found["orgs.org_settings_update"])
    assert {"email", "role"} <= set(found["invitations.invitations_list"])


QUERY_NAMES = ["q", "page", "role", "status", "type", "actor", "action", "event_type", "since", "until", "before",
               "after", "cursor", "tab", "filter", "next", "sort", "per_page", "target"]


@pytest.mark.parametrize("endpoint, rule_text", GET_ROUTES, ids=[e for e, _ in GET_ROUTES])
def test_no_query_string_gives_a_server_error(app, workspace, endpoint, rule_text):
    rule = next(r for r in app.url_map.iter_rules(endpoint) if r.rule == rule_text)
    url = workspace.url(rule)

    @PROPERTY_SETTINGS
    @given(query=st.dictionaries(st.sampled_from(QUERY_NAMES), values, min_size=1, max_size=3), htmx=st.booleans())
    def get(query, htmx):
        workspace.repair()
        headers = {"HX-Request": "true", "HX-Target": "member_rows"} if htmx else {}
        response = workspace.client.get(url, query_string=query, headers=headers)
        assert not is_server_error(response), (endpoint, response.status_code, {k: v[:80] for k, v in query.items()})

    get()


def test_a_nul_anywhere_is_refused_in_each_interface_format(workspace):
    page = workspace.client.get("/app/workspaces", query_string={"q": "a\x00b"})
    assert page.status_code == 400 and b"NUL character" in page.data and b"<html" in page.data
    form = workspace.client.post("/login", data={"email": "a\x00@example.com", "password": "x"})
    assert form.status_code == 400 and b"NUL character" in form.data
    scim = workspace.client.get("/scim/v2/Users", query_string={"filter": "userName eq \"\x00\""})
    assert scim.status_code == 400 and scim.get_json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    api = workspace.client.get("/api/v1/members", query_string={"cursor": "\x00"})
    assert api.status_code == 400 and "NUL character" in api.get_json()["error"]["message"]
    path = workspace.client.get(f"/app/o/{workspace.slug}%00/members")
    assert path.status_code == 404
