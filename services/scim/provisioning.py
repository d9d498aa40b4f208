"""Provisioning verbs: what a SCIM request does to an org (users are memberships, groups give roles).

Every verb flushes and never commits, emits its event through emit(), and returns a short summary
in words for the org's SCIM request log (no secrets, no request bodies).
"""
from dataclasses import dataclass
from functools import cached_property, lru_cache

from sqlalchemy import ARRAY, Integer, and_, any_, bindparam, delete, exists, func, or_, select

from extensions import db
from models import Invitation, Membership, Role, ScimConfig, ScimGroup, ScimGroupMember, ScimUser, ScimUserValue, User, parse_uuid, utcnow
from services import ServiceError, accounts, credentials, invitations, sessions
from services.sso import domains
from services import orgs as org_service
from services.events import emit, target, together, user_target
from services.scim import ENTERPRISE_SCHEMA, MAX_RESULTS, ScimError, invalid_value
from services.scim.filters import FilterTranslator, parse_filter, where_clause
from services.scim.patch import Patcher, read_operations
from services.scim.resources import read_columns, user_resource
from services.scim.schema import (
    ENTERPRISE_ATTRIBUTES, GROUP, NAME_SUB, USER, USER_ATTRIBUTES, VALUE_TABLE_ATTRIBUTES, clean_resource,
)

# Roles a SCIM group can grant, highest first. Owner is never granted or taken away by an IdP.
MAPPABLE_ROLES = (Role.admin, Role.member, Role.viewer)
_RANK = {Role.admin: 3, Role.member: 2, Role.viewer: 1}


def config_for(org_id):
    return db.session.scalar(ScimConfig.for_org(org_id))


def ensure_config(org):
    config = config_for(org.id)
    if config is None:
        config = ScimConfig(org_id=org.id, enabled=False, default_role=Role.member)
        db.session.add(config)
        db.session.flush()
    return config


def scim_user_target(scim_user):
    return target("scim_user", scim_user.id, scim_user.user_name)


def group_target(group):
    return target("scim_group", group.id, group.display_name)


# --- Listing ---------------------------------------------------------------------------------------

def list_page(model, kind_name, org_id, filter_text, start_index, count):
    """(totalResults, rows of one page) with the filter run in SQL and a stable order. The rows are
    Core rows of read_columns(model), read on the session's connection without the ORM: a read builds
    resources from them and needs nothing else (issue 17)."""
    dialect_name = db.session.get_bind().dialect.name
    if filter_text:
        statements = _PageStatements(model, dialect_name, where_clause(kind_name, filter_text))
    else:
        statements = _unfiltered_page_statements(model, dialect_name)
    limit = min(count, MAX_RESULTS)
    params = {"org_id": org_id, "limit": limit, "offset": start_index - 1}
    connection = db.session.connection()
    rows = []
    if limit > 0:
        if start_index == 1:
            rows = connection.execute(statements.first, params).all()
        else:
            # startIndex is an offset by protocol (RFC 7644 section 3.4.2.4). Skipping rows on the
            # narrow (org_id, created_at, id) index, then loading only the page's rows by primary key,
            # keeps a late page cheap: one SELECT of whole users with OFFSET 9,900 built and dropped
            # 9,900 joined rows (97 ms). Two statements, not a subquery, so the planner cannot trade
            # the key lookups for a scan of the whole table (it did, for an org holding most rows).
            skipped = connection.execute(statements.skipped, params).all()
            if not skipped:
                return connection.execute(statements.total, params).scalar(), []
            rows = connection.execute(_page_by_ids(model, dialect_name),
                                      {"ids": [row.id for row in skipped], "total": skipped[0].total_results}).all()
    if rows:
        return rows[0].total_results, rows
    return connection.execute(statements.total, params).scalar(), rows


class _PageStatements:
    """The statements of a page, with the org, limit and offset as parameters, each built when first
    used: the first page with its total, the ids a later page starts after (with the total), and the
    total alone (past the end). totalResults rides on the page's first statement: PostgreSQL and
    SQLite run an uncorrelated scalar subquery once, so the COUNT costs no round trip of its own.
    count(*), not count(id): a count of a column makes PostgreSQL read that column, so it scanned the
    whole table (4.7 ms for 10,000 users) where count(*) reads only the org's index entries (1.8 ms,
    index-only)."""

    def __init__(self, model, dialect_name, filter_condition=None):
        self.model, self.dialect_name = model, dialect_name
        self.condition = model.org_id == bindparam("org_id")
        if filter_condition is not None:
            self.condition = and_(self.condition, filter_condition)
        self.count = select(func.count()).where(self.condition).correlate(None).scalar_subquery().label("total_results")
        self.order = (model.created_at, model.id)

    @cached_property
    def first(self):
        return (select(*read_columns(self.model, self.dialect_name), self.count).where(self.condition)
                .order_by(*self.order).limit(bindparam("limit", type_=Integer)))

    @cached_property
    def skipped(self):
        return (select(self.model.id, self.count).where(self.condition).order_by(*self.order)
                .offset(bindparam("offset", type_=Integer)).limit(bindparam("limit", type_=Integer)))

    @cached_property
    def total(self):
        return select(self.count)


@lru_cache(maxsize=8)
def _unfiltered_page_statements(model, dialect_name):
    """Built once: an IdP's full sync pages through every user unfiltered, and building the page
    statement (thirty columns, two JSON subqueries) and its cache key anew was a tenth of such a
    request's Python: 6,575 calls per page of 100 at the start before, 5,948 after; 7,612 and 6,662 at
    startIndex 9,901 (cProfile, bench/scim.py's data)."""
    return _PageStatements(model, dialect_name)


@lru_cache(maxsize=8)
def _page_by_ids(model, dialect_name):
    """A later page's rows by the ids skipped to, with the total already counted. On PostgreSQL the
    ids are one array parameter (= ANY): IN with 100 parameters made the statement text 100
    placeholders long and took 6.3 ms against 2.7 ms (bench/scim.py, a late page)."""
    if dialect_name == "postgresql":
        one_of = model.id == any_(bindparam("ids", type_=ARRAY(model.id.type)))
    else:
        one_of = model.id.in_(bindparam("ids", expanding=True))
    return (select(*read_columns(model, dialect_name), bindparam("total", type_=Integer).label("total_results"))
            .where(one_of).order_by(model.created_at, model.id))


# --- Users -----------------------------------------------------------------------------------------

def _account_email(data):
    """The email an Orgkit account is found or created by: the primary email, a work email, the first
    email, or userName when it is an address."""
    emails = [e for e in data.get("emails") or [] if e and isinstance(e.get("value"), str)]
    for chooser in (lambda e: e.get("primary") is True, lambda e: (e.get("type") or "").lower() == "work", lambda e: True):
        for email in emails:
            if chooser(email):
                return email["value"]
    user_name = data.get("userName") or ""
    return user_name if "@" in user_name else None


def _display_name(data):
    name = data.get("name") or {}
    parts = " ".join(p for p in (name.get("givenName"), name.get("familyName")) if p)
    return (data.get("displayName") or name.get("formatted") or parts or data.get("userName") or "").strip()[:120]


def check_length(model, column, value, where):
    """Each attribute is checked against the column that stores it: too long is 400 invalidValue
    naming the attribute (never a 500 from the database, which PostgreSQL would give)."""
    limit = model.__table__.c[column].type.length
    if isinstance(value, str) and limit is not None and len(value) > limit:
        raise invalid_value(f"'{where}' is longer than {limit} characters.")
    return value


def _check_user_name(org_id, user_name, scim_user=None, check_clash=True):
    if not isinstance(user_name, str) or not user_name.strip():
        raise invalid_value("'userName' is required.")
    check_length(ScimUser, "user_name", user_name.strip(), "userName")
    if not check_clash:
        return
    clash = db.session.scalar(
        select(ScimUser.id).where(ScimUser.org_id == org_id, ScimUser.user_name_lower == user_name.strip().lower())
    )
    if clash is not None and (scim_user is None or clash != scim_user.id):
        raise ScimError(409, f"A user with userName {user_name!r} already exists in this organization.", "uniqueness")


def _write_user(scim_user, data):
    """Set every stored attribute from a canonical representation (replace semantics)."""
    def store(column, value, where):
        setattr(scim_user, column, check_length(ScimUser, column, value, where))

    for attr in USER_ATTRIBUTES:
        if attr.column and attr.name != "active":
            value = data.get(attr.name)
            store(attr.column, value.strip() if attr.name == "userName" else value, attr.name)
    scim_user.user_name_lower = scim_user.user_name.lower()
    store("external_id", data.get("externalId"), "externalId")
    name = data.get("name") or {}
    for sub in NAME_SUB:
        store(sub.column, name.get(sub.name), f"name.{sub.name}")
    enterprise = data.get(ENTERPRISE_SCHEMA) or {}
    for attr in ENTERPRISE_ATTRIBUTES:
        if attr.column:
            store(attr.column, enterprise.get(attr.name), f"{ENTERPRISE_SCHEMA}:{attr.name}")
    manager = enterprise.get("manager") or {}
    store("manager_value", manager.get("value"), f"{ENTERPRISE_SCHEMA}:manager.value")
    values = []
    for attribute in VALUE_TABLE_ATTRIBUTES:
        for position, item in enumerate(data.get(attribute) or []):
            value = item.get("value")
            if not isinstance(value, str) or not value:
                raise invalid_value(f"Each item of '{attribute}' needs a 'value'.")
            for sub, column in (("value", "value"), ("type", "type"), ("display", "display")):
                check_length(ScimUserValue, column, item.get(sub), f"{attribute}.{sub}")
            values.append(ScimUserValue(
                org_id=scim_user.org_id, attribute=attribute, position=position, value=value,
                value_lower=value.lower(), type=item.get("type"), is_primary=item.get("primary"),
                display=item.get("display"),
            ))
    primaries = {}
    for item in values:
        if item.is_primary:
            primaries[item.attribute] = primaries.get(item.attribute, 0) + 1
    if any(n > 1 for n in primaries.values()):
        raise invalid_value("At most one value of a multi-valued attribute can be primary.")
    scim_user.values = values
    addresses = data.get("addresses") or None
    scim_user.addresses = addresses


def _bump(row):
    row.version = (row.version or 0) + 1
    row.updated_at = utcnow()


def _changed_attributes(before, after):
    keys = sorted(set(before) | set(after), key=str.lower)
    skip = {"meta", "id", "schemas", "groups"}
    changed = []
    for key in keys:
        if key in skip or before.get(key) == after.get(key):
            continue
        if key == ENTERPRISE_SCHEMA:
            sub_before, sub_after = before.get(key) or {}, after.get(key) or {}
            changed += [k for k in sorted(set(sub_before) | set(sub_after)) if sub_before.get(k) != sub_after.get(k)]
        else:
            changed.append(key)
    return changed


def _user_payload(scim_user, account):
    return {
        "scim_user": {"id": str(scim_user.id), "userName": scim_user.user_name, "externalId": scim_user.external_id,
                      "active": scim_user.active},
        "user": org_service.user_payload(account) if account is not None else None,
    }


def _user_targets(scim_user, account):
    return [scim_user_target(scim_user)] + ([user_target(account)] if account is not None else [])


def _clean_account_email(data):
    """The address the person is found, invited or created by; None when the IdP sent none yet."""
    email = _account_email(data)
    if not email:
        return None
    try:
        return accounts.clean_email(email)
    except ServiceError as exc:
        raise invalid_value(exc.message) from None


def _email_users(org_id, email):
    """The SCIM users of this org that stand for email: linked to its account, or inviting it."""
    linked = select(ScimUser.id).join(User, User.id == ScimUser.user_id).where(ScimUser.org_id == org_id, User.email == email)
    invited = (select(ScimUser.id).join(Invitation, Invitation.id == ScimUser.invitation_id)
               .where(ScimUser.org_id == org_id, ScimUser.user_id.is_(None), Invitation.email == email))
    return linked, invited


def _email_taken(org_id, email, scim_user=None):
    """409 when another SCIM user of this org already stands for email (linked, or invited)."""
    for query in _email_users(org_id, email):
        found = db.session.scalar(query.limit(1))
        if found is not None and (scim_user is None or found != scim_user.id):
            raise _email_clash(email)


def _email_clash(email):
    return ScimError(409, f"{email} is already provisioned in this organization under another userName.", "uniqueness")


@dataclass(frozen=True)
class _Known:
    """What a create's first statement found out for _provision_account."""
    account_id: object        # the account with the email, or None
    domain_verified: bool     # whether the email's domain is one the org verified
    default_role: object      # the org's SCIM default role, or None before its SCIM config exists


@lru_cache(maxsize=2)
def _new_user_check(with_email):
    """_check_new_user's SELECT, built once (parameters org_id, user_name_lower and, with_email, email
    and domain): each part an indexed scalar subquery."""
    org_id = bindparam("org_id")
    parts = [exists().where(ScimUser.org_id == org_id, ScimUser.user_name_lower == bindparam("user_name_lower"))
             .label("name_taken"),
             select(ScimConfig.default_role).where(ScimConfig.org_id == org_id).scalar_subquery().label("default_role")]
    if with_email:
        email = bindparam("email")
        linked, invited = _email_users(org_id, email)
        parts += [or_(linked.exists(), invited.exists()).label("email_taken"),
                  select(User.id).where(User.email == email).scalar_subquery().label("account_id"),
                  domains.verified_for_clause(org_id, bindparam("domain")).label("domain_verified")]
    return select(*parts)


def _check_new_user(org_id, user_name, email):
    """A create's userName and email clash checks, and what provisioning needs to know next (the
    account with the email, whether its domain is verified, the org's default role), in one round
    trip: each part is an indexed scalar subquery. Returns _Known."""
    user_name = user_name.strip()
    parameters = {"org_id": org_id, "user_name_lower": user_name.lower()}
    if email is not None:
        parameters.update(email=email, domain=domains.email_domain(email))
    found = db.session.execute(_new_user_check(email is not None), parameters).one()._mapping
    if found["name_taken"]:
        raise ScimError(409, f"A user with userName {user_name!r} already exists in this organization.", "uniqueness")
    if email is None:
        return _Known(None, False, found["default_role"])
    if found["email_taken"]:
        raise _email_clash(email)
    return _Known(found["account_id"], bool(found["domain_verified"]), found["default_role"])


def _provision_account(org, scim_user, email, data, actor, known=None):
    """Tie a SCIM user to the person with this email, within what the org may do (docs/security.md,
    Identity and trust). Returns how, in words:

    - a member of the org already: linked to that membership (its role is kept);
    - an account this org manages: made a member;
    - no account, and the email is on a domain the org verified: a new account managed by the org;
    - anyone else (a person's own account, an account another org manages, an address on a domain the
      org has not verified): nothing is linked or created; an invitation is emailed, and the SCIM user
      stays the IdP's record alone until the person accepts it (link_accepted_invitation).
    Also returns the account linked, or None (kept, so the caller need not load it again). known is
    what a create already read (_check_new_user); without it the account and domain are looked up."""
    default_role = known.default_role if known is not None and known.default_role is not None else ensure_config(org).default_role
    if email is None:
        scim_user.membership_id, scim_user.user_id, scim_user.invitation_id = None, None, None
        return "no email address yet: joins no one until one arrives", None
    if known is not None:
        account = db.session.get(User, known.account_id) if known.account_id is not None else None
    else:
        account = User.by_email(email)
    if account is not None:
        membership = db.session.scalar(select(Membership).where(Membership.org_id == org.id, Membership.user_id == account.id))
        if membership is None and account.is_managed_by(org.id):
            membership = org_service.add_member(org, account, default_role, actor)
        if membership is not None:
            scim_user.membership_id, scim_user.user_id, scim_user.invitation_id = membership.id, account.id, None
            return ("linked to an existing member" if not account.is_managed_by(org.id) else "linked"), account
    elif known.domain_verified if known is not None else domains.is_verified_for(org.id, domains.email_domain(email)):
        try:
            # The email is clean and no account had it a moment ago (the caller looked): the unique index
            # stops a request that makes it meanwhile (IntegrityError, answered 409).
            account = accounts.create_user(email, _display_name(data) or email, None, managed_by_org_id=org.id,
                                           email_checked=True)
        except ServiceError as exc:
            if exc.code == "conflict":   # another request made this account a moment ago
                raise _email_clash(email) from None
            raise invalid_value(exc.message) from None
        membership = org_service.add_member(org, account, default_role, actor, new_account=True)
        scim_user.membership_id, scim_user.user_id, scim_user.invitation_id = membership.id, account.id, None
        return "account created", account
    try:
        invitation = invitations.invite_for_provisioning(org, email, default_role, actor)
    except ServiceError as exc:
        raise ScimError(409, f"{email} is already provisioned in this organization under another userName.", "uniqueness") from exc
    scim_user.membership_id, scim_user.user_id, scim_user.invitation_id = None, None, invitation.id
    return "invitation emailed; joins when accepted", None


def create_user(org, body, actor, base_url):
    """POST /Users: the IdP's record of a person, tied to them as far as the org may (_provision_account)."""
    data = clean_resource(USER, body)
    _check_user_name(org.id, data.get("userName"), check_clash=False)
    email = _clean_account_email(data)
    known = _check_new_user(org.id, data["userName"], email)
    scim_user = ScimUser(org_id=org.id, active=True, version=1,
                         user_name=data["userName"].strip(), user_name_lower=data["userName"].strip().lower())
    _write_user(scim_user, data)
    # The create's events (member.added, scim.user.created) fan out together: endpoints and recipients
    # read once, each kind of outbox row written once.
    with together():
        how, account = _provision_account(org, scim_user, email, data, actor, known)
        db.session.add(scim_user)
        db.session.flush()
        emit(org, "scim.user.created", actor, _user_targets(scim_user, account),
             {**_user_payload(scim_user, account), "linked_existing_member": how == "linked to an existing member",
              "pending_invitation": scim_user.invitation_id is not None and scim_user.user_id is None})
    summary = f"created user {scim_user.user_name} ({how})"
    if data.get("active") is False:
        summary += "; " + _set_active(org, scim_user, False, actor)
    return scim_user, summary


def link_accepted_invitation(org, invitation, membership, actor):
    """The person accepted the invitation SCIM sent: the SCIM user now stands for their membership,
    with the state the IdP gave it meanwhile (active, groups and the roles they map to)."""
    scim_user = db.session.scalar(ScimUser.for_org(org.id).where(ScimUser.invitation_id == invitation.id,
                                                                 ScimUser.user_id.is_(None)))
    already_linked = db.session.scalar(select(ScimUser.id).where(ScimUser.membership_id == membership.id))
    if scim_user is None or already_linked is not None:
        return None  # an existing member accepted, whose membership another SCIM user already stands for
    scim_user.membership_id, scim_user.user_id = membership.id, membership.user_id
    _bump(scim_user)
    db.session.flush()
    if scim_user.active is False and membership.role != Role.owner:  # owners are out of SCIM's reach
        membership.deactivated_at = utcnow()
    sync_roles(org, {scim_user.id}, actor)
    return scim_user


def _user_data(scim_user, base_url):
    resource = user_resource(scim_user, base_url, groups=[])
    for key in ("schemas", "id", "meta", "groups"):
        resource.pop(key, None)
    return resource


def replace_user(org, scim_user, body, actor, base_url):
    """PUT /Users/{id} (RFC 7644 section 3.5.1): attributes left out are cleared; active left out is kept."""
    data = clean_resource(USER, body)
    return _update_user(org, scim_user, data, actor, base_url)


def patch_user(org, scim_user, body, actor, base_url):
    operations = read_operations(body)
    current = _user_data(scim_user, base_url)
    patched = Patcher(USER, current, str(scim_user.id)).apply(operations)
    data = clean_resource(USER, patched)
    # A PATCH that removed active leaves it unassigned (RFC 7644 section 3.5.2.2); elsewhere, active
    # left out keeps its value.
    unassign_active = "active" in current and "active" not in patched
    return _update_user(org, scim_user, data, actor, base_url, unassign_active)


def _update_user(org, scim_user, data, actor, base_url, unassign_active=False):
    _check_user_name(org.id, data.get("userName"), scim_user)
    before = _user_data(scim_user, base_url)
    _write_user(scim_user, data)
    db.session.flush()
    after = _user_data(scim_user, base_url)
    changed = _changed_attributes(before, after)
    summaries = []
    if changed:
        _bump(scim_user)
        account = db.session.get(User, scim_user.user_id) if scim_user.user_id else None
        email = _clean_account_email(data)
        if account is None:
            _repoint_invitation(org, scim_user, email, data, actor, summaries)
            account = db.session.get(User, scim_user.user_id) if scim_user.user_id else None
        elif account.is_managed_by(org.id):
            _sync_managed_account(org, scim_user, account, email)
        emit(org, "scim.user.updated", actor, _user_targets(scim_user, account),
             {**_user_payload(scim_user, account), "changed": changed})
        summaries.insert(0, f"updated {scim_user.user_name}: {', '.join(changed[:8])}")
    active = data.get("active")
    if (active is not None or unassign_active) and active != scim_user.active:
        summaries.append(_set_active(org, scim_user, active, actor))
    return scim_user, "; ".join(summaries) or f"no change to {scim_user.user_name}"


def _repoint_invitation(org, scim_user, email, data, actor, summaries):
    """A SCIM user not yet accepted whose email changed: the old invitation is revoked and the new
    address is provisioned as a create would be."""
    invitation = db.session.get(Invitation, scim_user.invitation_id) if scim_user.invitation_id else None
    if email is None or (invitation is not None and invitation.email == email):
        return
    _email_taken(org.id, email, scim_user)
    if invitation is not None and invitation.is_pending:
        invitations.revoke_invitation(org, invitation, actor)
    summaries.append(f"email changed: {_provision_account(org, scim_user, email, data, actor)[0]}")


def _sync_managed_account(org, scim_user, account, email):
    """An account the org manages follows its IdP: its name, and its email when the new address is on a
    domain the org verified and no other account has it (otherwise the account keeps its address and
    only the SCIM record changes). Any other account is the person's own and is never touched
    (docs/security.md 6.1)."""
    name = (scim_user.display_name or " ".join(p for p in (scim_user.name_given_name, scim_user.name_family_name) if p) or "").strip()
    if name:
        try:   # the same rules as a name typed on the account page (services/names.py)
            name = accounts.clean_user_name(name[:accounts.MAX_NAME])
        except ServiceError as exc:
            raise invalid_value(f"displayName: {exc.message}") from None
        if name != account.name:
            account.name = name
    if (email is not None and email != account.email and User.by_email(email) is None
            and domains.is_verified_for(org.id, domains.email_domain(email))):
        account.email = email


def _refuse_owner(membership, doing):
    """Owners are out of reach of SCIM (docs/security.md, Identity and trust): an IdP token, which an
    admin can hold, never deactivates, removes or re-roles an owner."""
    if membership is not None and membership.role == Role.owner:
        raise ScimError(403, f"This user is an owner of the organization, and owners are out of reach of SCIM: "
                             f"it cannot be {doing} by provisioning. An owner can change this person's role in "
                             f"Orgkit first, then retry.")


def _set_active(org, scim_user, active, actor):
    """active=false ends the person's access to this org at once: the membership is suspended and the
    API keys and SCIM tokens they created here are revoked. Only an account the org manages is also
    signed out everywhere (its session epoch bumped); a person's own account keeps its other orgs'
    sessions. A SCIM user not yet accepted just records the state, applied when they join.
    active=true restores the membership. The SCIM user stays readable either way."""
    membership = db.session.get(Membership, scim_user.membership_id) if scim_user.membership_id else None
    account = db.session.get(User, scim_user.user_id) if scim_user.user_id else None
    if active is False:
        _refuse_owner(membership, "deactivated")
    was_active = scim_user.active is not False
    scim_user.active = active
    _bump(scim_user)
    targets, payload = _user_targets(scim_user, account), _user_payload(scim_user, account)
    if active is not False:  # true, or unassigned (None), which counts as true
        if was_active:
            return f"active of {scim_user.user_name} unassigned"
        if membership is not None:
            membership.deactivated_at = None
        emit(org, "scim.user.reactivated", actor, targets, payload)
        return f"reactivated {scim_user.user_name}"
    if membership is None:
        emit(org, "scim.user.deactivated", actor, targets, {**payload, "api_keys_revoked": 0})
        return f"deactivated {scim_user.user_name} (not yet joined)"
    membership.deactivated_at = utcnow()
    # This org's grant ends in every session; only an account the org manages is signed out everywhere.
    sessions.end_org_grants(account.id, org.id)
    managed = account.is_managed_by(org.id)
    if managed:
        accounts.revoke_sessions(account, actor)
    revoked_keys, _ = credentials.revoke_credentials_created_by(org, account, actor, credentials.CREATOR_SUSPENDED)
    emit(org, "scim.user.deactivated", actor, targets, {**payload, "api_keys_revoked": revoked_keys})
    return (f"deactivated {scim_user.user_name}: " + ("sessions ended everywhere" if managed else "access to this organization suspended")
            + (f", {revoked_keys} API keys revoked" if revoked_keys else ""))


def delete_user(org, scim_user, actor):
    """DELETE /Users/{id}: the membership is removed (the account stays: it may belong to other orgs);
    an invitation not yet accepted is revoked."""
    membership = db.session.get(Membership, scim_user.membership_id) if scim_user.membership_id else None
    account = db.session.get(User, scim_user.user_id) if scim_user.user_id else None
    _refuse_owner(membership, "removed")
    payload = _user_payload(scim_user, account)
    user_name = scim_user.user_name
    emit(org, "scim.user.deleted", actor, _user_targets(scim_user, account), payload)
    invitation = db.session.get(Invitation, scim_user.invitation_id) if scim_user.invitation_id else None
    db.session.execute(delete(ScimGroupMember).where(ScimGroupMember.scim_user_id == scim_user.id))
    db.session.delete(scim_user)
    db.session.flush()
    if membership is None:
        if invitation is not None and invitation.is_pending:
            invitations.revoke_invitation(org, invitation, actor)
        return f"deleted {user_name}: invitation revoked"
    # The IdP acts with an admin's reach; owners were refused above.
    try:
        org_service.remove_member(org, membership, actor, acting_role=Role.admin, reason="deprovisioned")
    except ServiceError as exc:
        raise ScimError(403, exc.message) from None
    return f"deleted {user_name}: membership removed"


# --- Groups ----------------------------------------------------------------------------------------

def _check_display_name(org_id, display_name, group=None):
    if not isinstance(display_name, str) or not display_name.strip():
        raise invalid_value("'displayName' is required.")
    check_length(ScimGroup, "display_name", display_name.strip(), "displayName")
    clash = db.session.scalar(
        select(ScimGroup.id).where(ScimGroup.org_id == org_id, ScimGroup.display_name_lower == display_name.strip().lower())
    )
    if clash is not None and (group is None or clash != group.id):
        raise ScimError(409, f"A group named {display_name!r} already exists in this organization.", "uniqueness")


def _member_ids(org_id, values, unknown_ok=False):
    """SCIM user ids of this org named by a members list; any other id is refused (400), or skipped
    when unknown_ok (removing a member that no longer exists)."""
    wanted = {}
    for item in values:
        parsed = parse_uuid(item.get("value")) if isinstance(item, dict) else None
        if parsed is None:
            if unknown_ok:
                continue
            raise invalid_value(f"Member {item.get('value') if isinstance(item, dict) else item!r} is not a User id.")
        wanted[parsed] = item.get("value")
    if not wanted:
        return set()
    found = set(db.session.scalars(
        select(ScimUser.id).where(ScimUser.org_id == org_id, ScimUser.id.in_(list(wanted)))
    ).all())
    missing = [raw for uid, raw in wanted.items() if uid not in found]
    if missing and not unknown_ok:
        # Other orgs' ids are unknown here, exactly like ids that never existed.
        raise invalid_value(f"Member {missing[0]!r} is not a User of this organization.")
    return found


def _current_members(group):
    return set(db.session.scalars(select(ScimGroupMember.scim_user_id).where(ScimGroupMember.group_id == group.id)).all())


def _add_members(group, ids):
    present = _current_members(group)
    added = [uid for uid in ids if uid not in present]
    for uid in added:
        db.session.add(ScimGroupMember(org_id=group.org_id, group_id=group.id, scim_user_id=uid))
    return set(added)


def _remove_members(group, ids):
    present = _current_members(group)
    removed = {uid for uid in ids if uid in present}
    if removed:
        db.session.execute(delete(ScimGroupMember).where(
            ScimGroupMember.group_id == group.id, ScimGroupMember.scim_user_id.in_(list(removed))
        ))
    return removed


def _remove_members_matching(group, value_filter):
    """remove members[value eq "..."] (and any filter on value/display), evaluated in SQL."""
    translator = FilterTranslator("Group")
    members = translator.table["members"]
    condition = translator._inner(members, value_filter)
    from models import ScimUser as Member
    ids = set(db.session.scalars(
        select(ScimGroupMember.scim_user_id)
        .join(Member, Member.id == ScimGroupMember.scim_user_id)
        .where(ScimGroupMember.group_id == group.id, condition)
    ).all())
    return _remove_members(group, ids)


def _write_group(group, data):
    group.display_name = data["displayName"].strip()
    group.display_name_lower = group.display_name.lower()
    group.external_id = check_length(ScimGroup, "external_id", data.get("externalId"), "externalId")


def _group_payload(group):
    return {"group": {"id": str(group.id), "displayName": group.display_name, "externalId": group.external_id,
                      "role": group.role.value if group.role else None}}


def _member_names(ids):
    if not ids:
        return []
    return sorted(db.session.scalars(select(ScimUser.user_name).where(ScimUser.id.in_(list(ids)))).all())


def _finish_group_change(org, group, actor, event, changed, added, removed):
    if event == "scim.group.updated" and not (changed or added or removed):
        return f"no change to group {group.display_name}"
    _bump(group)
    db.session.flush()
    data = {**_group_payload(group), "changed": changed,
            "members_added": _member_names(added)[:100], "members_removed": _member_names(removed)[:100]}
    emit(org, event, actor, [group_target(group)], data)
    if group.role is not None and (added or removed):
        sync_roles(org, added | removed, actor)
    parts = []
    if changed:
        parts.append("changed " + ", ".join(changed))
    if added:
        parts.append(f"added {len(added)} member{'s' if len(added) != 1 else ''}")
    if removed:
        parts.append(f"removed {len(removed)} member{'s' if len(removed) != 1 else ''}")
    verb = "created" if event == "scim.group.created" else "updated"
    return f"{verb} group {group.display_name}" + (": " + "; ".join(parts) if parts else "")


def create_group(org, body, actor):
    data = clean_resource(GROUP, body)
    _check_display_name(org.id, data.get("displayName"))
    ids = _member_ids(org.id, data.get("members") or [])
    group = ScimGroup(org_id=org.id, version=0, display_name="", display_name_lower="")
    _write_group(group, data)
    db.session.add(group)
    db.session.flush()
    added = _add_members(group, ids)
    return group, _finish_group_change(org, group, actor, "scim.group.created", [], added, set())


def replace_group(org, group, body, actor):
    data = clean_resource(GROUP, body)
    _check_display_name(org.id, data.get("displayName"), group)
    ids = _member_ids(org.id, data.get("members") or [])
    changed = _group_changes(group, data)
    _write_group(group, data)
    present = _current_members(group)
    removed = _remove_members(group, present - ids)
    added = _add_members(group, ids)
    return group, _finish_group_change(org, group, actor, "scim.group.updated", changed, added, removed)


def _group_changes(group, data):
    changed = []
    if data["displayName"].strip() != group.display_name:
        changed.append("displayName")
    if data.get("externalId") != group.external_id:
        changed.append("externalId")
    return changed


def patch_group(org, group, body, actor):
    operations = read_operations(body)
    current = {"displayName": group.display_name}
    if group.external_id is not None:
        current["externalId"] = group.external_id
    patcher = Patcher(GROUP, current, str(group.id), member_attribute="members")
    patched = patcher.apply(operations)
    data = clean_resource(GROUP, patched)
    _check_display_name(org.id, data.get("displayName"), group)
    changed = _group_changes(group, data)
    _write_group(group, data)
    added, removed = set(), set()
    for operation in patcher.member_operations:
        if operation.value_filter is not None:
            removed |= _remove_members_matching(group, operation.value_filter)
        elif operation.op == "remove":
            if operation.values is None:
                removed |= _remove_members(group, _current_members(group))  # remove "members": all of them
            else:
                # Entra removes a member after deleting the user, so the id may be gone: removing
                # what is not there is a no-op, and the rest of the PATCH still applies.
                removed |= _remove_members(group, _member_ids(org.id, operation.values, unknown_ok=True))
        elif operation.op == "replace":
            ids = _member_ids(org.id, operation.values)
            removed |= _remove_members(group, _current_members(group) - ids)
            added |= _add_members(group, ids)
        else:
            added |= _add_members(group, _member_ids(org.id, operation.values))
    both = added & removed
    added, removed = added - both, removed - both
    return group, _finish_group_change(org, group, actor, "scim.group.updated", changed, added, removed)


def delete_group(org, group, actor):
    members = _current_members(group)
    name = group.display_name
    had_role = group.role is not None
    emit(org, "scim.group.deleted", actor, [group_target(group)], _group_payload(group))
    db.session.delete(group)
    db.session.flush()
    if had_role and members:
        sync_roles(org, members, actor)
    return f"deleted group {name}"


# --- Roles from groups -----------------------------------------------------------------------------

def roles_managed(org_id):
    """SCIM manages roles once any group of the org is mapped to a role."""
    return db.session.scalar(
        select(func.count(ScimGroup.id)).where(ScimGroup.org_id == org_id, ScimGroup.role.is_not(None))
    ) > 0


def sync_roles(org, scim_user_ids, actor):
    """Give each provisioned person the highest role among their mapped groups (or the default role).
    Owners are left alone: an IdP never grants or removes ownership."""
    if not scim_user_ids or not roles_managed(org.id):
        return
    config = ensure_config(org)
    mapped = {}
    for scim_user_id, role in db.session.execute(
        select(ScimGroupMember.scim_user_id, ScimGroup.role)
        .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
        .where(ScimGroupMember.scim_user_id.in_(list(scim_user_ids)), ScimGroup.role.is_not(None))
    ).all():
        if role in _RANK and _RANK[role] > _RANK.get(mapped.get(scim_user_id), 0):
            mapped[scim_user_id] = role
    rows = db.session.execute(
        select(ScimUser, Membership).join(Membership, Membership.id == ScimUser.membership_id)
        .where(ScimUser.org_id == org.id, ScimUser.id.in_(list(scim_user_ids)))
    ).all()
    for scim_user, membership in rows:
        if membership.role == Role.owner:
            continue
        wanted = mapped.get(scim_user.id, config.default_role)
        if wanted != membership.role:
            _change_role(org, membership, wanted, actor)


def _change_role(org, membership, role, actor):
    org_service.change_role(org, membership, role, actor, acting_role=Role.admin)


def all_member_ids(group):
    return _current_members(group)


__all__ = [
    "MAPPABLE_ROLES", "config_for", "ensure_config", "list_page", "create_user", "replace_user", "patch_user",
    "delete_user", "create_group", "replace_group", "patch_group", "delete_group", "sync_roles", "parse_filter",
    "user_resource",
]
