"""The org admin's side of SCIM: turning it on, bearer tokens (shown once, stored as SHA-256, two live
at once so rotation has an overlap), group-to-role mapping, the request log."""
from datetime import timedelta
import hashlib
import hmac
import secrets

from sqlalchemy import and_, delete, func, select, update

from db_scope import lookup_binds
from extensions import db
from models import Membership, Organization, Role, ScimConfig, ScimGroup, ScimRequestLog, ScimToken, User, utcnow
from permissions import role_can
from services import ServiceError
from services.events import emit, target
from services.scim.provisioning import MAPPABLE_ROLES, all_member_ids, ensure_config, sync_roles

TOKEN_PREFIX = "okscim_"
MAX_LIVE_TOKENS = 2
REQUEST_LOG_KEEP = 500


def hash_token(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_target(token):
    return target("scim_token", token.id, token.prefix)


def live_tokens(org_id):
    return db.session.scalars(
        ScimToken.for_org(org_id).where(ScimToken.revoked_at.is_(None)).order_by(ScimToken.created_at)
    ).all()


def set_enabled(org, enabled, actor):
    config = ensure_config(org)
    if config.enabled == enabled:
        return config
    config.enabled = enabled
    db.session.flush()
    emit(org, "scim.enabled" if enabled else "scim.disabled", actor, [target("org", org.id, org.slug)],
         {"enabled": enabled})
    return config


def create_token(org, actor):
    """A new token: 256 random bits after a recognisable prefix. Returns (row, token); the token
    itself is never stored (DESIGN.md section 7)."""
    if len(live_tokens(org.id)) >= MAX_LIVE_TOKENS:
        raise ServiceError(
            f"Two tokens are already live. Revoke the old one once your identity provider uses the new one, "
            f"then generate another.", code="conflict",
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ScimToken(org_id=org.id, prefix=token[:len(TOKEN_PREFIX) + 4], token_hash=hash_token(token),
                    created_by_label=actor.label, created_by_id=actor.user_id)
    db.session.add(row)
    db.session.flush()
    emit(org, "scim.token.created", actor, [token_target(row)], {"token": {"id": str(row.id), "prefix": row.prefix}})
    return row, token


def revoke_token(org, token, actor, reason="revoked"):
    """The token stops working on its next request. reason: "revoked" (an owner did it) or one of
    services.credentials.CREATOR_REASONS; the SCIM page and the security notice say which."""
    if token.revoked_at is not None:
        return token
    token.revoked_at = utcnow()
    token.revoked_reason = reason
    db.session.flush()
    emit(org, "scim.token.revoked", actor, [token_target(token)],
         {"token": {"id": str(token.id), "prefix": token.prefix}, "reason": reason, "creator": token.created_by_label})
    return token


def revoke_tokens_created_by(org, account, actor, reason):
    """Revoke the live tokens account generated in org (services.credentials decides when)."""
    tokens = db.session.scalars(
        ScimToken.for_org(org.id).where(ScimToken.created_by_id == account.id, ScimToken.revoked_at.is_(None))
    ).all()
    for token in tokens:
        revoke_token(org, token, actor, reason=reason)
    return len(tokens)


REVOCATION_REASONS = {
    "revoked": "Revoked by {actor}.",
    "creator_removed": "Revoked automatically: {creator} left the workspace.",
    "creator_suspended": "Revoked automatically: {creator} was deactivated in this workspace.",
    "creator_lost_permission": "Revoked automatically: {creator} is no longer an owner.",
}


def revocation_note(token):
    """Why a revoked token stopped working, in words for the SCIM page."""
    template = REVOCATION_REASONS.get(token.revoked_reason or "revoked", REVOCATION_REASONS["revoked"])
    return template.format(creator=token.created_by_label, actor="an owner")


def authenticate(raw_token):
    """(token, org, config) for a live bearer token, else None. The lookup is by SHA-256, so the
    comparison never touches the secret; the digest is compared again in constant time. On
    PostgreSQL the same statement binds the token's org for row-level security (db_scope): follow
    with bind_org(org, set_by_lookup=True)."""
    if not raw_token or not raw_token.startswith(TOKEN_PREFIX) or len(raw_token) > 200:
        return None
    digest = hash_token(raw_token)
    row = db.session.execute(
        select(ScimToken, Organization, ScimConfig, Membership.role, Membership.deactivated_at, User.is_deactivated,
               *lookup_binds(ScimToken.org_id, db.session.get_bind().dialect.name))
        .join(Organization, Organization.id == ScimToken.org_id)
        .outerjoin(ScimConfig, ScimConfig.org_id == ScimToken.org_id)
        .outerjoin(User, User.id == ScimToken.created_by_id)
        .outerjoin(Membership, and_(Membership.org_id == ScimToken.org_id, Membership.user_id == ScimToken.created_by_id))
        .where(ScimToken.token_hash == digest, ScimToken.revoked_at.is_(None))
    ).first()
    if row is None or not hmac.compare_digest(row[0].token_hash, digest):
        return None
    token, org, config, creator_role, creator_suspended_at, creator_deactivated = row[:6]
    if token.created_by_id is not None and (
        creator_role is None or creator_suspended_at is not None or creator_deactivated
        or not role_can(creator_role, "trust.manage")
    ):
        # Revocation when the creator loses access is the rule (services/credentials.py); this check
        # also covers an account deactivated everywhere, as API keys do.
        return None
    return token, org, config


# "Last used" is shown to the minute; writing it on every call would add a write per request.
LAST_USED_PRECISION = timedelta(minutes=1)


def touch_token(token_id, last_used_at):
    """Record that the token was used now, at most once per LAST_USED_PRECISION. last_used_at is what
    the request's authentication read, so a request that already committed need not load it again."""
    now = utcnow()
    if last_used_at is None or now - last_used_at >= LAST_USED_PRECISION:
        db.session.execute(update(ScimToken).where(ScimToken.id == token_id).values(last_used_at=now))


def set_default_role(org, role, actor):
    role = Role(role)
    if role not in MAPPABLE_ROLES:
        raise ServiceError("Choose admin, member or viewer.", field="default_role")
    config = ensure_config(org)
    if config.default_role == role:
        return config
    previous = config.default_role
    config.default_role = role
    db.session.flush()
    emit(org, "scim.role_mapping.updated", actor, [target("org", org.id, org.slug)],
         {"default_role": role.value, "previous_default_role": previous.value})
    return config


def map_group_role(org, group, role, actor):
    """Members of group get role (None: the group gives no role). Applied to its members at once."""
    role = Role(role) if role else None
    if role is not None and role not in MAPPABLE_ROLES:
        raise ServiceError("A group can give admin, member or viewer; ownership is never granted by an IdP.", field="role")
    if group.role == role:
        return group
    previous = group.role
    group.role = role
    db.session.flush()
    emit(org, "scim.role_mapping.updated", actor, [target("scim_group", group.id, group.display_name)],
         {"group": {"id": str(group.id), "displayName": group.display_name},
          "role": role.value if role else None, "previous_role": previous.value if previous else None})
    # Everyone provisioned may be affected (the default role applies once any group is mapped).
    from models import ScimUser
    ids = set(db.session.scalars(select(ScimUser.id).where(ScimUser.org_id == org.id)).all()) or all_member_ids(group)
    sync_roles(org, ids, actor)
    return group


def groups_with_counts(org_id):
    from models import ScimGroupMember
    return db.session.execute(
        select(ScimGroup, func.count(ScimGroupMember.id))
        .outerjoin(ScimGroupMember, ScimGroupMember.group_id == ScimGroup.id)
        .where(ScimGroup.org_id == org_id)
        .group_by(ScimGroup.id)
        .order_by(ScimGroup.display_name_lower)
    ).all()


def record_request(org_id, token_prefix, method, path, status, summary):
    db.session.add(ScimRequestLog(org_id=org_id, token_prefix=token_prefix, method=method, path=path[:500],
                                  status=status, summary=(summary or "")[:500]))


def recent_requests(org_id, limit=50):
    return db.session.scalars(
        ScimRequestLog.for_org(org_id).order_by(ScimRequestLog.created_at.desc(), ScimRequestLog.id).limit(limit)
    ).all()


def prune_request_logs(keep=REQUEST_LOG_KEEP):
    """Keep the newest `keep` log rows of each org (run by the sweeper)."""
    removed = 0
    for org_id in db.session.scalars(select(ScimRequestLog.org_id).distinct()).all():
        cutoff = db.session.scalar(
            select(ScimRequestLog.created_at).where(ScimRequestLog.org_id == org_id)
            .order_by(ScimRequestLog.created_at.desc()).offset(keep).limit(1)
        )
        if cutoff is not None:
            removed += db.session.execute(
                delete(ScimRequestLog).where(ScimRequestLog.org_id == org_id, ScimRequestLog.created_at <= cutoff)
            ).rowcount
    db.session.commit()
    return removed
