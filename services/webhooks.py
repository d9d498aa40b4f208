"""Outgoing webhooks: endpoints, fan-out from the event spine, signing, attempts and their outcome.

Follows the Standard Webhooks spec (https://www.standardwebhooks.com/, spec/standard-webhooks.md):
- the body is {"type", "timestamp", "data"};
- `webhook-id` is the message id, the same on every retry, so receivers deduplicate on it;
- `webhook-timestamp` is the attempt's Unix time in seconds;
- `webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
  one per active secret, so during a rotation both the old and the new secret verify;
- secrets are `whsec_` + base64 of random bytes (the HMAC key is the decoded bytes).

The database is the source of truth for every delivery (DESIGN.md section 6). After a commit the new
or due delivery ids are pushed to a Redis list that worker processes pop in batches (jobs/webhooks.py);
retries go to a Redis sorted set scored by due time; the sweeper re-signals from the database whatever
Redis lost. Verbs here flush and never commit.
"""
import base64
import hashlib
import hmac
import json
import random
import secrets as secrets_module
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from flask import current_app
from sqlalchemy import bindparam, case, event, exists, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from extensions import db, jobs
from models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage, utcnow
from services import ServiceError, catalog, crypto, egress
from services import events as events_service

def due_key():
    return jobs.key("webhooks:due")              # list of delivery ids to work on now


def scheduled_key():
    return jobs.key("webhooks:scheduled")        # sorted set: delivery id -> Unix time it is due
RESPONSE_BODY_LIMIT = 20 * 1024
MAX_DESCRIPTION = 200
MAX_RETRY_AFTER_SECONDS = 24 * 3600
SECRET_PREFIX = "whsec_"
# An attempt's error until its answer is recorded: what the log says if the worker died in between.
NO_ANSWER_RECORDED = "No answer recorded: the attempt is in flight, or its worker stopped before recording it."


def now():
    """The service's clock. Tests replace it to move time forward instead of waiting."""
    return utcnow()


# --- Secrets and signatures ----------------------------------------------------------------------

def generate_secret():
    # Standard Webhooks: whsec_ + base64 of 24 to 64 random bytes. 32 bytes = a 256-bit HMAC key.
    return SECRET_PREFIX + base64.b64encode(secrets_module.token_bytes(32)).decode()


def _secret_key(secret):
    return base64.b64decode(secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret)


def sign(secret, webhook_id, timestamp, body):
    """One `v1,<signature>` entry (Standard Webhooks, "Signature scheme")."""
    signed = f"{webhook_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signing_secrets(endpoint, at=None):
    """Plaintext secrets that sign right now: the current one, and the previous one during its overlap."""
    at = at or now()
    result = [crypto.decrypt(endpoint.secret_encrypted)]
    if endpoint.previous_secret_encrypted and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > at:
        result.append(crypto.decrypt(endpoint.previous_secret_encrypted))
    return result


def current_secret(endpoint):
    return crypto.decrypt(endpoint.secret_encrypted)


def reveal_secret(org, endpoint, actor):
    """The current signing secret, for a person to copy: recorded in the audit log."""
    events_service.emit(org, "webhook.endpoint.secret_revealed", actor, [_endpoint_target(endpoint)],
                        {"endpoint": endpoint_payload(endpoint)})
    return current_secret(endpoint)


# --- Endpoints -----------------------------------------------------------------------------------

def endpoint_payload(endpoint):
    return {
        "id": str(endpoint.id), "url": endpoint.url, "description": endpoint.description,
        "event_types": None if endpoint.all_events else list(endpoint.event_types or []),
    }


def _endpoint_target(endpoint):
    return events_service.target("webhook_endpoint", endpoint.id, endpoint.url[:254])


def clean_url(url):
    """The URL, checked by the egress guard now (again at every delivery). Raises ServiceError(field='url')."""
    target = egress.check_url(url)
    return target.url


def clean_description(description):
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise ServiceError(f"Use at most {MAX_DESCRIPTION} characters.", field="description")
    return description


def clean_event_types(all_events, event_types):
    if all_events:
        return []
    chosen = []
    offered = {t.name for t in catalog.webhook_types()}
    for name in event_types or []:
        name = (name or "").strip()
        if name not in offered:
            shown = name[:80] or "(empty)"
            raise ServiceError(f"Unknown event type: {shown}. Choose from the event catalog.", field="event_types")
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ServiceError("Choose at least one event type, or send all events.", field="event_types")
    return chosen


def create_endpoint(org, actor, url, description="", all_events=True, event_types=(), created_by=None):
    url = clean_url(url)
    description = clean_description(description)
    event_types = clean_event_types(all_events, event_types)
    endpoint = WebhookEndpoint(
        org_id=org.id, url=url, description=description, all_events=bool(all_events), event_types=event_types,
        is_active=True, secret_encrypted=crypto.encrypt(generate_secret()),
        created_by_id=getattr(created_by, "id", None),
    )
    db.session.add(endpoint)
    db.session.flush()
    events_service.emit(org, "webhook.endpoint.created", actor, [_endpoint_target(endpoint)], {"endpoint": endpoint_payload(endpoint)})
    return endpoint


def update_endpoint(org, endpoint, actor, url, description, all_events, event_types):
    url = clean_url(url)
    description = clean_description(description)
    event_types = clean_event_types(all_events, event_types)
    before = endpoint_payload(endpoint)
    endpoint.url, endpoint.description = url, description
    endpoint.all_events, endpoint.event_types = bool(all_events), event_types
    after = endpoint_payload(endpoint)
    changes = {k: [before[k], after[k]] for k in ("url", "description", "event_types") if before[k] != after[k]}
    if not changes:
        return endpoint
    endpoint.updated_at = now()
    db.session.flush()
    events_service.emit(org, "webhook.endpoint.updated", actor, [_endpoint_target(endpoint)],
                        {"endpoint": after, "changes": changes})
    return endpoint


def delete_endpoint(org, endpoint, actor):
    payload = endpoint_payload(endpoint)
    target = _endpoint_target(endpoint)
    # Explicit deletes: SQLite does not enforce ON DELETE CASCADE unless told to.
    db.session.execute(db.delete(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id))
    db.session.execute(db.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
    db.session.flush()
    events_service.emit(org, "webhook.endpoint.deleted", actor, [target], {"endpoint": payload})


def disable_endpoint(org, endpoint, actor, reason, automatic=False):
    """Stop delivering to endpoint. Its pending deliveries are failed (recoverable after enabling)."""
    if not endpoint.is_active:
        return endpoint
    endpoint.is_active = False
    endpoint.disabled_at = now()
    endpoint.disabled_reason = reason[:255]
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")
        .values(status="failed", next_attempt_at=None, lease_token=None, lease_expires_at=None,
                last_error="Not sent: the endpoint was disabled.")
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    events_service.emit(org, "webhook.endpoint.disabled", actor, [_endpoint_target(endpoint)],
                        {"endpoint": endpoint_payload(endpoint), "reason": endpoint.disabled_reason, "automatic": automatic})
    return endpoint


def enable_endpoint(org, endpoint, actor):
    if endpoint.is_active:
        return endpoint
    endpoint.is_active = True
    endpoint.disabled_at = None
    endpoint.disabled_reason = None
    endpoint.failing_since = None   # re-enabling starts the auto-disable clock again
    db.session.flush()
    events_service.emit(org, "webhook.endpoint.enabled", actor, [_endpoint_target(endpoint)], {"endpoint": endpoint_payload(endpoint)})
    return endpoint


def rotate_secret(org, endpoint, actor, keep_previous=True):
    """A new signing secret. With keep_previous the old one keeps signing next to it for the overlap
    (WEBHOOK_SECRET_OVERLAP_HOURS), so receivers can switch without missing a message."""
    at = now()
    if keep_previous:
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_expires_at = at + timedelta(hours=current_app.config["WEBHOOK_SECRET_OVERLAP_HOURS"])
    else:
        endpoint.previous_secret_encrypted = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret_encrypted = crypto.encrypt(generate_secret())
    endpoint.secret_rotated_at = at
    db.session.flush()
    expires = endpoint.previous_secret_expires_at
    events_service.emit(org, "webhook.endpoint.secret_rotated", actor, [_endpoint_target(endpoint)],
                        {"endpoint": endpoint_payload(endpoint),
                         "previous_secret_expires_at": expires.isoformat() if expires else None})
    return endpoint


def expire_previous_secret(org, endpoint, actor):
    """End the overlap now: only the current secret signs from here on."""
    if endpoint.previous_secret_encrypted is None:
        return endpoint
    endpoint.previous_secret_encrypted = None
    endpoint.previous_secret_expires_at = None
    db.session.flush()
    events_service.emit(org, "webhook.endpoint.secret_rotated", actor, [_endpoint_target(endpoint)],
                        {"endpoint": endpoint_payload(endpoint), "previous_secret_expires_at": None})
    return endpoint


# --- Messages and deliveries ---------------------------------------------------------------------

def _envelope(event_type, timestamp, data):
    return json.dumps({"type": event_type, "timestamp": timestamp.isoformat(), "data": data},
                      separators=(",", ":"), default=str)


_NO_ENDPOINTS_KEY = "orgkit_no_webhook_endpoints"


def active_endpoints_clause(org_id):
    """SQL: whether the org has an active endpoint. A hot request selects it with a lookup it makes anyway
    and passes the answer to note_endpoints, so its event's fan-out need not ask in a statement of its own."""
    return exists().where(WebhookEndpoint.org_id == org_id, WebhookEndpoint.is_active.is_(True))


def note_endpoints(org_id, has_active):
    """This transaction read (active_endpoints_clause) whether org_id has an active endpoint: when it has
    none, fan_out skips its query for the rest of this transaction only. An endpoint committed meanwhile
    by another transaction is missed by this one event, as if it had been created a moment later. For
    requests that neither create nor enable an endpoint (the SSO login's finishing GET)."""
    if has_active:
        db.session.info.pop(_NO_ENDPOINTS_KEY, None)
    else:
        db.session.info[_NO_ENDPOINTS_KEY] = (db.session().get_transaction(), org_id)


def _known_without_endpoints(org_id):
    known = db.session.info.get(_NO_ENDPOINTS_KEY)
    return known is not None and known[0] is db.session().get_transaction() and known[1] == org_id


# fan_out's statements, built once (it runs in the transaction of every change that emits an event).
_ACTIVE_ENDPOINTS = (select(WebhookEndpoint.id, WebhookEndpoint.all_events, WebhookEndpoint.event_types)
                     .where(WebhookEndpoint.org_id == bindparam("org_id"), WebhookEndpoint.is_active.is_(True)))
_INSERT_MESSAGES = insert(WebhookMessage.__table__)
_INSERT_DELIVERIES = insert(WebhookDelivery.__table__)


def fan_out(emitted):
    """Called by events.emit() (or at the end of events.together()) in the transaction of the change,
    with [(org, event type, actor, audit event)]: one message per event and one delivery per active
    endpoint subscribed to its type, the deliveries signalled after the commit. The endpoints are read
    once per org, and the rows written with one Core INSERT per table (no ORM objects: nothing in this
    transaction reads them back)."""
    by_org = {}
    for org, event_type, _, audit_event in emitted:
        if org is not None and event_type.webhook:
            by_org.setdefault(org.id, []).append((event_type, audit_event))
    messages, deliveries = [], []
    for org_id, events in by_org.items():
        if _known_without_endpoints(org_id):
            continue
        endpoints = db.session.execute(_ACTIVE_ENDPOINTS, {"org_id": org_id}).all()
        if not endpoints:
            continue
        due = now()
        for event_type, audit_event in events:
            subscribed = [e.id for e in endpoints if WebhookEndpoint.subscribes_to(e, event_type.name)]
            if not subscribed:
                continue
            message_id = uuid.uuid4()
            messages.append({"id": message_id, "org_id": org_id, "event_type": event_type.name,
                             "audit_event_id": audit_event.id, "created_at": audit_event.created_at,
                             "body": _envelope(event_type.name, audit_event.created_at, audit_event.data)})
            deliveries += [{"id": uuid.uuid4(), "org_id": org_id, "message_id": message_id, "endpoint_id": endpoint_id,
                            "status": "pending", "next_attempt_at": due} for endpoint_id in subscribed]
    if messages:
        db.session.execute(_INSERT_MESSAGES, messages)
        db.session.execute(_INSERT_DELIVERIES, deliveries)
        signal_after_commit([d["id"] for d in deliveries])


def _add_deliveries(message, endpoints):
    due = now()
    deliveries = [
        WebhookDelivery(id=uuid.uuid4(), org_id=message.org_id, message=message, endpoint_id=endpoint.id,
                        status="pending", next_attempt_at=due)
        for endpoint in endpoints
    ]
    db.session.add_all(deliveries)
    db.session.flush()
    signal_after_commit([d.id for d in deliveries])
    return deliveries


def send_test_message(org, endpoint, event_type_name, actor):
    """A test message with the catalog's example payload, to this endpoint only."""
    offered = {t.name: t for t in catalog.webhook_types()}
    event_type = offered.get(event_type_name)
    if event_type is None:
        raise ServiceError("Choose an event type from the catalog.", field="event_type")
    if not endpoint.is_active:
        raise ServiceError("Enable the endpoint before sending it a test event.")
    at = now()
    message = WebhookMessage(id=uuid.uuid4(), org_id=org.id, event_type=event_type.name, is_test=True,
                             body=_envelope(event_type.name, at, event_type.example), created_at=at)
    db.session.add(message)
    events_service.emit(org, "webhook.endpoint.test_sent", actor, [_endpoint_target(endpoint)],
                        {"endpoint": endpoint_payload(endpoint), "event_type": event_type.name})
    return _add_deliveries(message, [endpoint])[0]


def resend_delivery(org, delivery, actor):
    """Queue a delivery again now, whatever its status (the consumer may have lost it)."""
    if not delivery.endpoint.is_active:
        raise ServiceError("Enable the endpoint before resending to it.")
    _requeue([delivery])
    events_service.emit(org, "webhook.message.resent", actor, [_endpoint_target(delivery.endpoint)],
                        {"endpoint": endpoint_payload(delivery.endpoint), "delivery_id": str(delivery.id),
                         "event_type": delivery.message.event_type})
    return delivery


def recover_failed(org, endpoint, since, actor):
    """Queue again every failed delivery to endpoint created since the given time. Returns the count."""
    if not endpoint.is_active:
        raise ServiceError("Enable the endpoint before recovering its failed messages.")
    if since > now():
        raise ServiceError("Choose a time in the past.", field="since")
    failed = db.session.scalars(
        WebhookDelivery.for_org(endpoint.org_id).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "failed",
            WebhookDelivery.created_at >= since)
    ).all()
    _requeue(failed)
    events_service.emit(org, "webhook.messages.recovered", actor, [_endpoint_target(endpoint)],
                        {"endpoint": endpoint_payload(endpoint), "since": since.isoformat(), "count": len(failed)})
    return len(failed)


def _requeue(deliveries):
    due = now()
    for delivery in deliveries:
        delivery.status = "pending"
        delivery.round_attempts = 0
        delivery.next_attempt_at = due
        delivery.lease_token = None
        delivery.lease_expires_at = None
        delivery.succeeded_at = None
    db.session.flush()
    signal_after_commit([d.id for d in deliveries])


# --- Signalling work (after commit) --------------------------------------------------------------

def signal_after_commit(delivery_ids, due_at=None):
    """Tell the workers about these deliveries once the transaction commits (dropped on rollback)."""
    info = db.session.info
    if due_at is None:
        info.setdefault("webhook_due", []).extend(str(i) for i in delivery_ids)
    else:
        info.setdefault("webhook_scheduled", []).extend((str(i), due_at.timestamp()) for i in delivery_ids)


@event.listens_for(Session, "after_commit")
def _signal_pending(session):
    due = session.info.pop("webhook_due", [])
    scheduled = session.info.pop("webhook_scheduled", [])
    if not due and not scheduled:
        return
    try:
        signal(due, scheduled)
    except Exception:  # Redis down: the rows are committed and the sweeper signals them later
        current_app.logger.exception("signalling %d webhook deliveries failed; the sweeper will retry", len(due) + len(scheduled))


@event.listens_for(Session, "after_rollback")
def _drop_signals(session):
    session.info.pop("webhook_due", None)
    session.info.pop("webhook_scheduled", None)


def signal(due_ids, scheduled=()):
    """Push due ids to the workers' list and (id, unix_time) pairs to the retry set; without Redis,
    deliver in-process (a one-command local run still delivers)."""
    if not current_app.config.get("USE_REDIS_QUEUE"):
        if due_ids:
            jobs.enqueue("webhooks", "jobs.webhooks.deliver_webhooks", list(due_ids))
        return
    pipe = jobs.redis.pipeline(transaction=False)
    if due_ids:
        pipe.rpush(due_key(), *due_ids)
    if scheduled:
        pipe.zadd(scheduled_key(), {delivery_id: when for delivery_id, when in scheduled})
    pipe.execute()


# --- Claiming and attempting ---------------------------------------------------------------------

@dataclass
class SendTask:
    """Everything one attempt needs, read from the database when the delivery was claimed."""

    delivery_id: uuid.UUID
    org_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    secrets: list
    webhook_id: str
    body: str
    lease_token: str
    lease_expires_at: datetime
    attempt_id: uuid.UUID | None = None   # the attempt row written before the request leaves
    headers: dict | None = None           # signed when the attempt starts (start_attempts)


@dataclass
class AttemptResult:
    task: SendTask
    attempted_at: datetime
    request_headers: dict
    status: int | None = None
    response_headers: dict = field(default_factory=dict)
    response_body: str | None = None
    duration_ms: int | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self):
        return self.status is not None and 200 <= self.status < 300


def claim(delivery_ids, lease_seconds, endpoint_room=None):
    """Take the lease on those of delivery_ids that are pending, due and not leased by a live worker.

    endpoint_room(endpoint_id) says how many more deliveries to that endpoint this worker can send
    before a lease taken now runs out; past it they are not claimed but handed back (deferred_ids),
    so a slow endpoint's backlog neither fills this worker nor waits here until its leases expire and
    the sweeper hands it to someone else (a duplicate). Returns (tasks, deferred_ids). Commits (the
    lease must be visible to other workers before the requests go out).
    """
    ids = [uuid.UUID(str(i)) for i in delivery_ids]
    if not ids:
        return [], []
    at = now()
    claimable = (
        (WebhookDelivery.status == "pending") & (WebhookDelivery.next_attempt_at <= at)
        & (WebhookDelivery.lease_expires_at.is_(None) | (WebhookDelivery.lease_expires_at < at))
    )
    deferred = []
    if endpoint_room is not None:
        rows = db.session.execute(select(WebhookDelivery.id, WebhookDelivery.endpoint_id)
                                  .where(WebhookDelivery.id.in_(ids), claimable)
                                  .order_by(WebhookDelivery.next_attempt_at)).all()
        room, ids = {}, []
        for row in rows:
            if row.endpoint_id not in room:
                room[row.endpoint_id] = endpoint_room(row.endpoint_id)
            if room[row.endpoint_id] > 0:
                room[row.endpoint_id] -= 1
                ids.append(row.id)
            else:
                deferred.append(str(row.id))
        if not ids:
            db.session.rollback()
            return [], deferred
    token = secrets_module.token_hex(16)
    expires = at + timedelta(seconds=lease_seconds)
    db.session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id.in_(ids), claimable)
        .values(lease_token=token, lease_expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.org_id, WebhookDelivery.endpoint_id, WebhookMessage.id.label("message_id"),
               WebhookMessage.body, WebhookEndpoint)
        .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id.in_(ids), WebhookDelivery.lease_token == token)
    ).all()
    secrets_by_endpoint = {}
    tasks = []
    for row in rows:
        endpoint = row.WebhookEndpoint
        if endpoint.id not in secrets_by_endpoint:
            secrets_by_endpoint[endpoint.id] = signing_secrets(endpoint, at)
        tasks.append(SendTask(row.id, row.org_id, endpoint.id, endpoint.url, secrets_by_endpoint[endpoint.id],
                              f"msg_{row.message_id.hex}", row.body, token, expires))
    db.session.commit()
    return tasks, deferred


def send_seconds(timeout, lease_seconds):
    """What a send needs left on its lease when it starts: the request's timeout, and a margin to
    record the answer."""
    return timeout + max(1.0, lease_seconds / 10)


def start_attempts(tasks, lease_seconds, send_seconds):
    """Just before the requests leave: keep the leases and write the attempts. Returns the tasks still
    this worker's to send (the others are dropped: their lease was lost to another worker, or the
    delivery was settled meanwhile). Commits.

    A lease with less than send_seconds left (the request's timeout and a margin) is extended first,
    so it cannot run out while the request is in flight. The attempt row is written and committed
    before the request leaves and completed by record() after, so a worker killed in between leaves
    an attempt that says no answer was recorded, never a request the log does not show.
    """
    if not tasks:
        return []
    at = now()
    extend_to = at + timedelta(seconds=max(lease_seconds, send_seconds))
    short = [t for t in tasks if t.lease_expires_at - at < timedelta(seconds=send_seconds)]
    if short:
        db.session.execute(
            update(WebhookDelivery)
            .where(tuple_(WebhookDelivery.id, WebhookDelivery.lease_token).in_([(t.delivery_id, t.lease_token) for t in short]),
                   WebhookDelivery.status == "pending")
            .values(lease_expires_at=extend_to)
            .execution_options(synchronize_session=False)
        )
        for task in short:
            task.lease_expires_at = extend_to
    held = {row.id: row.attempt_count for row in db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempt_count).where(
            tuple_(WebhookDelivery.id, WebhookDelivery.lease_token).in_([(t.delivery_id, t.lease_token) for t in tasks]),
            WebhookDelivery.status == "pending", WebhookDelivery.lease_expires_at > at))}
    owned = [t for t in tasks if t.delivery_id in held]
    if not owned:
        db.session.rollback()
        return []
    timestamp = int(time.time())   # real time: receivers check it against their clock
    for task in owned:
        task.headers = {
            "content-type": "application/json",
            "webhook-id": task.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(sign(secret, task.webhook_id, timestamp, task.body) for secret in task.secrets),
        }
        task.attempt_id = uuid.uuid4()
        held[task.delivery_id] += 1
        db.session.add(WebhookAttempt(
            id=task.attempt_id, org_id=task.org_id, delivery_id=task.delivery_id, endpoint_id=task.endpoint_id,
            attempt_number=held[task.delivery_id], succeeded=False, request_url=task.url,
            request_headers=dict(task.headers, **{"user-agent": egress.USER_AGENT}), error=NO_ANSWER_RECORDED,
            created_at=at,
        ))
    db.session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id.in_([t.delivery_id for t in owned]))
        .values(attempt_count=WebhookDelivery.attempt_count + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return owned


def attempt(task, config, policy=None):
    """Make one signed POST for a delivery start_attempts() handed out (no database or app context
    needed: safe on any thread; pass the egress policy when calling from outside an app context)."""
    headers = task.headers
    result = AttemptResult(task=task, attempted_at=now(), request_headers=dict(headers, **{"user-agent": egress.USER_AGENT}))
    timeout = config["WEBHOOK_TIMEOUT_SECONDS"]
    started = time.monotonic()
    try:
        response = egress.request("POST", task.url, headers=headers, body=task.body.encode(), timeout=timeout,
                                  max_response_bytes=RESPONSE_BODY_LIMIT, pool_size=config["WEBHOOK_ENDPOINT_CONCURRENCY"],
                                  policy=policy)
    except ServiceError as exc:   # EgressRefused (the URL is now blocked) or EgressError (timeout, refused...)
        result.error = exc.message[:500]
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result
    result.status = response.status
    result.response_headers = dict(response.headers)
    result.response_body = response.body.decode("utf-8", errors="replace")
    result.duration_ms = int(response.elapsed * 1000)
    if 300 <= response.status < 400:
        location = response.headers.get("location", "")
        result.error = (f"Redirect ({response.status}) to {location or 'another URL'} not followed: "
                        "the endpoint URL must answer 2xx itself.")[:500]
    elif not result.succeeded:
        result.error = f"The endpoint answered HTTP {response.status}."
        if response.status in (429, 503):
            result.retry_after = parse_retry_after(response.headers.get("retry-after"), result.attempted_at)
    return result


def parse_retry_after(value, at):
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date, RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max((when - at).total_seconds(), 0.0), MAX_RETRY_AFTER_SECONDS)


def retry_schedule(config):
    return [float(x) for x in str(config["WEBHOOK_RETRY_SCHEDULE"]).split(",") if x.strip()]


def _retry_delay(config, next_attempt_index, retry_after):
    if retry_after is not None:
        return retry_after
    delay = retry_schedule(config)[next_attempt_index]
    jitter = config["WEBHOOK_RETRY_JITTER"]
    return max(0.0, delay * (1 + random.uniform(-jitter, jitter))) if jitter else delay


def record(results):
    """Write the attempts and the deliveries' new state for a batch of results; commits once.

    Succeeded: done. Failed: retried on the schedule (Retry-After wins for 429/503), then failed.
    410 Gone disables the endpoint; so does an unbroken run of failures for WEBHOOK_DISABLE_AFTER_DAYS.
    """
    if not results:
        return
    config = current_app.config
    schedule_length = len(retry_schedule(config))
    deliveries = {d.id: d for d in db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.id.in_([r.task.delivery_id for r in results])))}
    attempts = {a.id: a for a in db.session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.id.in_([r.task.attempt_id for r in results])))}
    endpoints = {e.id: e for e in db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.id.in_({r.task.endpoint_id for r in results})))}
    disable_after = timedelta(days=config["WEBHOOK_DISABLE_AFTER_DAYS"])
    to_disable = {}
    retries = {}
    for result in sorted(results, key=lambda r: r.attempted_at):
        delivery = deliveries.get(result.task.delivery_id)
        endpoint = endpoints.get(result.task.endpoint_id)
        if delivery is None or endpoint is None:
            continue   # the endpoint was deleted meanwhile
        attempt_row = attempts.get(result.task.attempt_id)
        if attempt_row is not None:   # written by start_attempts() before the request left
            attempt_row.succeeded, attempt_row.response_status = result.succeeded, result.status
            attempt_row.response_headers, attempt_row.response_body = result.response_headers, result.response_body
            attempt_row.duration_ms, attempt_row.error = result.duration_ms, result.error
        owns_lease = delivery.lease_token == result.task.lease_token
        if owns_lease:
            delivery.lease_token = None
            delivery.lease_expires_at = None
        if delivery.status == "succeeded" or (delivery.status != "pending" and not result.succeeded):
            continue   # a late duplicate (another worker took over): keep the settled outcome
        delivery.round_attempts += 1
        delivery.last_attempt_at = result.attempted_at
        delivery.last_status_code = result.status
        delivery.last_error = result.error
        if result.succeeded:
            delivery.status = "succeeded"
            delivery.succeeded_at = result.attempted_at
            delivery.next_attempt_at = None
            endpoint.failing_since = None
            retries.pop(delivery.id, None)
            continue
        if endpoint.failing_since is None:
            endpoint.failing_since = result.attempted_at
        if result.status == 410:
            delivery.status = "failed"
            delivery.next_attempt_at = None
            to_disable[endpoint.id] = "The endpoint answered 410 Gone, which asks senders to stop."
        elif delivery.round_attempts >= schedule_length:
            delivery.status = "failed"
            delivery.next_attempt_at = None
        else:
            delivery.status = "pending"
            delivery.next_attempt_at = result.attempted_at + timedelta(
                seconds=_retry_delay(config, delivery.round_attempts, result.retry_after))
            retries[delivery.id] = delivery.next_attempt_at
        if endpoint.is_active and result.attempted_at - endpoint.failing_since >= disable_after and endpoint.id not in to_disable:
            days = config["WEBHOOK_DISABLE_AFTER_DAYS"]
            to_disable[endpoint.id] = (f"Every delivery attempt failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC "
                                       f"({days:g} days).")
    db.session.flush()
    for endpoint_id, reason in to_disable.items():
        endpoint = endpoints[endpoint_id]
        if endpoint.is_active:
            org = db.session.get(_org_model(), endpoint.org_id)
            disable_endpoint(org, endpoint, events_service.SYSTEM, reason, automatic=True)
            for delivery_id in [d for d, _ in retries.items() if deliveries[d].endpoint_id == endpoint_id]:
                retries.pop(delivery_id)
    for delivery_id, when in retries.items():
        info = db.session.info.setdefault("webhook_scheduled", [])
        info.append((str(delivery_id), when.timestamp()))
    db.session.commit()


def _org_model():
    from models import Organization
    return Organization


def due_or_stuck(limit=1000):
    """Ids of pending deliveries Redis may have lost: due for longer than the grace period and not
    leased, or leased by a worker whose lease ran out (it died mid-delivery)."""
    at = now()
    grace = timedelta(seconds=current_app.config["WEBHOOK_SWEEP_GRACE_SECONDS"])
    return db.session.scalars(
        select(WebhookDelivery.id).where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= at,
            (WebhookDelivery.lease_expires_at.is_(None) & (WebhookDelivery.next_attempt_at <= at - grace))
            | (WebhookDelivery.lease_expires_at < at),
        ).order_by(WebhookDelivery.next_attempt_at).limit(limit)
    ).all()


# --- What admins see -----------------------------------------------------------------------------

@dataclass
class EndpointHealth:
    last_status: int | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    attempts_24h: int = 0
    succeeded_24h: int = 0
    pending: int = 0

    @property
    def success_rate(self):
        return None if not self.attempts_24h else round(100 * self.succeeded_24h / self.attempts_24h)


def endpoint_health(org_id, endpoint_ids=None):
    """{endpoint_id: EndpointHealth}: last attempt, success rate over 24 h, pending deliveries."""
    health = {}
    since = now() - timedelta(hours=24)
    for endpoint_id, total, ok in db.session.execute(
        select(WebhookAttempt.endpoint_id, func.count(), func.sum(case((WebhookAttempt.succeeded.is_(True), 1), else_=0)))
        .where(WebhookAttempt.org_id == org_id, WebhookAttempt.created_at >= since)
        .group_by(WebhookAttempt.endpoint_id)
    ):
        health.setdefault(endpoint_id, EndpointHealth()).attempts_24h = total
        health[endpoint_id].succeeded_24h = int(ok or 0)
    for endpoint_id, count in db.session.execute(
        select(WebhookDelivery.endpoint_id, func.count())
        .where(WebhookDelivery.org_id == org_id, WebhookDelivery.status == "pending")
        .group_by(WebhookDelivery.endpoint_id)
    ):
        health.setdefault(endpoint_id, EndpointHealth()).pending = count
    latest = (select(WebhookAttempt.endpoint_id, func.max(WebhookAttempt.created_at).label("at"))
              .where(WebhookAttempt.org_id == org_id).group_by(WebhookAttempt.endpoint_id).subquery())
    for attempt_row in db.session.scalars(
        select(WebhookAttempt).join(latest, (latest.c.endpoint_id == WebhookAttempt.endpoint_id) & (latest.c.at == WebhookAttempt.created_at))
    ):
        entry = health.setdefault(attempt_row.endpoint_id, EndpointHealth())
        entry.last_status = attempt_row.response_status
        entry.last_error = attempt_row.error
        entry.last_attempt_at = attempt_row.created_at
    return health
