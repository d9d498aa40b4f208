"""Trust changes: the one verb every change to what an org trusts goes through.

What an org trusts decides who can sign in as whom (DESIGN.md section 7, issue 13 "Owner-only trust"):
the IdP configuration (metadata, entity ID, SSO URL), its certificates, the metadata URL, IdP-initiated
login, Require SSO, group mappings, SCIM on/off and SCIM tokens, verified domains, setup links. Only
owners change it (permission "trust.manage"), and every change is

1. written to the audit log (the catalog event `action`, with `summary` in its data), and
2. sent to every owner of the org as a security notice, in the app and by email (the existing
   notification path: the event type is critical, so no preference turns it off, and the emails are
   queued to go after the commit).

    record_trust_change(org, actor=current_actor(), action="sso.configured",
                        summary="Added an IdP signing certificate (SHA-256 3f:9a:...).",
                        targets=[connection_target(connection)], data={"change": "certificate_added"})

actor is an Actor (services.events), a User, or a plain label for an actor that is neither: a setup
link is recorded as "setup link <prefix> (<email>)" (setup_link_actor below). action must be a catalog
event type that is critical and tells the owners (recipients "owners" or "admins"); a type that would
not reach every owner is a programming error, raised at once.
"""
from models import User
from services import catalog
from services.events import Actor, emit

OWNER_GROUPS = ("owners", "admins")  # services.notifications.ROLE_GROUPS: both include every owner


def as_actor(actor):
    """An Actor for whoever made a trust change: an Actor as given, a User, or a label (str)."""
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, User):
        return Actor.for_user(actor)
    if isinstance(actor, str) and actor.strip():
        return Actor("label", None, actor.strip()[:254])
    raise ValueError("a trust change needs an actor: an Actor, a User or a non-empty label")


def setup_link_actor(prefix, email, ip=None, user_agent=None):
    """The actor of a change made through a setup link, as the audit log and owners see it."""
    return Actor("setup_link", prefix, f"setup link {prefix} ({email})"[:254], ip, (user_agent or "")[:255] or None)


def record_trust_change(org, *, actor, action, summary, targets=(), data=None):
    """Audit a change to what org trusts and send every owner a security notice. Returns the AuditEvent.

    Call it inside the transaction of the change (it flushes, never commits)."""
    event_type = catalog.get(action)
    if not event_type.critical or not set(event_type.recipients) & set(OWNER_GROUPS):
        raise ValueError(f"trust change {action!r} must be a critical catalog event that tells the owners")
    summary = (summary or "").strip()
    if not summary:
        raise ValueError("a trust change needs a summary for the owners' security notice")
    return emit(org, action, as_actor(actor), list(targets), {**(data or {}), "summary": summary[:500]})
