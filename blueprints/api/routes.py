"""The operations of /api/v1: load (org-scoped, 404 for anything outside the key's org), act through
the same services the pages use, answer JSON. Checks, commits and errors are core.operation()'s.

    GET     /org                                                    org_read
    PATCH   /org                                                    org_update
    GET     /members                                                members_list
    GET     /members/{member_id}                                    members_read
    PATCH   /members/{member_id}                                    members_update (role)
    DELETE  /members/{member_id}                                    members_remove
    GET     /invitations                                            invitations_list
    POST    /invitations                                            invitations_create
    DELETE  /invitations/{invitation_id}                            invitations_revoke
    GET     /webhook-endpoints                                      webhook_endpoints_list
    POST    /webhook-endpoints                                      webhook_endpoints_create
    GET     /webhook-endpoints/{endpoint_id}                        webhook_endpoints_read
    PATCH   /webhook-endpoints/{endpoint_id}                        webhook_endpoints_update
    DELETE  /webhook-endpoints/{endpoint_id}                        webhook_endpoints_delete
    POST    /webhook-endpoints/{endpoint_id}/rotate-secret          webhook_endpoints_rotate_secret
    GET     /webhook-endpoints/{endpoint_id}/messages               webhook_messages_list
    GET     /webhook-endpoints/{endpoint_id}/messages/{delivery_id}/attempts  webhook_attempts_list
    POST    /webhook-endpoints/{endpoint_id}/messages/{delivery_id}/resend    webhook_messages_resend
    GET     /audit-events                                           audit_events_list
    GET     /events                                                 events_feed
"""
from flask import g, request
from sqlalchemy.orm import contains_eager, lazyload

from blueprints.api.core import ApiError, actor, keyset_page, listing, operation, page_request, request_body
from models import AuditEvent, Invitation, Membership, User, WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from services import ServiceError, catalog, feed, invitations, orgs, webhooks
from services.audit import AuditFilters, events_for_org

LIMIT = ("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}, "Items per page (1-100).")
CURSOR = ("cursor", {"type": "string"}, "The next_cursor of the previous page.")
PAGED = [LIMIT, CURSOR]


def org():
    return g.api_credential.org


def acting_role():
    return g.api_credential.acting_role


def load(model, object_id):
    """The object with this id in the key's org; 404 for malformed ids and other orgs' objects alike."""
    obj = model.get_for_org(org().id, object_id)
    if obj is None:
        raise ApiError(404, "not_found", f"No {model.__name__} with id {str(object_id)[:64]} in this workspace.")
    return obj


def iso(value):
    return value.isoformat() if value is not None else None


# --- The org -------------------------------------------------------------------------------------

def org_json(o):
    return {"id": str(o.id), "slug": o.slug, "name": o.name, "status": o.status.value, "created_at": iso(o.created_at)}


@operation("GET", "/org", "org.read", "Read the workspace", response="Org")
def org_read():
    """The workspace the key belongs to."""
    return org_json(org())


@operation("PATCH", "/org", "org.manage", "Rename the workspace or change its slug", body="OrgUpdate", response="Org")
def org_update():
    """Emits org.updated when something changed."""
    body = request_body()
    orgs.update_org(org(), actor(), name=body.get("name"), slug=body.get("slug"))
    return org_json(org())


# --- Members -------------------------------------------------------------------------------------

def user_json(user):
    return {"id": str(user.id), "email": user.email, "name": user.name}


def member_json(m):
    return {"id": str(m.id), "user": user_json(m.user), "role": m.role.value if hasattr(m.role, "value") else m.role,
            "active": m.is_active, "deactivated_at": iso(m.deactivated_at), "joined_at": iso(m.created_at)}


@operation("GET", "/members", "members.read", "List members", response=("list", "Member"), query=PAGED, paginated=True)
def members_list():
    """Members in the order they joined."""
    query = (Membership.for_org(org().id).join(User, User.id == Membership.user_id)
             .options(contains_eager(Membership.user), lazyload(Membership.org)))
    return listing(*keyset_page(query, Membership.created_at, Membership.id, page_request()), member_json)


@operation("GET", "/members/<member_id>", "members.read", "Read a member", response="Member")
def members_read(member_id):
    return member_json(load(Membership, member_id))


@operation("PATCH", "/members/<member_id>", "members.manage", "Change a member's role", body="MemberUpdate", response="Member")
def members_update(member_id):
    """Granting or removing ownership needs the admin scope; the last owner cannot be demoted (409)."""
    membership = load(Membership, member_id)
    body = request_body()
    orgs.change_role(org(), membership, body["role"], actor(), acting_role=acting_role())
    return member_json(membership)


@operation("DELETE", "/members/<member_id>", "members.manage", "Remove a member", status=204)
def members_remove(member_id):
    """The API keys they created in this workspace are revoked with them."""
    orgs.remove_member(org(), load(Membership, member_id), actor(), acting_role=acting_role())


# --- Invitations ---------------------------------------------------------------------------------

def invitation_json(invitation):
    now = utcnow()
    if invitation.accepted_at is not None:
        status = "accepted"
    elif invitation.revoked_at is not None:
        status = "revoked"
    else:
        status = "expired" if invitation.is_expired(now) else "pending"
    inviter = invitation.invited_by
    return {"id": str(invitation.id), "email": invitation.email, "role": invitation.role.value, "status": status,
            "expires_at": iso(invitation.expires_at), "created_at": iso(invitation.created_at),
            "invited_by": user_json(inviter) if inviter is not None else None}


@operation("GET", "/invitations", "members.invite", "List open invitations", response=("list", "Invitation"),
           query=PAGED, paginated=True)
def invitations_list():
    """Invitations not yet accepted or revoked (expired ones included), newest first."""
    query = Invitation.for_org(org().id).where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
    return listing(*keyset_page(query, Invitation.created_at, Invitation.id, page_request(), newest_first=True),
                   invitation_json)


@operation("POST", "/invitations", "members.invite", "Invite someone by email", body="InvitationCreate",
           response="Invitation", status=201)
def invitations_create():
    """Emails the invitation link; 409 when they are already a member or have a pending invitation."""
    body = request_body()
    return invitation_json(invitations.invite_member(org(), body["email"], body["role"], actor(), acting_role()))


@operation("DELETE", "/invitations/<invitation_id>", "members.invite", "Revoke an invitation", status=204)
def invitations_revoke(invitation_id):
    """Its link stops working at once; 409 when it was already accepted or revoked."""
    invitations.revoke_invitation(org(), load(Invitation, invitation_id), actor())


# --- Webhook endpoints ---------------------------------------------------------------------------

def endpoint_json(endpoint, secret=None):
    body = {"id": str(endpoint.id), "url": endpoint.url, "description": endpoint.description,
            "event_types": None if endpoint.all_events else list(endpoint.event_types or []),
            "active": endpoint.is_active, "disabled_reason": endpoint.disabled_reason,
            "created_at": iso(endpoint.created_at), "updated_at": iso(endpoint.updated_at)}
    if secret is not None:
        body["secret"] = secret
    return body


@operation("GET", "/webhook-endpoints", "webhooks.manage", "List webhook endpoints",
           response=("list", "WebhookEndpoint"), query=PAGED, paginated=True)
def webhook_endpoints_list():
    query = WebhookEndpoint.for_org(org().id)
    return listing(*keyset_page(query, WebhookEndpoint.created_at, WebhookEndpoint.id, page_request()), endpoint_json)


def endpoint_secret(body):
    """The signing secret of the endpoint an answer describes (replaying a stored answer)."""
    return webhooks.current_secret(load(WebhookEndpoint, body["id"]))


@operation("POST", "/webhook-endpoints", "webhooks.manage", "Register a webhook endpoint",
           body="WebhookEndpointCreate", response="WebhookEndpointWithSecret", status=201,
           secret_field="secret", reveal=endpoint_secret)
def webhook_endpoints_create():
    """The answer carries the signing secret (whsec_...) to verify deliveries with."""
    body = request_body()
    event_types = body.get("event_types")
    endpoint = webhooks.create_endpoint(org(), actor(), body["url"], body.get("description", ""),
                                        all_events=event_types is None, event_types=event_types or ())
    return endpoint_json(endpoint, webhooks.current_secret(endpoint))


@operation("GET", "/webhook-endpoints/<endpoint_id>", "webhooks.manage", "Read a webhook endpoint", response="WebhookEndpoint")
def webhook_endpoints_read(endpoint_id):
    return endpoint_json(load(WebhookEndpoint, endpoint_id))


@operation("PATCH", "/webhook-endpoints/<endpoint_id>", "webhooks.manage", "Change a webhook endpoint",
           body="WebhookEndpointUpdate", response="WebhookEndpoint")
def webhook_endpoints_update(endpoint_id):
    """Fields left out keep their value; event_types null means every event type."""
    endpoint = load(WebhookEndpoint, endpoint_id)
    body = request_body()
    current = None if endpoint.all_events else list(endpoint.event_types or [])
    event_types = body.get("event_types", current)
    webhooks.update_endpoint(org(), endpoint, actor(), body.get("url", endpoint.url),
                             body.get("description", endpoint.description),
                             event_types is None, event_types or ())
    return endpoint_json(endpoint)


@operation("DELETE", "/webhook-endpoints/<endpoint_id>", "webhooks.manage", "Delete a webhook endpoint", status=204)
def webhook_endpoints_delete(endpoint_id):
    webhooks.delete_endpoint(org(), load(WebhookEndpoint, endpoint_id), actor())


@operation("POST", "/webhook-endpoints/<endpoint_id>/rotate-secret", "webhooks.manage", "Rotate the signing secret",
           body="SecretRotation", body_optional=True, response="WebhookEndpointWithSecret",
           secret_field="secret", reveal=endpoint_secret)
def webhook_endpoints_rotate_secret(endpoint_id):
    """By default the old secret keeps signing next to the new one for WEBHOOK_SECRET_OVERLAP_HOURS."""
    endpoint = load(WebhookEndpoint, endpoint_id)
    body = request_body()
    webhooks.rotate_secret(org(), endpoint, actor(), keep_previous=body.get("keep_previous", True))
    return endpoint_json(endpoint, webhooks.current_secret(endpoint))


def message_json(delivery):
    return {"id": str(delivery.id), "webhook_id": delivery.message.webhook_id, "event_type": delivery.message.event_type,
            "is_test": delivery.message.is_test, "status": delivery.status, "attempt_count": delivery.attempt_count,
            "next_attempt_at": iso(delivery.next_attempt_at), "last_attempt_at": iso(delivery.last_attempt_at),
            "last_status_code": delivery.last_status_code, "last_error": delivery.last_error,
            "created_at": iso(delivery.created_at)}


def load_delivery(endpoint_id, delivery_id):
    endpoint = load(WebhookEndpoint, endpoint_id)
    delivery = load(WebhookDelivery, delivery_id)
    if delivery.endpoint_id != endpoint.id:
        raise ApiError(404, "not_found", f"No message {str(delivery_id)[:64]} for this endpoint.")
    return delivery


@operation("GET", "/webhook-endpoints/<endpoint_id>/messages", "webhooks.manage", "List messages sent to an endpoint",
           response=("list", "WebhookMessage"), query=PAGED, paginated=True)
def webhook_messages_list(endpoint_id):
    """Newest first, with each message's delivery status."""
    endpoint = load(WebhookEndpoint, endpoint_id)
    query = WebhookDelivery.for_org(org().id).where(WebhookDelivery.endpoint_id == endpoint.id)
    return listing(*keyset_page(query, WebhookDelivery.created_at, WebhookDelivery.id, page_request(), newest_first=True),
                   message_json)


def attempt_json(attempt):
    return {"id": str(attempt.id), "attempt_number": attempt.attempt_number, "succeeded": attempt.succeeded,
            "request_url": attempt.request_url, "response_status": attempt.response_status,
            "response_body": attempt.response_body, "duration_ms": attempt.duration_ms, "error": attempt.error,
            "created_at": iso(attempt.created_at)}


@operation("GET", "/webhook-endpoints/<endpoint_id>/messages/<delivery_id>/attempts", "webhooks.manage",
           "List the attempts of one message", response=("list", "WebhookAttempt"), query=PAGED, paginated=True)
def webhook_attempts_list(endpoint_id, delivery_id):
    """Every HTTP request made for the message, oldest first, with the receiver's answer."""
    delivery = load_delivery(endpoint_id, delivery_id)
    query = WebhookAttempt.for_org(org().id).where(WebhookAttempt.delivery_id == delivery.id)
    return listing(*keyset_page(query, WebhookAttempt.created_at, WebhookAttempt.id, page_request()), attempt_json)


@operation("POST", "/webhook-endpoints/<endpoint_id>/messages/<delivery_id>/resend", "webhooks.manage",
           "Send a message again", response="WebhookMessage", status=202)
def webhook_messages_resend(endpoint_id, delivery_id):
    """Queued again now, whatever its status; 422 while the endpoint is disabled."""
    delivery = load_delivery(endpoint_id, delivery_id)
    webhooks.resend_delivery(org(), delivery, actor())
    return message_json(delivery)


# --- Audit log and events feed -------------------------------------------------------------------

def audit_event_json(event):
    return {"id": str(event.id), "action": event.action,
            "actor": {"type": event.actor_type, "id": event.actor_id, "label": event.actor_label},
            "targets": list(event.targets or []), "data": dict(event.data or {}), "ip": event.ip,
            "user_agent": event.user_agent, "created_at": iso(event.created_at)}


@operation("GET", "/audit-events", "audit.read", "Search the audit log", response=("list", "AuditEvent"), paginated=True,
           query=[("action", {"type": "string", "enum": sorted(catalog.CATALOG)}, "Only this event type."),
                  ("actor", {"type": "string", "maxLength": 254}, "Actor label contains this (email, key name ...), any case."),
                  ("since", {"type": "string", "format": "date"}, "From this UTC day (YYYY-MM-DD), inclusive."),
                  ("until", {"type": "string", "format": "date"}, "Up to this UTC day, inclusive."), *PAGED])
def audit_events_list():
    """Newest first."""
    try:
        filters = AuditFilters.from_args(request.args)
    except ServiceError as error:
        raise ApiError(400, "bad_request", error.message, {"parameter": error.field}) from None
    query = filters.apply(events_for_org(org().id))
    return listing(*keyset_page(query, AuditEvent.created_at, AuditEvent.id, page_request(), newest_first=True),
                   audit_event_json)


WEBHOOK_EVENT_TYPES = [t.name for t in catalog.webhook_types()]


def event_json(event):
    return {"id": str(event.id), "type": event.action, "timestamp": iso(event.created_at), "data": dict(event.data or {})}


@operation("GET", "/events", "audit.read", "Pull events (the webhook feed)", response=("list", "Event"), query=PAGED,
           paginated=True)
def events_feed():
    """Every event a webhook endpoint can receive, in the order they were committed. next_cursor is where
    to continue, even on the last page: keep the last one you got and pass it again later to pull only
    what came since (e.g. what your receiver missed while it was down); no event committed later can
    sort before it. An empty data list means you are up to date."""
    wanted = page_request(feed.decode_cursor)
    rows = feed.page(events_for_org(org().id).where(AuditEvent.action.in_(WEBHOOK_EVENT_TYPES)),
                     wanted.position, wanted.limit)
    return listing(rows, feed.encode_cursor(rows[-1]) if rows else (request.args.get("cursor") or None), event_json)
