"""Workspaces and memberships."""
import re
import secrets

from sqlalchemy import func, select

from extensions import db
from models import Membership, Organization, Role
from services import ServiceError
from services.events import emit, target, user_target

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
    name = (name or "").strip()
    if not name:
        raise ServiceError("Enter a name for the workspace.", field="name")
    if len(name) > 100:
        raise ServiceError("Use at most 100 characters.", field="name")
    return name


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


def add_member(org, user, role, actor):
    role = Role(role)
    existing = db.session.scalar(select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id))
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
