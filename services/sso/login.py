"""SP-initiated login and the Assertion Consumer Service: every check a response must pass, the replay
cache, just-in-time provisioning with role mapping, and the SSO log.

The order of the checks (each refusal names its reason in the SSO log; no secret is ever logged):
1. the org and its connection exist; the POST carries a SAMLResponse no larger than the cap;
2. the XML parses without a DTD or entities, is a samlp:Response and has no comment inside (a comment
   splits a NameID's text: the classic truncation attack on signed NameIDs);
3. RelayState: a one-time state key of ours (SP-initiated: its InResponseTo must match the AuthnRequest
   id kept with it), or, only where the org allows IdP-initiated login, a local path;
4. python3-saml in strict mode: signature by a pinned IdP certificate over the assertion, no
   deprecated algorithms, audience, destination, recipient, time window, issuer;
5. the assertion id was never accepted before (kept until the assertion expires);
6. the asserted email is on one of the org's verified domains.

A response that passes is not a login yet: it is held (SsoPendingLogin) and the browser is sent to a
same-site GET that finishes it (services/sso/finish.py): only the browser that started an SP-initiated
login may finish it, an IdP-initiated one never silently replaces a different signed-in person, and an
existing account is linked only with the person's consent.
"""
import base64
import binascii
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from flask import current_app
from lxml import etree
from sqlalchemy import and_, bindparam, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import lazyload
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from db_scope import bind_org, lookup_binds
from extensions import db
from models import (Membership, Organization, Role, SsoAssertionReplay, SsoConnection, SsoIdentity, SsoLoginAttempt,
                    SsoPendingLogin, SsoRequestState, User, parse_uuid, utcnow)
from services import ServiceError, accounts, orgs
from services.events import Actor, emit
from services.redirects import safe_next_url
from services.sso import config as sso_config
from services.sso import domains, saml

STATE_PREFIX = "okrs_"
# The key of a test login started through a setup link (services/setup_sso.py) names the link:
# okrs_sl.<link id hex>.<random>. The ACS then checks the response against the link's draft IdP.
SETUP_LINK_MARK = "sl."
STATE_TTL = timedelta(minutes=15)
PROTOCOL_NS = "urn:oasis:names:tc:SAML:2.0:protocol"

# Each attribute by the names IdPs give it: plain, Entra's and ADFS's claim URIs, the urn:oid names of
# the SAML 2.0 attribute profile (Shibboleth, most academic IdPs) and the older urn:mace:dir names
# (Shibboleth's legacy attribute map, pysaml2's basic name format).
EMAIL_ATTRIBUTES = ("email", "mail", "emailaddress", "Email", "User.Email",
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                    "urn:oid:0.9.2342.19200300.100.1.3", "urn:mace:dir:attribute-def:mail",
                    "urn:mace:dir:attribute-def:email")
GIVEN_NAME_ATTRIBUTES = ("givenName", "firstName", "first_name", "FirstName", "User.FirstName",
                         "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", "urn:oid:2.5.4.42",
                         "urn:mace:dir:attribute-def:givenName")
SURNAME_ATTRIBUTES = ("sn", "surname", "lastName", "last_name", "LastName", "User.LastName",
                      "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", "urn:oid:2.5.4.4",
                      "urn:mace:dir:attribute-def:sn")
DISPLAY_NAME_ATTRIBUTES = ("displayName", "display_name", "cn",
                           "http://schemas.microsoft.com/identity/claims/displayname", "urn:oid:2.16.840.1.113730.3.1.241",
                           "urn:mace:dir:attribute-def:displayName", "urn:mace:dir:attribute-def:cn")
GROUPS_ATTRIBUTES = ("groups", "Groups", "memberOf", "group", "Group",
                     "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups")
# Entra ID sends this link to Microsoft Graph instead of the groups claim when a user is in more groups
# than a SAML token carries (150): the person's groups are then unknown, not empty.
GROUPS_OVERAGE_ATTRIBUTE = "http://schemas.microsoft.com/claims/groups.link"
GROUPS_OVERAGE_NOTE = ("Entra ID sent a groups overage link (the person is in more than 150 groups) instead of the "
                       "groups, so their role was left as it was. Send only the groups assigned to the application "
                       "(the group claim's option in Entra ID).")


class Refused(Exception):
    """A response or request turned away; reason is what the SSO log and the page say."""

    def __init__(self, reason, status=403, name_id=None, email=None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.name_id = name_id
        self.email = email


@dataclass
class AcsOutcome:
    attempt: SsoLoginAttempt | None
    org: Organization | None = None
    user: User | None = None
    return_path: str | None = None
    is_test: bool = False
    refused: Refused | None = None
    attributes: dict = field(default_factory=dict)
    setup_link_id: uuid.UUID | None = None  # a test of a setup link's draft: its result goes back there
    finish_key: str | None = None  # the one-time key of the validated response the browser finishes


# Built once: the SSO log row is written on every login.
_LOG = insert(SsoLoginAttempt.__table__)


def _hash_key(key):
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def org_for_ref(org_ref):
    """The org named by the id in an SSO URL, or None."""
    return org_and_connection(org_ref)[0]


@lru_cache(maxsize=2)
def _org_and_connection_statement(dialect_name):
    """org_and_connection's SELECT, built once per dialect (parameter org_id)."""
    return (select(Organization, SsoConnection, *lookup_binds(Organization.id, dialect_name))
            .outerjoin(SsoConnection, SsoConnection.org_id == Organization.id)
            .where(Organization.id == bindparam("org_id")))


def org_and_connection(org_ref):
    """(org, its connection or None) for the id in an SSO URL, in one query; (None, None) if unknown.

    The rest of an SSO request works for that one org, so the session is bound to it (db_scope); on
    PostgreSQL the same statement sets the binding (lookup_binds): one round trip fewer per request."""
    org_id = parse_uuid(org_ref)
    if org_id is None:
        return None, None
    row = db.session.execute(_org_and_connection_statement(db.session.get_bind().dialect.name),
                             {"org_id": org_id}).first()
    if row is None:
        return None, None
    bind_org(row[0], set_by_lookup=True)
    return row[0], row[1]


def start_login(org, connection, return_path=None, is_test=False, setup_link_id=None, browser_nonce=None):
    """The IdP URL to send the browser to, with a fresh AuthnRequest. Its id and where to go afterwards
    are kept server-side under a one-time key that travels as RelayState (SameSite=Lax: the IdP's POST
    back arrives without our session cookie), with the hash of the starting browser's nonce cookie.
    setup_link_id: a test of that link's draft connection."""
    if connection is None or not connection.is_configured:
        raise ServiceError("Single sign-on is not set up for this workspace yet.")
    key = secrets.token_urlsafe(32)
    if setup_link_id is not None:
        key = f"{SETUP_LINK_MARK}{setup_link_id.hex}.{key}"
    url, request_id = saml.authn_request(connection, STATE_PREFIX + key)
    db.session.add(SsoRequestState(org_id=org.id, key_hash=_hash_key(key), request_id=request_id,
                                   return_path=return_path or "", is_test=is_test, expires_at=utcnow() + STATE_TTL,
                                   browser_nonce_hash=_hash_key(browser_nonce) if browser_nonce else None))
    db.session.flush()
    return url


def setup_link_of(relay_state):
    """The setup link whose draft a test's RelayState names, or None (any other RelayState)."""
    marked = STATE_PREFIX + SETUP_LINK_MARK
    if not (relay_state or "").startswith(marked):
        return None
    return parse_uuid(relay_state[len(marked):].split(".", 1)[0])


def _held_row(org, state, initiated_by, identity, return_path):
    """(one-time key, row) of a validated response kept for the browser to finish; the key goes in the
    finish URL, only its hash in the row."""
    from services.sso.finish import PENDING_TTL
    key = secrets.token_urlsafe(32)
    kept = {name: identity[name] for name in ("name_id", "email", "name", "groups", "groups_unknown")}
    now = utcnow()
    return key, {"id": uuid.uuid4(), "created_at": now, "org_id": org.id, "key_hash": _hash_key(key),
                 "request_state_id": state.id if state else None, "initiated_by": initiated_by,
                 "identity": kept, "return_path": return_path or "", "expires_at": now + PENDING_TTL}


def _consume_state(org, relay_state):
    """The request state for this RelayState key, marked used in one UPDATE (returning the row) so two
    POSTs racing with the same key cannot both have it."""
    key_hash = _hash_key(relay_state[len(STATE_PREFIX):])
    now = utcnow()
    return db.session.scalars(
        update(SsoRequestState)
        .where(SsoRequestState.key_hash == key_hash, SsoRequestState.org_id == org.id,
               SsoRequestState.consumed_at.is_(None), SsoRequestState.expires_at > now)
        .values(consumed_at=now)
        .returning(SsoRequestState)
        .execution_options(synchronize_session=False)
    ).one_or_none()


def _decode(saml_response, oversized=False):
    max_bytes = current_app.config["SSO_MAX_RESPONSE_BYTES"]
    if oversized:
        raise Refused(f"The POST is larger than a SAMLResponse of {max_bytes // 1024} KB may be.", status=413)
    if not saml_response:
        raise Refused("The POST carried no SAMLResponse: it is not a SAML response.", status=400)
    if len(saml_response) > max_bytes * 4 // 3 + 4:
        raise Refused(f"The SAMLResponse is larger than {max_bytes // 1024} KB.", status=413)
    try:
        xml = base64.b64decode("".join(saml_response.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Refused("The SAMLResponse is not base64.", status=400) from None
    return xml


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=False, remove_pis=False)


def _precheck_xml(xml):
    """Parse once without python3-saml's comment stripping: refuse DTDs, entities, non-SAML roots and
    comments anywhere inside (python3-saml would silently drop them)."""
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise Refused(f"The SAMLResponse is not well-formed XML ({exc.msg}).", status=400) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise Refused("The SAMLResponse has a DTD (DOCTYPE); XML with DTDs or entities is refused.", status=400)
    if root.tag != f"{{{PROTOCOL_NS}}}Response":
        raise Refused(f"The posted XML is a {etree.QName(root).localname}, not a SAML Response.", status=400)
    for _ in root.iter(etree.Comment):
        raise Refused("The response contains an XML comment; refused (comments can split a signed NameID).")


def _first(attributes, configured, candidates):
    names = (configured,) if configured else candidates
    for name in names:
        values = attributes.get(name)
        if values:
            return str(values[0]).strip()
    return ""


def _groups(attributes, configured):
    for name in ((configured,) if configured else GROUPS_ATTRIBUTES):
        if attributes.get(name):
            return [str(value) for value in attributes[name]][:500]
    return []


def _validate(org, connection, saml_response, relay_state, oversized=False, setup_link_id=None):
    """Run checks 1 to 6; returns (auth, request_state or None, initiated_by, return_path, identity dict,
    finish key or None). A login's validated response is held for the browser under the finish key, in the statement
    that remembers its assertion (a test login's is not: nobody signs in by it)."""
    if connection is None or not connection.idp_entity_id or not connection.idp_sso_url:
        raise Refused("Single sign-on is not set up for this workspace.", status=404)
    _precheck_xml(_decode(saml_response, oversized))
    state = None
    relay_state = relay_state or ""
    if relay_state.startswith(STATE_PREFIX):
        state = _consume_state(org, relay_state)
        if state is None:
            raise Refused("The login request this response answers is unknown, expired or already used (RelayState).")
        return_path = state.return_path
    else:
        if not connection.allow_idp_initiated:
            raise Refused("Unsolicited response (IdP-initiated login) refused: it is turned off for this workspace.")
        if relay_state and safe_next_url(relay_state) is None:
            raise Refused("The RelayState points off-site; only paths on this site are allowed.")
        return_path = relay_state
    try:
        auth = saml.new_auth(connection, saml_response, relay_state)
        auth.process_response(request_id=state.request_id if state else None)
    except Exception as exc:  # python3-saml raises on structurally broken responses; the reason is kept
        raise Refused(f"The response could not be processed: {exc}"[:500]) from None
    if auth.get_errors() or not auth.is_authenticated():
        raise Refused((auth.get_last_error_reason() or ", ".join(auth.get_errors()) or "not authenticated")[:500])
    if state is not None and auth.get_last_response_in_response_to() != state.request_id:
        raise Refused("The response does not answer our login request (InResponseTo is missing or different).")
    if state is None and auth.get_last_response_in_response_to():
        raise Refused("The response answers a login request Orgkit does not know (InResponseTo without RelayState).")
    name_id = (auth.get_nameid() or "").strip()
    attributes = auth.get_attributes()
    email = _first(attributes, connection.email_attribute, EMAIL_ATTRIBUTES) or (name_id if "@" in name_id else "")
    email = email.lower()
    identity = {
        "name_id": name_id[:512],
        "email": email,
        "name": _first(attributes, "", DISPLAY_NAME_ATTRIBUTES) or " ".join(filter(None, (
            _first(attributes, "", GIVEN_NAME_ATTRIBUTES), _first(attributes, "", SURNAME_ATTRIBUTES)))),
        "groups": _groups(attributes, connection.groups_attribute),
        "groups_unknown": False,
        "attributes": {name: [str(v)[:500] for v in values][:50] for name, values in list(attributes.items())[:100]},
    }
    identity["groups_unknown"] = not identity["groups"] and bool(attributes.get(GROUPS_OVERAGE_ATTRIBUTE))
    initiated_by = "test" if state is not None and state.is_test else ("sp" if state is not None else "idp")
    if setup_link_id is not None and initiated_by != "test":
        raise Refused("A setup link's connection is only ever tested, never used to sign in.")
    key, held = _held_row(org, state, initiated_by, identity, return_path) if initiated_by != "test" else (None, None)
    inserted, domain_verified, held_by_statement = _remember_assertion(org, auth, name_id, email, held)
    if not inserted:
        raise Refused("This assertion was already used once (replay).", name_id=name_id, email=email)
    if not email:
        raise Refused("The response carries no email address (neither an email attribute nor an email NameID).",
                      name_id=name_id)
    if not domain_verified:
        raise Refused(f"{email} is not on a verified domain of this workspace.", name_id=name_id, email=email)
    if held is not None and not held_by_statement:
        db.session.execute(insert(SsoPendingLogin.__table__), held).close()
    return auth, state, initiated_by, return_path, identity, key


_REPLAY_COLUMNS = ("id", "org_id", "assertion_id", "expires_at", "created_at")
_HELD_COLUMNS = ("id", "created_at", "org_id", "key_hash", "request_state_id", "initiated_by", "identity",
                 "return_path", "expires_at")


@lru_cache(maxsize=4)
def _remember_statement(dialect_name, holding):
    """The replay cache's INSERT, built once per dialect. It inserts unless the id is there (ON CONFLICT
    DO NOTHING on PostgreSQL and SQLite): the unique constraint decides, so two racing posts of one
    assertion cannot both win. It answers whether the row went in and whether the email's domain is a
    verified domain of the org (check 6, asked in the same statement: one round trip fewer).
    Parameters: the row's columns, domain_org_id and domain.

    holding, on PostgreSQL: the same statement also holds the validated response for the browser
    (data-modifying CTEs; parameters held_<column>), only if the assertion's row went in and its domain
    is verified, so a refused response never leaves one behind. A transaction that holds a response
    (with its replay row and, SP-initiated, its used request state) then commits without waiting for
    the disk (set_config(..., true) is SET LOCAL: this transaction only): nobody is signed in by it. The
    finishing GET that signs the person in reads the held row, so its own commit, which waits for the
    disk, comes later in PostgreSQL's log and makes this one durable with it. A crash in between loses
    the held response and its replay row together, before anyone was signed in with that assertion: it
    is used once at most all the same. Refusals and test logins keep waiting for the disk (their log
    rows are the record)."""
    table = SsoAssertionReplay.__table__
    verified = domains.verified_for_clause(bindparam("domain_org_id"), bindparam("domain"))
    dialect_insert = pg_insert if dialect_name == "postgresql" else sqlite_insert
    remember = (dialect_insert(table).values({name: bindparam(name, type_=table.c[name].type) for name in _REPLAY_COLUMNS})
                .on_conflict_do_nothing(index_elements=["org_id", "assertion_id"]))
    if not holding:
        return remember.returning(table.c.id, verified.label("domain_verified"))
    remembered = remember.returning(table.c.id).cte("remembered")
    fresh = exists(select(remembered.c.id))
    pending = SsoPendingLogin.__table__
    held = (insert(pending).from_select(_HELD_COLUMNS, select(
        *(bindparam(f"held_{name}", type_=pending.c[name].type) for name in _HELD_COLUMNS)).where(fresh, verified))
        .returning(pending.c.id).cte("held"))
    asynchronous = (select(func.set_config("synchronous_commit", "off", True)).where(exists(select(held.c.id)))
                    .scalar_subquery())
    return select(fresh.label("fresh"), verified.label("domain_verified"), asynchronous.label("asynchronous"))


def _remember_assertion(org, auth, name_id, email, held=None):
    """The replay cache: an assertion id is accepted once, and kept until the assertion expires.
    Returns (whether the assertion is new, whether email's domain is a verified domain of org: check 6,
    only ever read once the replay check has passed, whether the statement took held in hand). held: a login's response
    to hold (_held_row): on PostgreSQL in the same statement (see _remember_statement), which holds it
    only when the assertion is new and its domain verified; elsewhere the caller holds it after its checks."""
    assertion_id = auth.get_last_assertion_id()
    if not assertion_id:
        raise Refused("The assertion has no ID.", name_id=name_id, email=email)
    not_on_or_after = auth.get_last_assertion_not_on_or_after()
    expires = datetime.fromtimestamp(not_on_or_after, timezone.utc) if not_on_or_after else utcnow()
    # Kept past the assertion's own end by python3-saml's allowed clock drift.
    expires = max(expires, utcnow()) + timedelta(minutes=10)
    dialect_name = db.session.get_bind().dialect.name
    holding = held is not None and dialect_name == "postgresql"
    parameters = {"id": uuid.uuid4(), "org_id": org.id, "assertion_id": assertion_id[:255], "expires_at": expires,
                  "created_at": utcnow(), "domain_org_id": org.id, "domain": domains.email_domain(email)}
    if holding:
        parameters.update({f"held_{name}": value for name, value in held.items()})
    row = db.session.execute(_remember_statement(dialect_name, holding), parameters).first()
    if holding:
        return row.fresh, bool(row.domain_verified), True
    return row is not None, row is not None and bool(row.domain_verified), False


class NeedsConsent(Exception):
    """The assertion names an existing account that is not linked to this org: the person must prove the
    account is theirs before it is (services/sso/finish.py)."""


def resolve(org, identity):
    """(linked SsoIdentity or None, user or None, membership or None) for an asserted identity; reads only."""
    # A returning person: identity, account and membership in one query.
    row = db.session.execute(
        select(SsoIdentity, User, Membership).join(User, User.id == SsoIdentity.user_id)
        .outerjoin(Membership, and_(Membership.user_id == User.id, Membership.org_id == org.id))
        .where(SsoIdentity.org_id == org.id, SsoIdentity.name_id == identity["name_id"])
        # Membership's eager inner joins would drop the row of a linked person with no membership (left
        # the org since): the outer join above keeps it; its user and org are in the session already.
        .options(lazyload(SsoIdentity.user), lazyload(Membership.user), lazyload(Membership.org))).first()
    if row:
        return row
    user = User.by_email(identity["email"])
    membership = db.session.scalar(select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id)) \
        if user is not None else None
    return None, user, membership


def _storable_name(asserted):
    """The IdP's name for the person as Orgkit keeps names (services/names.py: one line of visible text,
    at most accounts.MAX_NAME characters), or None where it breaks those rules: a line break or a
    bidirectional override in a name would forge lines in logs and email subjects. A login is never
    refused over its name: a new account takes the email's local part, an existing one keeps its name."""
    if not asserted or not asserted.strip():
        return None
    try:
        return accounts.clean_user_name(asserted.strip()[:accounts.MAX_NAME])
    except ServiceError:
        return None


def needs_consent(org, linked, user):
    """An existing account not yet linked to org's IdP, and not one org itself created (managed): it is
    never linked silently (issue 13, item 5)."""
    return linked is None and user is not None and not user.is_managed_by(org.id)


def provision(org, connection, identity, actor, consented=False, resolved=None):
    """Just-in-time provisioning: the identity (org, NameID) leads to its user; the first login makes
    the user (SSO-only, no password, managed by org) and the membership; the group mapping is applied
    again every time.

    An existing account is linked only with the person's consent (consented=True: they gave its password
    or used a link emailed to it), or when org manages it; else NeedsConsent. Only a managed account's
    name follows the IdP. Owners are never made or changed by the IdP. Every refusal comes before the
    first write, so a refused login leaves nothing half-made. resolved: what resolve(org, identity) gave
    earlier in this transaction (the finishing GET has just read it), so it is not read twice."""
    email, name_id = identity["email"], identity["name_id"]
    linked, user, membership = resolved if resolved is not None else resolve(org, identity)
    if user is not None:
        if user.is_deactivated:
            raise Refused(f"The account {user.email} is deactivated.", name_id=name_id, email=email)
        if membership is not None and not membership.is_active:
            raise Refused(f"{user.email}'s access to this workspace was deactivated.", name_id=name_id, email=email)
        if needs_consent(org, linked, user) and not consented:
            raise NeedsConsent(user)
    name = _storable_name(identity["name"])
    if user is None:
        try:
            user = accounts.create_user(email, name or email.split("@")[0])
        except ServiceError as error:
            raise Refused(f"The account could not be created: {error.message}", name_id=name_id, email=email) from None
        user.managed_by_org_id = org.id  # made by this org's IdP: managed by it (DESIGN.md section 7)
    if linked is None:
        linked = SsoIdentity(org_id=org.id, name_id=name_id, user_id=user.id)
        db.session.add(linked)
    if linked.groups != identity["groups"] and not identity["groups_unknown"]:
        linked.groups = identity["groups"]
    if name and user.is_managed_by(org.id) and name != user.name:
        user.name = name  # a managed account's name follows its org's IdP
    mapped = sso_config.role_for_groups(connection, identity["groups"])
    if membership is None:
        orgs.add_member(org, user, mapped or connection.default_role, actor)
    elif identity["groups_unknown"]:
        pass  # unknown groups are no reason to demote anyone: the role stays until groups arrive again
    else:
        wanted = mapped or (Role(connection.default_role) if saml.group_roles(connection) else None)
        # Ownership is never granted or removed by a group mapping (sso_config.MAPPABLE_ROLES has no owner).
        if membership.role != Role.owner and wanted is not None and wanted != Role.owner and membership.role != wanted:
            orgs.change_role(org, membership, wanted, actor)
    accounts.record_login(user)
    return user


@dataclass(frozen=True)
class LoggedAttempt:
    """What the callers of _log read of the SSO log row it wrote (its reference, and whether it passed)."""
    id: uuid.UUID
    outcome: str

    @property
    def succeeded(self):
        return self.outcome == "succeeded"


def _log(org, outcome, reason, initiated_by, ip, name_id=None, email=None, user=None, attributes=None):
    """Write one SSO log row (a Core INSERT: nothing reads it back in this request)."""
    if user is not None and user in db.session.new:
        db.session.flush()  # a first login's account, made in this transaction: the row refers to it
    attempt = LoggedAttempt(uuid.uuid4(), outcome)
    # The INSERT reads nothing, so the session's pending changes (a login's last-login time) need not be
    # flushed for it: they go with the next flush (the event's), one unit of work fewer per login.
    with db.session.no_autoflush:
        db.session.execute(_LOG, {"id": attempt.id, "created_at": utcnow(), "org_id": org.id if org else None,
                                  "outcome": outcome, "reason": reason[:500], "initiated_by": initiated_by,
                                  "name_id": (name_id or None) and name_id[:512],
                                  "email": (email or None) and email[:254], "user_id": user.id if user else None,
                                  "attributes": attributes, "ip": ip})
    return attempt


def receive_response(org, connection, org_ref, saml_response, relay_state, ip=None, user_agent=None, oversized=False):
    """Handle one POST to the ACS of org_ref, whose org and connection org_and_connection(org_ref) found
    (None: no such org). Never raises for bad input: the outcome says what happened, and a refusal is in
    the SSO log (and emitted as sso.login_failed) whatever was posted."""
    if org is None:
        # Not in any SSO log: no org's admins could read it, and an anonymous POST must not add rows.
        refused = Refused("No workspace has this SSO address.", status=404)
        current_app.logger.warning("SAML response posted to the ACS of an unknown org %r", str(org_ref)[:64])
        return AcsOutcome(None, refused=refused)
    initiated_by = "idp"
    state = None
    setup_link_id = setup_link_of(relay_state)
    if setup_link_id is not None:
        # Checked against the link's draft, never the saved connection; the state it names is a test's.
        from services import setup_sso
        connection = setup_sso.draft_connection_for_test(org, setup_link_id)
    try:
        auth, state, initiated_by, return_path, identity, key = _validate(org, connection, saml_response, relay_state,
                                                                          oversized, setup_link_id)
        if initiated_by == "test":
            # A test login proves the connection; nobody is signed in or provisioned by it.
            connection.last_test_succeeded_at = utcnow()
            reason = "Test login: the response passed every check."
            if identity["groups_unknown"]:
                reason += " " + GROUPS_OVERAGE_NOTE.replace("their role was left", "a member's role would be left")
            attempt = _log(org, "succeeded", reason, "test", ip,
                           identity["name_id"], identity["email"], attributes=identity["attributes"])
            _record_setup_link_test(org, setup_link_id, attempt)
            return AcsOutcome(attempt, org=org, is_test=True, attributes=identity["attributes"],
                              setup_link_id=setup_link_id)
        # Nobody is signed in here: the browser finishes the login on a same-site GET, where its nonce
        # cookie (and session) come along (services/sso/finish.py); the response is held for it under key.
        return AcsOutcome(None, org=org, return_path=return_path, finish_key=key)
    except Refused as refused:
        if state is None and (relay_state or "").startswith(STATE_PREFIX):
            state = db.session.scalar(select(SsoRequestState).where(
                SsoRequestState.key_hash == _hash_key(relay_state[len(STATE_PREFIX):])))
        if state is not None and state.is_test:
            initiated_by = "test"
        elif state is not None:
            initiated_by = "sp"
        attempt = _log(org, "refused", refused.reason, initiated_by, ip, refused.name_id, refused.email)
        if connection is not None:
            emit(org, "sso.login_failed", Actor.for_idp(connection, ip, user_agent), [],
                 {"reason": refused.reason, "initiated_by": initiated_by, "email": refused.email})
        if state is None or not state.is_test:
            setup_link_id = None  # a RelayState naming a link without a test of ours behind it
        _record_setup_link_test(org, setup_link_id, attempt)
        return AcsOutcome(attempt, org=org, refused=refused, is_test=initiated_by == "test",
                          setup_link_id=setup_link_id)


def _record_setup_link_test(org, setup_link_id, attempt):
    if setup_link_id is not None:
        from services import setup_sso
        setup_sso.record_test(org, setup_link_id, attempt)


def recent_attempts(org_id, limit=50):
    return db.session.scalars(SsoLoginAttempt.for_org(org_id).order_by(SsoLoginAttempt.created_at.desc())
                              .limit(limit)).all()
