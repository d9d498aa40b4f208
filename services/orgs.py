"""Workspaces and memberships."""
import re
import secrets

from sqlalchemy import delete as sqla_delete, func, select

import db_scope
from extensions import db
from models import Membership, Organization, Role
from services import ServiceError
from services.events import emit, target, user_target
from services.names import clean_name

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")
RESERVED_SLUGS = {"new", "settings", "admin", "api", "app", "scim", "sso", "static", "www"}


def org_target(org):
    return target("org", org.id, org.slug)


def org_payload(org):
    return {"id": str(org.id), "slug": org.slug, "name": org.name}


def slugify(name):
    slug = re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")[:60].strip("-")
    return slug or "workspace"


def clean_org_name(name):
    return clean_name(name, 100, "Enter a name for the workspace.")


def check_slug(slug, org=None):
    if not SLUG_RE.match(slug or ""):
        raise ServiceError("Use 1 to 60 lowercase letters, digits and dashes, not starting or ending with a dash.", field="slug")
    if slug in RESERVED_SLUGS:
        raise ServiceError("That address is reserved. Choose another.", field="slug")
    existing = Organization.by_slug(slug)
    if existing is not None and existing is not org:
        raise ServiceError("That address is taken. Choose another.", field="slug", code="conflict")


def _free_slug(base):
    slug = base
    while Organization.by_slug(slug) is not None or slug in RESERVED_SLUGS:
        slug = f"{base[:53]}-{secrets.token_hex(3)}"
    return slug


def create_org(name, owner, actor, slug=None):
    """A new workspace whose creator is its first owner."""
    name = clean_org_name(name)
    if slug:
        check_slug(slug)
    else:
        slug = _free_slug(slugify(name))
    org = Organization(name=name, slug=slug)
    db.session.add(org)
    db.session.flush()
    emit(org, "org.created", actor, [org_target(org)], {"org": org_payload(org)})
    add_member(org, owner, Role.owner, actor)
    return org


def add_member(org, user, role, actor, new_account=False):
    """user joins org with role. new_account: the account was made in this transaction, so it can be a
    member of nothing yet, and that is not looked up."""
    role = Role(role)
    existing = None if new_account else db.session.scalar(
        select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id))
    if existing is not None:
        raise ServiceError(f"{user.email} is already a member of {org.name}.", field="email", code="conflict")
    membership = Membership(org_id=org.id, user_id=user.id, role=role)
    db.session.add(membership)
    db.session.flush()
    emit(org, "member.added", actor, [user_target(user)], {"user": user_payload(user), "role": role.value})
    return membership


def user_payload(user):
    return {"id": str(user.id), "email": user.email, "name": user.name}


def member_count(org_id):
    return db.session.scalar(select(func.count()).select_from(Membership).where(Membership.org_id == org_id))


# --- Roles, removal, leaving, renaming, deleting ---------------------------------------------------
#
# Every verb below is shared by the browser pages, the JSON API (API keys) and SCIM. Each takes the
# Actor (who is acting, for the audit log) and, where a rule depends on it, acting_role: the Role the
# actor holds in this org (an API key or SCIM token passes the role its scope stands for; None means
# Orgkit or an operator acting with full authority). They flush, emit their event, and never commit.
# Refusals raise ServiceError: code "forbidden" when the actor's role does not allow it, "last_owner"
# when the change would leave the org without an owner, "invalid" for bad input.

ROLE_CHOICES = ", ".join(role.value for role in Role)


def parse_role(value):
    """The Role named by value, or ServiceError naming the valid roles."""
    try:
        return Role(value)
    except ValueError:
        raise ServiceError(f"Choose a role: {ROLE_CHOICES}.", field="role") from None


def _may(acting_role, permission):
    from permissions import role_can
    return acting_role is None or role_can(acting_role, permission)


def _active_owner_ids(org):
    """Ids of the org's active owners, rows locked (PostgreSQL) so two owners demoting each other at
    the same moment cannot both succeed and leave the org with none."""
    return set(db.session.scalars(
        select(Membership.id)
        .where(Membership.org_id == org.id, Membership.role == Role.owner, Membership.deactivated_at.is_(None))
        .with_for_update()
    ))


def _refuse_if_last_owner(org, membership, message):
    if membership.role != Role.owner or not membership.is_active:
        return
    if _active_owner_ids(org) <= {membership.id}:
        raise ServiceError(message, field="role", code="last_owner")


def _check_may_manage(membership, acting_role, new_role=None):
    if not _may(acting_role, "members.manage"):
        raise ServiceError("Your role can't change members.", code="forbidden")
    touches_ownership = membership.role == Role.owner or new_role == Role.owner
    if touches_ownership and not _may(acting_role, "owners.manage"):
        raise ServiceError("Only owners can grant or remove ownership.", field="role", code="forbidden")


def change_role(org, membership, new_role, actor, acting_role=None):
    """Give membership (of org) new_role. Emits member.role_changed; a no-op when the role is unchanged.

    Refused when acting_role lacks members.manage, when a non-owner touches ownership (granting it or
    changing an owner), and when membership is the org's last active owner.
    """
    new_role = parse_role(new_role)
    _assert_in_org(org, membership)
    _check_may_manage(membership, acting_role, new_role)
    if membership.role == new_role:
        return membership
    _refuse_if_last_owner(
        org, membership,
        f"{membership.user.name} is the last owner of {org.name}. Make someone else an owner first.",
    )
    previous = membership.role
    membership.role = new_role
    db.session.flush()
    emit(org, "member.role_changed", actor, [user_target(membership.user)],
         {"user": user_payload(membership.user), "role": new_role.value, "previous_role": Role(previous).value})
    from services import credentials
    credentials.revoke_credentials_beyond_role(org, membership, actor)
    return membership


REMOVAL_REASONS = ("removed", "left", "deprovisioned")


def remove_member(org, membership, actor, acting_role=None, reason="removed"):
    """Take membership's user out of org. Emits member.removed with reason (removed, left, deprovisioned).

    Refused when acting_role lacks members.manage, when a non-owner removes an owner, and for the
    org's last active owner. People remove themselves with leave_org().
    """
    if reason not in REMOVAL_REASONS:
        raise ValueError(f"reason must be one of {REMOVAL_REASONS}")
    _assert_in_org(org, membership)
    if reason != "left":
        _check_may_manage(membership, acting_role)
        if actor.user_id is not None and actor.user_id == membership.user_id:
            raise ServiceError("To remove yourself, leave the workspace from its settings.", code="forbidden")
    _refuse_if_last_owner(
        org, membership,
        f"{membership.user.name} is the last owner of {org.name}. Make someone else an owner first."
        if reason != "left" else
        f"You are the last owner of {org.name}. Make someone else an owner first, or delete the workspace.",
    )
    user, role = membership.user, Role(membership.role)
    db.session.delete(membership)
    db.session.flush()
    from services import sessions
    sessions.end_org_grants(user.id, org.id)  # this org's SSO grants only; other orgs' stay open
    emit(org, "member.removed", actor, [user_target(user)],
         {"user": user_payload(user), "role": role.value, "reason": reason})
    # API keys and SCIM tokens they created act with their reach, which they no longer have.
    from services import credentials
    credentials.revoke_credentials_created_by(org, user, actor, credentials.CREATOR_REMOVED)


def leave_org(org, membership, actor):
    """The member removes themself (any role); the last active owner is refused."""
    remove_member(org, membership, actor, reason="left")


def update_org(org, actor, name=None, slug=None):
    """Rename org and/or change its slug (URL). Emits org.updated with {field: [old, new]} changes.

    Returns the changes (empty when nothing changed, and then no event is emitted).
    """
    changes = {}
    if name is not None:
        name = clean_org_name(name)
        if name != org.name:
            changes["name"] = [org.name, name]
    if slug is not None:
        slug = (slug or "").strip().lower()
        if slug != org.slug:
            check_slug(slug, org)
            changes["slug"] = [org.slug, slug]
    if not changes:
        return changes
    if "name" in changes:
        org.name = name
    if "slug" in changes:
        org.slug = slug
    db.session.flush()
    emit(org, "org.updated", actor, [org_target(org)], {"org": org_payload(org), "changes": changes})
    return changes


rename_org = update_org


def delete_org(org, actor, confirmation):
    """Delete org and everything it owns (the database cascades from organizations.id).

    confirmation must equal the org's slug (typed confirmation). The org.deleted audit event outlives
    the org: it is written first, then detached (org_id NULL) with the org's id, slug and name in its
    data, so operators can still find who deleted what and when.
    """
    if (confirmation or "").strip() != org.slug:
        raise ServiceError(f"Type {org.slug} to confirm.", field="confirmation")
    from models import AuditEvent

    event = emit(org, "org.deleted", actor, [org_target(org)], {"org": org_payload(org)})
    # The org is going away: the rest of this transaction is no longer walled to it, so the event can
    # leave it (row-level security would refuse an org row turned into no org's row: db_scope.py).
    db_scope.unbind_org()
    event.org_id = None
    db.session.flush()
    org_id = org.id
    db.session.expunge(org)
    db.session.execute(sqla_delete(Organization).where(Organization.id == org_id))
    # Rows of the org still in the session were deleted by the cascade: forget them.
    for obj in list(db.session.identity_map.values()):
        if getattr(obj, "org_id", None) == org_id and not isinstance(obj, AuditEvent):
            db.session.expunge(obj)


def _assert_in_org(org, membership):
    # Callers load memberships org-scoped; this guards any caller that did not.
    if membership.org_id != org.id:
        raise ServiceError("That person is not a member of this workspace.", code="not_found")


def pending_invitation_count(org_id):
    from models import Invitation, utcnow
    return db.session.scalar(
        select(func.count()).select_from(Invitation).where(
            Invitation.org_id == org_id, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
    )


def active_owner_count(org_id):
    return db.session.scalar(
        select(func.count()).select_from(Membership).where(
            Membership.org_id == org_id, Membership.role == Role.owner, Membership.deactivated_at.is_(None)
        )
    )


# --- Reading members -------------------------------------------------------------------------------

MEMBERS_PER_PAGE = 50


class MembersPage:
    """One page of an org's members (with their users), searched and counted in SQL."""

    def __init__(self, rows, total, number, per_page):
        self.rows, self.total, self.number, self.per_page = rows, total, number, per_page

    @property
    def pages(self):
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self):
        return self.number > 1

    @property
    def has_next(self):
        return self.number < self.pages

    @property
    def first_index(self):
        return (self.number - 1) * self.per_page + 1 if self.rows else 0


def members_page(org_id, search=None, page=1, per_page=MEMBERS_PER_PAGE):
    """Members of org_id whose name or email contains search (case-insensitive), by name. One query
    whatever the page size: the rows (users joined in) with the total as a window count beside them.
    A page past the last one (the list shrank) costs a COUNT and the last page's rows besides."""
    from sqlalchemy.orm import contains_eager, lazyload
    from models import User

    query = Membership.for_org(org_id).join(User, User.id == Membership.user_id)
    search = (search or "").strip()[:254]
    if search:
        pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(db.or_(func.lower(User.name).like(pattern, escape="\\"),
                                   func.lower(User.email).like(pattern, escape="\\")))

    def rows_of(number):
        result = db.session.execute(
            query.add_columns(func.count(Membership.id).over().label("total"))
            .options(contains_eager(Membership.user), lazyload(Membership.org))
            .order_by(func.lower(User.name), User.email, Membership.id)
            .offset((number - 1) * per_page).limit(per_page)
        ).all()
        return [row[0] for row in result], (result[0].total if result else None)

    page = max(1, page)
    rows, total = rows_of(page)
    if total is None and page == 1:
        total = 0
    elif total is None:
        total = db.session.scalar(query.with_only_columns(func.count(Membership.id)).order_by(None))
        last_page = max(1, -(-total // per_page))
        if page > last_page:
            page = last_page
            rows, _ = rows_of(page)
    return MembersPage(rows, total, page, per_page)
