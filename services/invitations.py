"""Invitations: invite by email with a role, resend, revoke, accept from the emailed link; and the org's
shareable invite link, restricted to listed email domains.

The emailed link carries a random 256-bit token; only its SHA-256 is stored (DESIGN.md section 7:
secrets that are only checked are hashed). Accepting or revoking sets a timestamp, so a link works
once; resending replaces the token, so only the newest email's link works.

The shareable link never adds anyone directly: the person enters their address and receives an
ordinary invitation by email. Following it proves they own an address in an allowed domain, which a
typed-in address (or an unverified account email) does not.
"""
import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from extensions import db
from models import Invitation, InviteLink, Membership, Role, User, normalise_email, parse_uuid, utcnow
from permissions import ROLE_LABELS, assignable_roles
from services import ServiceError
from services.accounts import clean_email, create_user
from services.events import Actor, emit, target
from services.mail import queue_email
from services.orgs import add_member, user_payload

# A person may ask for the same email again after this long (resend button, shareable link form).
RESEND_COOLDOWN = timedelta(seconds=60)
MAX_ALLOWED_DOMAINS = 20
# Anyone can get an address at these, so they cannot stand for "people of this company".
PUBLIC_EMAIL_DOMAINS = {
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com",
    "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.net",
    "mail.com", "yandex.com", "yandex.ru", "zoho.com", "fastmail.com", "qq.com", "163.com",
}
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LINK_SALT = "orgkit.invite-link"


class InvitationUnavailable(ServiceError):
    """A link that cannot be used; status is the HTTP status its page answers with."""

    def __init__(self, message, code, status, invitation=None):
        super().__init__(message, code=code)
        self.status = status
        self.invitation = invitation


# --- Tokens and URLs ---------------------------------------------------------------------------------

def hash_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(invitation):
    token = secrets.token_urlsafe(32)
    invitation.token_hash = hash_token(token)
    return token


def public_url(endpoint, **values):
    """An absolute URL under PUBLIC_BASE_URL, buildable without a request (jobs, CLI, services)."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return base + current_app.url_map.bind("localhost").build(endpoint, values)


def invitation_url(token):
    return public_url("invites.invitation_show", token=token)


def invitation_ttl():
    return timedelta(days=int(current_app.config["INVITATION_TTL_DAYS"]))


# --- Payloads ----------------------------------------------------------------------------------------

def invitation_target(invitation):
    return target("invitation", invitation.id, invitation.email)


def invitation_payload(invitation):
    inviter = invitation.invited_by
    return {
        "id": str(invitation.id),
        "email": invitation.email,
        "role": Role(invitation.role).value,
        "expires_at": invitation.expires_at.isoformat(),
        "invited_by": user_payload(inviter) if inviter is not None else None,
        "via_invite_link": invitation.invite_link_id is not None,
    }


# --- Queries -----------------------------------------------------------------------------------------

def pending_invitations(org_id):
    """Invitations not yet accepted or revoked (expired ones included: they can be resent), newest first."""
    return db.session.scalars(
        Invitation.for_org(org_id)
        .where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .order_by(Invitation.created_at.desc())
    ).all()


def _pending_for_email(org_id, email):
    return db.session.scalar(
        Invitation.for_org(org_id).where(
            Invitation.email == email, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)
        )
    )


def is_member(org, user):
    return db.session.scalar(
        select(exists().where(Membership.org_id == org.id, Membership.user_id == user.id))
    )


def _is_member(org_id, email):
    return db.session.scalar(
        select(exists().where(Membership.org_id == org_id, Membership.user_id == User.id, User.email == email))
    )


# --- Inviting ----------------------------------------------------------------------------------------

def _clean_role(role, acting_role):
    try:
        role = Role(role)
    except ValueError:
        raise ServiceError("Choose a role.", field="role") from None
    if acting_role is not None and role not in assignable_roles(acting_role):
        raise ServiceError(f"Your role cannot invite someone as {ROLE_LABELS[role]}.", field="role", code="forbidden")
    return role


def invite_member(org, email, role, actor, acting_role):
    """Invite email to org with role, on behalf of actor (who holds acting_role there), and email the link."""
    email = clean_email(email)
    role = _clean_role(role, acting_role)
    if _is_member(org.id, email):
        raise ServiceError(f"{email} is already a member of {org.name}.", field="email", code="conflict")
    now = utcnow()
    existing = _pending_for_email(org.id, email)
    if existing is not None:
        if not existing.is_expired(now):
            raise ServiceError(
                f"{email} already has a pending invitation. Resend it from the list instead.",
                field="email", code="conflict",
            )
        _revoke(org, existing, actor, now, reason="expired_replaced")
    inviter = db.session.get(User, actor.user_id) if actor.user_id else None
    return _create_invitation(org, email, role, actor, now, inviter=inviter)


def invite_for_provisioning(org, email, role, actor):
    """The invitation SCIM emails for a person the org may not add by itself (services/scim): the
    pending one already sent to email, or a new one. ServiceError(conflict) when another request
    invited the address at the same moment."""
    now = utcnow()
    existing = _pending_for_email(org.id, email)
    if existing is not None and not existing.is_expired(now):
        return existing
    if existing is not None:
        _revoke(org, existing, actor, now, reason="expired_replaced")
    return _create_invitation(org, email, role, actor, now)


def _create_invitation(org, email, role, actor, now, inviter=None, invite_link=None):
    invitation = Invitation(
        org_id=org.id, email=email, role=role, invited_by=inviter,
        invite_link_id=invite_link.id if invite_link is not None else None,
        expires_at=now + invitation_ttl(), last_sent_at=now,
    )
    token = _new_token(invitation)
    try:
        # A savepoint: a concurrent invitation of the same address trips the partial unique index, and
        # only this insert is undone, not the caller's transaction.
        with db.session.begin_nested():
            db.session.add(invitation)
            db.session.flush()
    except IntegrityError:
        raise ServiceError(f"{email} was invited a moment ago.", field="email", code="conflict") from None
    emit(org, "invitation.created", actor, [invitation_target(invitation)], {"invitation": invitation_payload(invitation)})
    _send_invitation_email(org, invitation, token)
    return invitation


def _send_invitation_email(org, invitation, token):
    inviter = invitation.invited_by
    if invitation.invite_link_id is not None:
        subject = f"Confirm your email to join {org.name} on Orgkit"
    else:
        subject = f"{inviter.name if inviter else 'Orgkit'} invited you to join {org.name} on Orgkit"
    queue_email(
        invitation.email, subject, "invitation",
        org_name=org.name, inviter=inviter, role_label=ROLE_LABELS[Role(invitation.role)],
        accept_url=invitation_url(token), expires_at=invitation.expires_at,
        via_invite_link=invitation.invite_link_id is not None, email=invitation.email,
    )


def _check_pending(invitation):
    if invitation.accepted_at is not None:
        raise ServiceError(f"The invitation for {invitation.email} was already accepted.", code="conflict")
    if invitation.revoked_at is not None:
        raise ServiceError(f"The invitation for {invitation.email} was revoked.", code="conflict")


def resend_invitation(org, invitation, actor):
    """Email a fresh link (the previous one stops working) valid for another INVITATION_TTL_DAYS."""
    _check_pending(invitation)
    now = utcnow()
    if invitation.last_sent_at is not None and now - invitation.last_sent_at < RESEND_COOLDOWN:
        raise ServiceError(f"An invitation was sent to {invitation.email} a moment ago. Wait a minute before resending.",
                           code="too_soon")
    token = _new_token(invitation)
    invitation.expires_at = now + invitation_ttl()
    invitation.last_sent_at = now
    db.session.flush()
    emit(org, "invitation.resent", actor, [invitation_target(invitation)], {"invitation": invitation_payload(invitation)})
    _send_invitation_email(org, invitation, token)
    return invitation


def revoke_invitation(org, invitation, actor):
    """Cancel a pending invitation: its link stops working at once."""
    _check_pending(invitation)
    _revoke(org, invitation, actor, utcnow(), reason="revoked")
    return invitation


def _revoke(org, invitation, actor, now, reason):
    invitation.revoked_at = now
    db.session.flush()
    emit(org, "invitation.revoked", actor, [invitation_target(invitation)],
         {"invitation": invitation_payload(invitation), "reason": reason})


# --- Accepting ---------------------------------------------------------------------------------------

def find_invitation(token, lock=False):
    """The invitation a link names, whatever its state; InvitationUnavailable(404) when none does.

    Looked up by the token's hash: the token is the credential and names its org.
    """
    if not token or len(token) > 200:
        raise InvitationUnavailable("This invitation link is not valid. Check that you copied all of it.", "not_found", 404)
    query = select(Invitation).where(Invitation.token_hash == hash_token(token))
    if lock:
        query = query.with_for_update(of=Invitation)
    invitation = db.session.scalar(query)
    if invitation is None:
        raise InvitationUnavailable(
            "This invitation link is not valid. It may have been mistyped, or replaced by a newer email: "
            "use the link in the most recent invitation.", "not_found", 404,
        )
    return invitation


def check_usable(invitation, now=None):
    """Raise InvitationUnavailable (410 Gone, or 403) unless the invitation can be accepted now."""
    now = now or utcnow()
    org_name = invitation.org.name
    if invitation.accepted_at is not None:
        raise InvitationUnavailable(f"This invitation to {org_name} was already accepted. Each link works once.",
                                    "used", 410, invitation)
    if invitation.revoked_at is not None:
        raise InvitationUnavailable(f"This invitation to {org_name} was revoked. Ask an administrator of "
                                    f"{org_name} for a new one.", "revoked", 410, invitation)
    if invitation.is_expired(now):
        raise InvitationUnavailable(f"This invitation to {org_name} expired on {invitation.expires_at:%Y-%m-%d}. "
                                    f"Ask an administrator of {org_name} to resend it.", "expired", 410, invitation)
    if invitation.invite_link_id is not None:
        link = db.session.get(InviteLink, invitation.invite_link_id)
        if link is None or not link.enabled:
            raise InvitationUnavailable(f"The invite link of {org_name} was turned off, so this request to join "
                                        "no longer works.", "revoked", 410, invitation)
    if invitation.org.is_suspended:
        raise InvitationUnavailable(f"{org_name} is suspended, so nobody can join it right now.", "suspended", 403, invitation)


def accept_invitation(token, user, actor):
    """user joins the invitation's org with its role. The link works once, for its own address only."""
    invitation = find_invitation(token, lock=True)
    check_usable(invitation)
    if normalise_email(user.email) != invitation.email:
        raise InvitationUnavailable(
            f"This invitation is for {invitation.email}, and you are logged in as {user.email}.",
            "wrong_account", 403, invitation,
        )
    org = invitation.org
    membership = db.session.scalar(select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id))
    if membership is None:
        membership = add_member(org, user, invitation.role, actor)
    invitation.accepted_at = utcnow()
    invitation.accepted_by_id = user.id
    db.session.flush()
    emit(org, "invitation.accepted", actor, [invitation_target(invitation)],
         {"invitation": invitation_payload(invitation), "user": user_payload(user)})
    # An invitation SCIM sent: its SCIM user now stands for this membership (the person consented).
    from services.scim.provisioning import link_accepted_invitation
    link_accepted_invitation(org, invitation, membership, actor)
    return membership


def sign_up_and_accept(token, name, password, ip=None, user_agent=None):
    """A new account for the invited address, joined to the org in the same transaction.

    The address comes from the invitation, never from the form: following the emailed link proves it.
    """
    invitation = find_invitation(token, lock=True)
    check_usable(invitation)
    if User.by_email(invitation.email) is not None:
        raise ServiceError(f"An account for {invitation.email} already exists. Log in to accept the invitation.",
                           code="conflict")
    user = create_user(invitation.email, name, password)
    membership = accept_invitation(token, user, Actor.for_user(user, ip, user_agent))
    return user, membership


# --- The shareable invite link -----------------------------------------------------------------------

def _serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_LINK_SALT)


def get_invite_link(org):
    return db.session.scalar(InviteLink.for_org(org.id))


def invite_link_token(link):
    return _serializer().dumps([str(link.id), link.nonce])


def invite_link_url(link):
    return public_url("invites.invite_link_show", token=invite_link_token(link))


def invite_link_payload(link):
    return {"enabled": link.enabled, "allowed_domains": list(link.allowed_domains), "role": Role(link.role).value}


def parse_domains(value):
    """A list of allowed domains from text (one per line, or separated by commas or spaces)."""
    if isinstance(value, str):
        value = re.split(r"[\s,;]+", value)
    domains = []
    for raw in value or []:
        domain = raw.strip().lower().lstrip("@").rstrip(".")
        if not domain:
            continue
        try:
            ascii_domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_domain = ""
        if not DOMAIN_RE.match(ascii_domain):
            raise ServiceError(f"{raw.strip()} is not a domain name (like example.com).", field="allowed_domains")
        if ascii_domain in PUBLIC_EMAIL_DOMAINS:
            raise ServiceError(f"Anyone can get an address at {ascii_domain}, so it cannot restrict who joins. "
                               "List your organization's own domains.", field="allowed_domains")
        if ascii_domain not in domains:
            domains.append(ascii_domain)
    if len(domains) > MAX_ALLOWED_DOMAINS:
        raise ServiceError(f"List at most {MAX_ALLOWED_DOMAINS} domains.", field="allowed_domains")
    return domains


def update_invite_link(org, actor, acting_role, enabled, role, allowed_domains):
    """Turn the shareable link on or off and set its role (never owner) and allowed domains."""
    role = _clean_role(role, acting_role)
    if role == Role.owner:
        raise ServiceError("People who join through a link cannot become owners.", field="role", code="forbidden")
    domains = parse_domains(allowed_domains)
    if enabled and not domains:
        raise ServiceError("List at least one email domain: only addresses there can join with the link.",
                           field="allowed_domains")
    link = get_invite_link(org)
    if link is None:
        link = InviteLink(org_id=org.id, enabled=False, role=role, allowed_domains=[], nonce=secrets.token_urlsafe(24))
        db.session.add(link)
    before = invite_link_payload(link) if link.id is not None else None
    was_enabled = bool(link.enabled)
    link.enabled, link.role, link.allowed_domains = bool(enabled), role, domains
    if before == invite_link_payload(link):
        return link
    link.updated_at, link.updated_by_id = utcnow(), actor.user_id
    db.session.flush()
    emit(org, "invite_link.updated", actor, [target("invite_link", link.id, "Invite link")],
         {**invite_link_payload(link), "regenerated": False})
    if was_enabled and not link.enabled:
        _revoke_link_requests(org, link, actor)
    return link


def regenerate_invite_link(org, actor):
    """A new URL for the link: every copy of the old one stops working, and so do pending requests."""
    link = get_invite_link(org)
    if link is None:
        raise ServiceError("Set up the invite link first.", code="not_found")
    link.nonce = secrets.token_urlsafe(24)
    link.updated_at, link.updated_by_id = utcnow(), actor.user_id
    db.session.flush()
    emit(org, "invite_link.updated", actor, [target("invite_link", link.id, "Invite link")],
         {**invite_link_payload(link), "regenerated": True})
    _revoke_link_requests(org, link, actor)
    return link


def _revoke_link_requests(org, link, actor):
    now = utcnow()
    for invitation in db.session.scalars(
        Invitation.for_org(org.id).where(
            Invitation.invite_link_id == link.id, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)
        )
    ):
        _revoke(org, invitation, actor, now, reason="invite_link_changed")


def resolve_invite_link(token):
    """The enabled link a shareable URL names; InvitationUnavailable (404 tampered, 410 turned off)."""
    try:
        link_id, nonce = _serializer().loads(token or "")
    except (BadSignature, ValueError, TypeError):
        raise InvitationUnavailable("This invite link is not valid. Check that you copied all of it.", "not_found", 404) from None
    link_uuid = parse_uuid(link_id) if isinstance(link_id, str) else None
    link = db.session.get(InviteLink, link_uuid) if link_uuid is not None else None
    if link is None:
        raise InvitationUnavailable("This invite link is not valid. Check that you copied all of it.", "not_found", 404)
    if not hmac.compare_digest(str(nonce), link.nonce) or not link.enabled:
        raise InvitationUnavailable(f"This invite link of {link.org.name} no longer works: it was turned off or "
                                    "replaced. Ask an administrator for the current link.", "revoked", 410)
    if link.org.is_suspended:
        raise InvitationUnavailable(f"{link.org.name} is suspended, so nobody can join it right now.", "suspended", 403)
    return link


def link_actor(link, email, ip=None, user_agent=None):
    """Who acts when an anonymous person asks to join through the link."""
    return Actor("invite_link", str(link.id), f"{email} (invite link)", ip, (user_agent or "")[:255] or None)


def request_to_join(token, email, actor):
    """Someone with the shareable link asks to join as email: when its domain is allowed, email it an
    invitation (or resend the pending one). Returns the invitation, or None when the address is
    already a member (the page says the same either way, so the link does not reveal who is in)."""
    link = resolve_invite_link(token)
    email = clean_email(email)
    domain = email.rsplit("@", 1)[1]
    if domain not in link.allowed_domains:
        allowed = ", ".join(link.allowed_domains)
        raise ServiceError(f"This link only accepts addresses at {allowed}. Use your work address.", field="email",
                           code="forbidden")
    org = link.org
    if _is_member(org.id, email):
        return None
    now = utcnow()
    existing = _pending_for_email(org.id, email)
    if existing is not None and not existing.is_expired(now):
        if existing.last_sent_at is not None and now - existing.last_sent_at < RESEND_COOLDOWN:
            return existing
        return resend_invitation(org, existing, actor)
    if existing is not None:
        _revoke(org, existing, actor, now, reason="expired_replaced")
    return _create_invitation(org, email, Role(link.role), actor, now, invite_link=link)
