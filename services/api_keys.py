"""Org API keys: creating (shown once, stored as SHA-256), revoking, and checking one on a request.

A key reads "ok_live_" + 32 base62 characters (190 random bits) + a 6-character checksum, so secret
scanners can recognise it and a mistyped or truncated key is refused without a database lookup
(docs/security.md section 6). Scopes are hierarchical and stand for a role's reach in the org (the
acting_role of services/orgs.py): read = every GET, write = what an admin may change, admin = what an
owner may change. A key never reaches further than its creator's current role in the org.
"""
import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.orm import lazyload

from db_scope import lookup_binds
from extensions import db
from models import ApiKey, Membership, Organization, Role, User, utcnow
from permissions import role_can
from services import ServiceError, names
from services.events import emit, target

KEY_PREFIX = "ok_live_"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LENGTH = 32          # 32 * log2(62) = 190 random bits
_CHECKSUM_LENGTH = 6
KEY_PATTERN = re.compile(rf"{KEY_PREFIX}[0-9A-Za-z]{{{_BODY_LENGTH + _CHECKSUM_LENGTH}}}")
MAX_NAME = 100
# last_used is written at most this often per key (or when the IP changes): a write per request would
# cost more than the key check itself (issue 5, performance).
LAST_USED_GRANULARITY = timedelta(minutes=1)

SCOPES = ("read", "write", "admin")
SCOPE_DESCRIPTIONS = {
    "read": "Read the workspace, members, invitations, webhooks, the audit log and the events feed.",
    "write": "Also change what an admin can: members' roles, removals, invitations, webhook endpoints, the workspace's name.",
    "admin": "Also what only owners can: grant or remove ownership.",
}
# The role each scope acts as (services/orgs.py acting_role).
SCOPE_ROLES = {"read": Role.admin, "write": Role.admin, "admin": Role.owner}
_ROLE_RANK = {Role.viewer: 0, Role.member: 1, Role.admin: 2, Role.owner: 3}
# The widest scope a person of each role may give a key they create.
_MAX_SCOPE_FOR_ROLE = {Role.owner: "admin", Role.admin: "write"}


def hash_key(key):
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _checksum(body):
    value = zlib.crc32(body.encode("ascii"))
    digits = []
    for _ in range(_CHECKSUM_LENGTH):
        value, rest = divmod(value, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits))


def generate_key():
    body = "".join(secrets.choice(_BASE62) for _ in range(_BODY_LENGTH))
    return KEY_PREFIX + body + _checksum(body)


def is_well_formed(key):
    """Prefix, length, alphabet and checksum: a truncated or mistyped key fails without a lookup."""
    if not key or not KEY_PATTERN.fullmatch(key):
        return False
    body = key[len(KEY_PREFIX):]
    return hmac.compare_digest(_checksum(body[:_BODY_LENGTH]), body[_BODY_LENGTH:])


def key_target(key):
    return target("api_key", key.id, f"{key.name} ({key.prefix}…{key.last_four})")


def key_payload(key):
    return {"id": str(key.id), "name": key.name, "prefix": key.prefix, "last_four": key.last_four,
            "scopes": list(key.scopes), "expires_at": key.expires_at.isoformat() if key.expires_at else None}


def expand_scopes(scopes):
    """The scopes as stored: each one with the narrower ones it includes. ServiceError for unknown ones."""
    chosen = set()
    for name in scopes or []:
        if name not in SCOPES:
            raise ServiceError(f"Unknown scope {str(name)[:40]!r}: choose read, write or admin.", field="scopes")
        chosen.add(name)
    if not chosen:
        raise ServiceError("Choose at least one scope.", field="scopes")
    widest = max(SCOPES.index(name) for name in chosen)
    return list(SCOPES[:widest + 1])


def scopes_for_role(role):
    """The scopes a person of this role may give a key (owners all three, admins read and write)."""
    widest = _MAX_SCOPE_FOR_ROLE.get(Role(role)) if role is not None else "admin"
    return list(SCOPES[:SCOPES.index(widest) + 1]) if widest else []


def clean_name(name):
    return names.clean_name(name, MAX_NAME, "Give the key a name that says what uses it.")


def create_key(org, name, scopes, actor, created_by=None, creator_role=None, expires_at=None):
    """A new key for org. Returns (row, key); the key itself is never stored.

    creator_role (the creating person's role in org) caps the scopes: an admin cannot make a key that
    acts as an owner. None means an operator (CLI), who may give any scope.
    """
    name = clean_name(name)
    scopes = expand_scopes(scopes)
    if scopes[-1] not in scopes_for_role(creator_role):
        raise ServiceError("Only owners can create keys with the admin scope.", field="scopes", code="forbidden")
    if expires_at is not None and expires_at <= utcnow():
        raise ServiceError("Choose an expiry date in the future, or none.", field="expires_at")
    key = generate_key()
    row = ApiKey(org_id=org.id, name=name, prefix=key[:len(KEY_PREFIX) + 4], last_four=key[-4:],
                 key_hash=hash_key(key), scopes=scopes, created_by_id=getattr(created_by, "id", None),
                 created_by_label=actor.label[:254], expires_at=expires_at)
    db.session.add(row)
    db.session.flush()
    emit(org, "api_key.created", actor, [key_target(row)], {"api_key": key_payload(row)})
    return row, key


def revoke_key(org, key, actor, reason="revoked"):
    """The key stops working on its next request. A no-op for a key already revoked."""
    if key.org_id != org.id:
        raise ServiceError("That key belongs to another workspace.", code="not_found")
    if key.revoked_at is not None:
        return key
    key.revoked_at = utcnow()
    key.revoked_reason = reason
    db.session.flush()
    emit(org, "api_key.revoked", actor, [key_target(key)], {"api_key": key_payload(key), "reason": reason})
    return key


def revoke_keys_created_by(org, account, actor, reason="creator_removed"):
    """Revoke every live key account created in org (they were removed or suspended there).
    Returns how many were revoked. Called through services.credentials for both credential kinds."""
    keys = db.session.scalars(
        ApiKey.for_org(org.id).where(ApiKey.created_by_id == account.id, ApiKey.revoked_at.is_(None))
    ).all()
    for key in keys:
        revoke_key(org, key, actor, reason=reason)
    return len(keys)


def keys_of_org(org_id):
    return db.session.scalars(ApiKey.for_org(org_id).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())).all()


# --- Checking a key on a request -------------------------------------------------------------------

@dataclass(frozen=True)
class Credential:
    """A key that passed every check, with what it may do in its org."""

    key: ApiKey
    org: Organization
    acting_role: Role

    def has_scope(self, scope):
        return scope in (self.key.scopes or [])


class KeyRefused(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


@lru_cache(maxsize=2)
def _key_lookup(dialect_name):
    # Built once: constructing the statement costs about as much as running it (bench/api.py).
    # On PostgreSQL the lookup also binds the key's org for row-level security (db_scope).
    return (
        select(ApiKey, Organization, Membership.role, Membership.deactivated_at, User.is_deactivated,
               *lookup_binds(ApiKey.org_id, dialect_name))
        .join(Organization, Organization.id == ApiKey.org_id)
        .outerjoin(User, User.id == ApiKey.created_by_id)
        .outerjoin(Membership, and_(Membership.org_id == ApiKey.org_id, Membership.user_id == ApiKey.created_by_id))
        .where(ApiKey.key_hash == bindparam("digest"))
        .options(lazyload(ApiKey.created_by))
    )


def authenticate(raw_key, now=None):
    """The Credential for a live key, or KeyRefused saying why. One indexed SELECT by the key's
    SHA-256 (the creator's account and membership joined in), so the comparison never touches the
    secret; the digest is compared again in constant time. On PostgreSQL the same statement binds
    the key's org for row-level security: follow with bind_org(org, set_by_lookup=True)."""
    if not is_well_formed(raw_key):
        raise KeyRefused("Send a valid API key: Authorization: Bearer ok_live_...")
    digest = hash_key(raw_key)
    row = db.session.execute(_key_lookup(db.session.get_bind().dialect.name), {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row[0].key_hash, digest):
        raise KeyRefused("This API key is not valid.")
    key, org, creator_role, creator_deactivated_at, account_deactivated = row[:5]
    now = now or utcnow()
    if key.revoked_at is not None:
        raise KeyRefused("This API key was revoked.")
    if key.is_expired(now):
        raise KeyRefused("This API key has expired.")
    acting_role = SCOPE_ROLES[key.scope]
    if key.created_by_id is not None:
        # Revocation on removal is the rule (revoke_keys_created_by); this check also covers an
        # account deactivated everywhere, whose keys must fail at once.
        if creator_role is None or creator_deactivated_at is not None or account_deactivated:
            raise KeyRefused("This API key's creator no longer has access to the workspace.")
        if _ROLE_RANK[Role(creator_role)] < _ROLE_RANK[acting_role]:
            acting_role = Role(creator_role)
    return Credential(key, org, acting_role)


def required_scope(permission, method):
    """The scope an API operation needs: read for GET, admin where only owners hold the permission,
    write for every other change."""
    if method in ("GET", "HEAD"):
        return "read"
    return "write" if role_can(Role.admin, permission) else "admin"


def record_use(key, ip, now=None):
    """Remember when and from where a key was last used: written when a minute has passed or the IP
    changed. The caller commits."""
    now = now or utcnow()
    if key.last_used_at is not None and key.last_used_ip == ip and now - key.last_used_at < LAST_USED_GRANULARITY:
        return False
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now, last_used_ip=ip))
    return True


def parse_expiry(value):
    """The expires_at of a key that works through the given date (UTC), or a datetime as given, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1), time.min, timezone.utc)
    raise ServiceError("Use a date like 2030-12-31.", field="expires_at")
