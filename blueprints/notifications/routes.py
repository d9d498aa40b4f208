"""Notifications: the bell's badge and menu, the inbox, settings, and unsubscribe links.

    GET       /app/notifications                        notifications_inbox     ?tab=unread|all|archived&org=<slug>&page=N
    GET       /app/notifications/badge                  notifications_badge     polled by the bell (one COUNT)
    GET       /app/notifications/menu                   notifications_menu      the bell's latest ten (htmx)
    POST      /app/notifications/read-all               notifications_mark_all_read
    POST      /app/notifications/archive-read           notifications_archive_read
    GET       /app/notifications/<id>                   notifications_open      mark read, go to what it is about
    POST      /app/notifications/<id>/read|unread|archive|unarchive
    GET,POST  /app/settings/notifications               notification_settings
    GET,POST  /notifications/unsubscribe/<token>        notifications_unsubscribe (no login; RFC 8058)
"""
from flask import flash, g, make_response, redirect, request, url_for
from flask_login import current_user

import htmx
from blueprints.notifications import bp
from blueprints.notifications.forms import NotificationSettingsForm
from extensions import db
from htmx import render_page, render_region
from models import Notification
from models.notifications import unread_count
from request_context import client_ip, current_actor
from services import ServiceError, notifications
from services.events import Actor
from services.redirects import safe_next_url
from tenancy import public_page, user_page, user_workspaces

BELL_TEMPLATE = "components/topbar_extra.html"


def notification_bell():
    """For the top bar of every page: the unread count (the list loads when the menu opens)."""
    if "notification_bell" not in g:
        g.notification_bell = {"count": unread_count(current_user.id), "items": None}
    return g.notification_bell


def _back(default_endpoint="notifications.notifications_inbox"):
    """After a POST: back to the page the form was on (a local path only), 303."""
    return redirect(safe_next_url(request.form.get("next")) or url_for(default_endpoint), 303)


def _inbox_org():
    """The workspace the inbox is filtered to (?org=<slug>), only among the user's own workspaces."""
    slug = request.args.get("org") or request.form.get("org")
    if not slug:
        return None
    return next((org for org in user_workspaces() if org.slug == slug), None)


# --- The bell ------------------------------------------------------------------------------------

@bp.route("/app/notifications/badge")
@public_page
def notifications_badge():
    """The unread count for the bell, polled every 30 seconds: one COUNT on a partial index."""
    # Public at the Flask level on purpose: a poll from a page whose session ended must not be
    # redirected to (and swap in) the login page; it gets 204 and htmx leaves the badge alone.
    if not current_user.is_authenticated:
        return "", 204
    count = notification_bell()["count"]  # read with the signed-in user (app.load_user)
    response = make_response(render_region(BELL_TEMPLATE, "notification_badge", bell={"count": count})[0])
    if request.args.get("shown") != str(count):
        htmx.trigger(response, "notifications-menu-stale")  # the dropdown's list is out of date
    return response


@bp.route("/app/notifications/menu")
@public_page
def notifications_menu():
    """The bell's latest ten, loaded by htmx when the menu opens or the badge saw the count change."""
    if not current_user.is_authenticated:  # same reason as the badge
        return "", 204
    bell = {"count": None, "items": notifications.latest(current_user.id)}
    return render_region(BELL_TEMPLATE, "notification_menu_items", bell=bell)


# --- The inbox -----------------------------------------------------------------------------------

@bp.route("/app/notifications")
@user_page
def notifications_inbox():
    """My notifications from every workspace: unread, all or archived, newest first."""
    tab = request.args.get("tab", "unread")
    if tab not in notifications.TABS:
        tab = "unread"
    org = _inbox_org()
    page_number = request.args.get("page", 1, type=int) or 1
    page = notifications.inbox_page(current_user.id, tab, org.id if org else None, page_number)
    args = {"tab": tab, **({"org": org.slug} if org else {})}
    if page.has_prev:
        page.prev_url = url_for("notifications.notifications_inbox", page=page.number - 1, **args)
    if page.has_next:
        page.next_url = url_for("notifications.notifications_inbox", page=page.number + 1, **args)
    body, status = render_page(
        "notifications/inbox.html", tab=tab, org=org, page=page, tab_args=args,
        unread=unread_count(current_user.id), workspaces=user_workspaces(),
    )
    response = make_response(body, status)
    if htmx.wants_fragment("notifications/inbox.html"):
        htmx.trigger(response, "notifications-changed")  # a region swap after an action: refresh the bell
    return response


@bp.route("/app/notifications/<notification_id>")
@user_page
def notifications_open(notification_id):
    """Open a notification: mark it read and go to what it is about."""
    notification = Notification.get_for_user_or_404(current_user.id, notification_id)
    notifications.mark_read(notification)
    db.session.commit()
    return redirect(safe_next_url(notification.link) or url_for("notifications.notifications_inbox"), 303)


def _act_on_one(notification_id, action, message):
    notification = Notification.get_for_user_or_404(current_user.id, notification_id)
    action(notification)
    db.session.commit()
    if not htmx.is_htmx():
        flash(message, "success")
    return _back()


@bp.route("/app/notifications/<notification_id>/read", methods=["POST"])
@user_page
def notifications_mark_read(notification_id):
    """Mark one notification read."""
    return _act_on_one(notification_id, notifications.mark_read, "Marked as read.")


@bp.route("/app/notifications/<notification_id>/unread", methods=["POST"])
@user_page
def notifications_mark_unread(notification_id):
    """Mark one notification unread again."""
    return _act_on_one(notification_id, notifications.mark_unread, "Marked as unread.")


@bp.route("/app/notifications/<notification_id>/archive", methods=["POST"])
@user_page
def notifications_archive(notification_id):
    """Archive one notification (it moves to the Archived tab)."""
    return _act_on_one(notification_id, notifications.archive, "Archived.")


@bp.route("/app/notifications/<notification_id>/unarchive", methods=["POST"])
@user_page
def notifications_unarchive(notification_id):
    """Move an archived notification back to the inbox."""
    return _act_on_one(notification_id, notifications.unarchive, "Moved back to the inbox.")


@bp.route("/app/notifications/read-all", methods=["POST"])
@user_page
def notifications_mark_all_read():
    """Mark every unread notification read (in one workspace when the inbox is filtered)."""
    org = _inbox_org()
    count = notifications.mark_all_read(current_user.id, org.id if org else None)
    db.session.commit()
    if not htmx.is_htmx():
        flash(f"Marked {count} notification{'s' if count != 1 else ''} as read." if count else "Nothing unread.", "success")
    return _back()


@bp.route("/app/notifications/archive-read", methods=["POST"])
@user_page
def notifications_archive_read():
    """Archive every notification already read (in one workspace when the inbox is filtered)."""
    org = _inbox_org()
    count = notifications.archive_all_read(current_user.id, org.id if org else None)
    db.session.commit()
    if not htmx.is_htmx():
        flash(f"Archived {count} read notification{'s' if count != 1 else ''}." if count else "Nothing read to archive.", "success")
    return _back()


# --- Settings ------------------------------------------------------------------------------------

@bp.route("/app/settings/notifications", methods=["GET", "POST"])
@user_page
def notification_settings():
    """Which events I am told about, in the app and by email (immediately or in a daily digest)."""
    form = NotificationSettingsForm()
    errors = {}
    groups = notifications.notifiable_types()
    if form.validate_on_submit():
        submitted = {
            event_type.name: (
                f"in_app:{event_type.name}" in request.form,
                f"email:{event_type.name}" in request.form,
                request.form.get(f"mode:{event_type.name}", "immediate"),
            )
            for _, types in groups for event_type in types
        }
        try:
            changed = notifications.set_preferences(current_user, submitted, current_actor())
        except ServiceError as error:
            errors[error.field] = error.message
            db.session.rollback()
        else:
            db.session.commit()
            flash("Notification settings saved." if changed else "No changes to save.", "success")
            return redirect(url_for("notifications.notification_settings"), 303)
    choices = notifications.choices_for(current_user.id)
    if errors:  # show what was submitted, with the error next to the row
        choices = {
            name: notifications.Choice(f"in_app:{name}" in request.form, f"email:{name}" in request.form,
                                       request.form.get(f"mode:{name}", ""), choice.locked) if not choice.locked else choice
            for name, choice in choices.items()
        }
    return render_page(
        "notifications/settings.html", status=422 if errors or form.errors else 200, form=form, groups=groups,
        choices=choices, errors=errors, modes=notifications.EMAIL_MODES,
    )


# --- Unsubscribe (no login) ----------------------------------------------------------------------

@bp.route("/notifications/unsubscribe/<token>", methods=["GET", "POST"])
@public_page
def notifications_unsubscribe(token):
    """Stop one kind of email from the link in it, without logging in.

    GET shows a one-button page, POST unsubscribes: link scanners and prefetchers follow GET links in
    emails, which must not unsubscribe anyone (the reason RFC 8058 specifies POST for one-click)."""
    try:
        user, type_name = notifications.read_unsubscribe_token(token)
    except ServiceError as error:
        return render_page("notifications/unsubscribe.html", status=400, error=error.message, state="invalid")
    label = notifications.type_label(type_name)
    if request.method == "POST":
        actor = Actor.for_user(user, client_ip(), request.headers.get("User-Agent"))
        notifications.unsubscribe(user, type_name, actor)
        db.session.commit()
        return render_page("notifications/unsubscribe.html", state="done", label=label, email=user.email)
    return render_page("notifications/unsubscribe.html", state="confirm", label=label, email=user.email, token=token)
