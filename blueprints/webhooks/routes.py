"""Webhook endpoints of an org, their message log and attempts, and the event catalog.

    GET       /webhooks/                                   webhook_endpoints_list
    GET,POST  /webhooks/new                                webhook_endpoints_create
    GET       /webhooks/catalog                            webhook_event_catalog
    GET       /webhooks/<endpoint_id>                      webhook_endpoints_show (message log polls itself)
    GET,POST  /webhooks/<endpoint_id>/edit                 webhook_endpoints_edit
    POST      /webhooks/<endpoint_id>/enable               webhook_endpoints_enable
    POST      /webhooks/<endpoint_id>/disable              webhook_endpoints_disable
    GET,POST  /webhooks/<endpoint_id>/delete               webhook_endpoints_delete (GET asks to confirm)
    GET       /webhooks/<endpoint_id>/secret               webhook_endpoints_secret (reveal)
    POST      /webhooks/<endpoint_id>/secret/rotate        webhook_endpoints_rotate_secret
    POST      /webhooks/<endpoint_id>/secret/end-overlap   webhook_endpoints_end_secret_overlap
    POST      /webhooks/<endpoint_id>/test                 webhook_endpoints_send_test
    POST      /webhooks/<endpoint_id>/recover              webhook_endpoints_recover
    GET       /webhooks/deliveries/<delivery_id>           webhook_deliveries_show (polls while pending)
    POST      /webhooks/deliveries/<delivery_id>/resend    webhook_deliveries_resend
    GET       /webhooks/attempts/<attempt_id>              webhook_attempts_show
"""
from dataclasses import dataclass
from datetime import timezone

from flask import flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from blueprints.formtools import apply_service_error
from blueprints.webhooks import bp
from blueprints.webhooks.forms import EndpointForm, RecoverForm, RotateSecretForm, TestEventForm
from extensions import db
from htmx import render_page, wants_fragment
from models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from request_context import current_actor
from services import ServiceError, catalog, webhooks
from tenancy import current_org, requires

PAGE_SIZE = 25
STATUS_FILTERS = ("all", "pending", "succeeded", "failed")
# htmx stops polling an element when its request gets this status (https://htmx.org/docs/#polling).
STOP_POLLING = 286


@bp.route("/")
@requires("webhooks.manage")
def webhook_endpoints_list():
    """Every endpoint with its health: last status, success rate over 24 h, pending deliveries."""
    endpoints = db.session.scalars(WebhookEndpoint.for_org(current_org.id).order_by(WebhookEndpoint.created_at)).all()
    return render_page("webhooks/endpoints_list.html", endpoints=endpoints,
                       health=webhooks.endpoint_health(current_org.id), empty=webhooks.EndpointHealth())


@bp.route("/new", methods=["GET", "POST"])
@requires("webhooks.manage")
def webhook_endpoints_create():
    """Add an endpoint; its URL is checked by the egress guard and refused with the reason."""
    form = EndpointForm()
    if form.validate_on_submit():
        try:
            endpoint = webhooks.create_endpoint(
                current_org, current_actor(), form.url.data, form.description.data,
                all_events=form.events.data != "chosen", event_types=form.event_types.data, created_by=current_user)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash("Endpoint added. Copy its signing secret into your receiver, then send a test event.", "success")
            return redirect(url_for("webhooks.webhook_endpoints_show", endpoint_id=endpoint.id), 303)
    return render_page("webhooks/endpoint_form.html", status=422 if form.errors or form.form_errors else 200,
                       form=form, endpoint=None, groups=_webhook_groups())


@bp.route("/catalog")
@requires("webhooks.manage")
def webhook_event_catalog():
    """Every event type an endpoint can receive, with its description and an example body."""
    return render_page("webhooks/catalog.html", groups=_webhook_groups(), example_body=_example_body)


@bp.route("/<endpoint_id>")
@requires("webhooks.manage")
def webhook_endpoints_show(endpoint_id):
    """One endpoint: settings, secret, test, recovery, and its message log (polls while pending)."""
    endpoint = WebhookEndpoint.get_for_org_or_404(current_org.id, endpoint_id)
    return _render_show(endpoint)


@bp.route("/<endpoint_id>/edit", methods=["GET", "POST"])
@requires("webhooks.manage")
def webhook_endpoints_edit(endpoint_id):
    """Change the URL, description or event types."""
    endpoint = WebhookEndpoint.get_for_org_or_404(current_org.id, endpoint_id)
    form = EndpointForm(obj=endpoint if request.method == "GET" else None)
    if request.method == "GET":
        form.events.data = "all" if endpoint.all_events else "chosen"
        form.event_types.data = list(endpoint.event_types or [])
    if form.validate_on_submit():
        try:
            webhooks.update_endpoint(current_org, endpoint, current_actor(), form.url.data, form.description.data,
                                     form.events.data != "chosen", form.event_types.data)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash("Endpoint saved.", "success")
            return redirect(url_for("webhooks.webhook_endpoints_show", endpoint_id=endpoint.id), 303)
    return render_page("webhooks/endpoint_form.html", status=422 if form.errors or form.form_errors else 200,
                       form=form, endpoint=endpoint, groups=_webhook_groups())


@bp.route("/<endpoint_id>/enable", methods=["POST"])
@requires("webhooks.manage")
def webhook_endpoints_enable(endpoint_id):
    """Start delivering again; the auto-disable count starts over."""
    endpoint = WebhookEndpoint.get_for_org_or_404(current_org.id, endpoint_id)
    webhooks.enable_endpoint(current_org, endpoint, current_actor())
    db.session.commit()
    flash("Endpoint enabled. To send what failed while it was off, use “Recover failed messages”.", "success")
    return redirect(url_for("webhooks.webhook_endpoints_show", endpoint_id=endpoint.id), 303)


@bp.route("/<endpoint_id>/disable", methods=["POST"])
@requires("webhooks.manage")
def webhook_endpoints_disable(endpoint_id):
    """Stop delivering; pending messages are marked failed and can be recovered later."""
    endpoint = WebhookEndpoint.get_for_org_or_404(current_org.id, endpoint_id)
    webhooks.disable_endpoint(current_org, endpoint, current_actor(), f"Disabled by {current_user.email}.")
    db.session.commit()
    flash("Endpoint disabled. Nothing is sent to it until you enable it.", "success")
    return redirect(url_for("webhooks.webhook_endpoints_show", endpoint_id=endpoint.id), 303)


@bp.route("/<endpoint_id>/delete", methods=["GET", "POST"])
@requires("webhooks.manage")
def webhook_endpoints_delete(endpoint_id):
    """GET asks for confirmation (the no-JavaScript path); POST deletes the endpoint and its log."""
    endpoint = WebhookEndpoint.get_for_org_or_404(current_org.id, endpoint_id)
    if request.method == "GET":
        return render_page("webhooks/endpoint_delete.html", endpoint=endpoint)
    webhooks.delete_endpoint(current_org, endpoint, current_actor())
    db.session.commit()
    flash("Endpoint deleted.", "success")
    return redirect(url_for("webhooks.webhook_endpoints_list"), 303)


@bp.route("/<endpoint_id>/secret")
@requires("webhooks.manage")
def webhook_endpoints_secret(endpoint_id):
    """Reveal the signing secret (an htmx request gets just the secret box)."""
    endpoint = WebhookEndpoint.get_for_org_or_404(current_org.id, endpoint_id)
    secret = webhooks.reveal_secret(current_org, endpoint, current_actor())
    db.session.commit()  # the audit event of the reveal
    body, status = _render_show(endpoint, secret=secret)
    return body, status, {"Cache-Control": "no-store"}


@bp.route("/<endpoint_id>/secret/rotate", methods=["POST"])
@requires("webhooks.manage")
def webhook_endpoints_rotate_secret(endpoint_id):
    """A new secret; the old one keeps signing for the overlap, or stops at once."""
    endpoint = WebhookEndpoint.get_for_org_or_404(current_org.id, endpoint_id)
    form = RotateSecretForm()
    if not form.validate_on_submit():
        return _render_show(endpoint, rotate_form=form, status=422)
    webhooks.rotate_secret(current_org, endpoint, current_actor(), keep_previous=form.previous.data != "revoke")
    db.session.commit()
    if form.previous.data == "revoke":
        flash("Secret rotated. The old secret no longer signs messages.", "success")
    else:
        flash(f"Secret rotated. Messages are signed with both secrets until {endpoint.previous_secret_expires_at:%Y-%m-%d %H:%M} UTC.", "success")
    return redirect(url_for("webhooks.webhook_endpoints_show", endpoint_id=endpoint.id), 303)


@bp.route("/<endpoint_id>/secret/end-overlap", methods=["POST"])
@requires("webhooks.manage")
def webhook_endpoints_end_secret_overlap(endpoint_id):
    """Stop signing with the previous secret now."""
    endpoint = WebhookEndpoint.get_for_org_or_404(current_org.id, endpoint_id)
    webhooks.expire_previous_secret(current_org, endpoint, current_actor())
    db.session.commit()
    flash("The previous secret no longer signs messages.", "success")
    return redirect(url_for("webhooks.webhook_endpoints_show", endpoint_id=endpoint.id), 303)


@bp.route("/<endpoint_id>/test", methods=["POST"])
@requires("webhooks.manage")
def webhook_endpoints_send_test(endpoint_id):
    """Send the catalog's example of an event type to this endpoint only."""
    endpoint = WebhookEndpoint.get_for_org_or_404(current_org.id, endpoint_id)
    form = TestEventForm()
    if form.validate_on_submit():
        try:
            delivery = webhooks.send_test_message(current_org, endpoint, form.event_type.data, current_actor())
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash(f"Test {delivery.message.event_type} event queued. Its status updates below.", "success")
            return redirect(url_for("webhooks.webhook_endpoints_show", endpoint_id=endpoint.id), 303)
    return _render_show(endpoint, test_form=form, status=422)


@bp.route("/<endpoint_id>/recover", methods=["POST"])
@requires("webhooks.manage")
def webhook_endpoints_recover(endpoint_id):
    """Queue again every failed message to this endpoint since a time."""
    endpoint = WebhookEndpoint.get_for_org_or_404(current_org.id, endpoint_id)
    form = RecoverForm()
    if form.validate_on_submit():
        try:
            count = webhooks.recover_failed(current_org, endpoint, form.since.data.replace(tzinfo=timezone.utc), current_actor())
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash(f"{count} failed message{'s' if count != 1 else ''} queued again." if count
                  else "No failed messages since then.", "success" if count else "info")
            return redirect(url_for("webhooks.webhook_endpoints_show", endpoint_id=endpoint.id), 303)
    return _render_show(endpoint, recover_form=form, status=422)


@bp.route("/deliveries/<delivery_id>")
@requires("webhooks.manage")
def webhook_deliveries_show(delivery_id):
    """One message to one endpoint: its body and every attempt (polls while pending)."""
    delivery = WebhookDelivery.get_for_org_or_404(current_org.id, delivery_id)
    attempts = db.session.scalars(
        WebhookAttempt.for_org(current_org.id).where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(WebhookAttempt.attempt_number.desc())
    ).all()
    status = STOP_POLLING if wants_fragment("webhooks/delivery_show.html") and delivery.is_settled else 200
    return render_page("webhooks/delivery_show.html", status=status, delivery=delivery, endpoint=delivery.endpoint,
                       attempts=attempts, pretty_body=_pretty(delivery.message.body))


@bp.route("/deliveries/<delivery_id>/resend", methods=["POST"])
@requires("webhooks.manage")
def webhook_deliveries_resend(delivery_id):
    """Send this message to its endpoint again, now."""
    delivery = WebhookDelivery.get_for_org_or_404(current_org.id, delivery_id)
    try:
        webhooks.resend_delivery(current_org, delivery, current_actor())
    except ServiceError as error:
        flash(error.message, "error")
    else:
        db.session.commit()
        flash("Message queued again.", "success")
    return redirect(url_for("webhooks.webhook_deliveries_show", delivery_id=delivery.id), 303)


@bp.route("/attempts/<attempt_id>")
@requires("webhooks.manage")
def webhook_attempts_show(attempt_id):
    """One HTTP attempt: request headers and body, response status, headers and first 20 KB."""
    attempt = WebhookAttempt.get_for_org_or_404(current_org.id, attempt_id)
    return render_page("webhooks/attempt_show.html", attempt=attempt, delivery=attempt.delivery,
                       endpoint=attempt.delivery.endpoint, pretty_body=_pretty(attempt.delivery.message.body),
                       pretty_response=_pretty(attempt.response_body))


# --- helpers -------------------------------------------------------------------------------------

@dataclass
class _Page:
    number: int
    has_prev: bool
    has_next: bool
    prev_url: str | None
    next_url: str | None
    label: str


# Seconds between re-checks of a message log with pending messages, one per round, the last repeated.
POLL_DELAYS = (2, 2, 4, 4, 8, 15, 30, 60)


def _render_show(endpoint, status=200, secret=None, rotate_form=None, test_form=None, recover_form=None):
    status_filter = request.args.get("status", "all")
    if status_filter not in STATUS_FILTERS:
        status_filter = "all"
    try:
        page_number = max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        page_number = 1
    query = WebhookDelivery.for_org(current_org.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status_filter != "all":
        query = query.where(WebhookDelivery.status == status_filter)
    rows = db.session.scalars(query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
                              .offset((page_number - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    deliveries = rows[:PAGE_SIZE]
    link = lambda n: url_for("webhooks.webhook_endpoints_show", endpoint_id=endpoint.id, status=status_filter, page=n)  # noqa: E731
    page = _Page(page_number, page_number > 1, len(rows) > PAGE_SIZE,
                 link(page_number - 1) if page_number > 1 else None,
                 link(page_number + 1) if len(rows) > PAGE_SIZE else None, f"Page {page_number}")
    pending = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.org_id == current_org.id, WebhookDelivery.endpoint_id == endpoint.id,
        WebhookDelivery.status == "pending"))
    # The log re-checks while messages are pending, backing off from 2 s to a minute (a failing
    # endpoint's retries are minutes to hours apart; app.js also pauses it while the tab is hidden).
    try:
        poll_round = max(0, min(int(request.args.get("poll", 0)), len(POLL_DELAYS) - 1))
    except ValueError:
        poll_round = 0
    template = "webhooks/endpoint_show.html"
    if status == 200 and wants_fragment(template) == "delivery_rows" and not pending:
        status = STOP_POLLING
    recover_form = recover_form or RecoverForm(formdata=None)
    return render_page(
        template, status=status, endpoint=endpoint, deliveries=deliveries, page=page, pending=pending,
        poll_round=poll_round, poll_delay=POLL_DELAYS[poll_round],
        status_filter=status_filter, status_filters=STATUS_FILTERS, secret=secret,
        health=webhooks.endpoint_health(current_org.id).get(endpoint.id, webhooks.EndpointHealth()),
        rotate_form=rotate_form or RotateSecretForm(formdata=None), test_form=test_form or TestEventForm(formdata=None),
        recover_form=recover_form, overlap_hours=_overlap_hours(),
    )


def _overlap_hours():
    from flask import current_app
    return f"{current_app.config['WEBHOOK_SECRET_OVERLAP_HOURS']:g}"


def _webhook_groups():
    return [(group, [t for t in types if t.webhook]) for group, types in catalog.groups() if any(t.webhook for t in types)]


def _example_body(event_type):
    import json
    return json.dumps({"type": event_type.name, "timestamp": "2025-01-01T12:00:00+00:00", "data": event_type.example}, indent=2)


def _pretty(body):
    import json
    if body is None:
        return None
    try:
        return json.dumps(json.loads(body), indent=2)
    except ValueError:
        return body
