"""/app/settings/notifications: the catalog x channel matrix, critical types locked, digest choice."""
from sqlalchemy import select

from extensions import db
from models import AuditEvent, NotificationPreference, Role
from services import catalog, notifications


def _row(html, type_name):
    start = html.index(f'id="pref-{type_name.replace(".", "-")}"')
    return html[start:html.index("</tr>", start)]


def test_matrix_lists_every_notifiable_catalog_type_with_critical_ones_locked(make, client, login):
    login(make.user())
    page = client.get("/app/settings/notifications")
    assert page.status_code == 200
    for event_type in catalog.EVENT_TYPES:
        if event_type.recipients:
            row = _row(page.text, event_type.name)
            assert f'name="in_app:{event_type.name}"' in row and f'name="email:{event_type.name}"' in row
            assert (" disabled>" in row or " disabled " in row) == event_type.critical
            assert ("Security · always on" in row) == event_type.critical
        else:
            assert f'name="in_app:{event_type.name}"' not in page.text
    # Defaults: in the app on, email off.
    row = _row(page.text, "member.role_changed")
    assert f'name="in_app:member.role_changed" aria-label="A member\'s role changed. in the app" checked' in row.replace("&#39;", "'")
    assert 'name="email:member.role_changed" aria-label' in row and "by email\" checked" not in row.replace("&#39;", "'")
    # ... except where the catalog says email by default: an endpoint disabled reaches admins by email.
    assert "by email\" checked" in _row(page.text, "webhook.endpoint.disabled")


def _form(choices):
    """The POST body of the matrix: every notifiable type, with the catalog's defaults unless overridden."""
    data = {}
    for _, types in notifications.notifiable_types():
        for event_type in types:
            in_app, email, mode = choices.get(event_type.name, (True, event_type.email_by_default, "immediate"))
            if in_app:
                data[f"in_app:{event_type.name}"] = "on"
            if email:
                data[f"email:{event_type.name}"] = "on"
            data[f"mode:{event_type.name}"] = mode
    return data


def test_saving_turns_email_on_as_digest_for_one_type_and_in_app_off_for_another(make, client, login):
    person = make.user()
    login(person)
    response = client.post("/app/settings/notifications", data=_form({
        "member.role_changed": (True, True, "digest"),
        "member.removed": (False, False, "immediate"),
    }))
    assert response.status_code == 303
    choices = notifications.choices_for(person.id)
    assert choices["member.role_changed"] == notifications.Choice(True, True, "digest")
    assert choices["member.removed"] == notifications.Choice(False, False, "immediate")
    page = client.get("/app/settings/notifications").text
    assert "Notification settings saved." in page
    assert '<option value="digest" selected>' in _row(page, "member.role_changed")
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "notification.preferences_updated")).data[
        "event_types"] == ["member.removed", "member.role_changed"]


def test_preferences_decide_what_arrives(make, client, login, happen, inbox_of):
    owner = make.user()
    org = make.org(owner=owner)
    person = make.member(org, Role.member)
    login(person)
    client.post("/app/settings/notifications", data=_form({"member.role_changed": (False, False, "immediate")}))
    happen(org, "member.role_changed", actor_user=owner, about=person, role="admin")
    assert inbox_of(person, "member.role_changed") == []


def test_critical_types_cannot_be_switched_off_by_a_forged_post(make, client, login, happen, inbox_of):
    person = make.user()
    login(person)
    data = _form({})
    data.pop("in_app:user.password_changed"); data.pop("email:user.password_changed", None)
    assert client.post("/app/settings/notifications", data=data).status_code == 303
    assert db.session.scalar(select(NotificationPreference).where(NotificationPreference.event_type == "user.password_changed")) is None
    happen(None, "user.password_changed", about=person)  # by someone else: one's own actions stay out of one's inbox
    assert inbox_of(person, "user.password_changed") == ["Your password was changed"]


def test_a_bad_email_mode_is_refused_inline_and_saves_nothing(make, client, login):
    person = make.user()
    login(person)
    data = _form({"member.removed": (False, False, "immediate")})
    data["mode:member.role_changed"] = "hourly"
    response = client.post("/app/settings/notifications", data=data)
    assert response.status_code == 422
    row = _row(response.text, "member.role_changed")
    assert "field-error" in row and "Choose immediately or daily digest." in row
    assert db.session.scalar(select(NotificationPreference).where(NotificationPreference.user_id == person.id)) is None


def test_user_menu_links_to_inbox_and_settings(make, client, login):
    login(make.user())
    page = client.get("/app/workspaces").text
    assert 'href="/app/notifications"' in page and 'href="/app/settings/notifications"' in page
