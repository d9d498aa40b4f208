"""Notification emails through a real SMTP server and a real worker; one-click unsubscribe (RFC 8058)."""
import re

from sqlalchemy import select

from extensions import db
from models import NotificationPreference, OutboundEmail, Role, utcnow
from jobs.sweeper import sweep_all
from tests.tokens import tampered


def _text_and_html(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def _to(messages, address):
    return [m for m in messages if m["To"] == address]


def _unsubscribe_path(message):
    return re.match(r"<http://localhost(/notifications/unsubscribe/[^>]+)>", message["List-Unsubscribe"]).group(1)


def test_email_arrives_with_org_event_link_and_list_unsubscribe_headers(make, happen, prefer, smtp_server, run_jobs):
    owner = make.user(name="Olive")
    org = make.org(owner=owner, name="Acme Corp", slug="acme")
    person = make.member(org, Role.member)
    prefer(person, "member.role_changed", email=True)

    happen(org, "member.role_changed", actor_user=owner, about=person, role="admin")
    run_jobs()

    [message] = _to(smtp_server.wait_for(1), person.email)
    assert message["Subject"] == f"[Acme Corp] {person.name} is now admin in Acme Corp"
    text, html = _text_and_html(message)
    for part in (text, html):
        assert "Acme Corp" in part
        assert "member.role_changed" in part
        assert owner.email in part  # who did it
        assert "http://localhost/app/o/acme/" in part  # what it is about
    assert "Stop emails like this" in text and "Stop emails like this" in html
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert _unsubscribe_path(message) in text


def test_one_click_unsubscribe_without_login_stops_that_type_only(make, happen, prefer, smtp_server, run_jobs, client):
    owner = make.user()
    org = make.org(owner=owner, name="Acme")
    person = make.member(org, Role.member)
    prefer(person, "member.role_changed", email=True)
    prefer(person, "member.removed", email=True)
    happen(org, "member.role_changed", actor_user=owner, about=person, role="admin")
    run_jobs()
    [message] = _to(smtp_server.wait_for(1), person.email)

    # What a mail client does for RFC 8058 one-click: POST the body below, with no cookie and no CSRF token.
    response = client.post(_unsubscribe_path(message), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert b"You are unsubscribed" in response.data

    happen(org, "member.role_changed", actor_user=owner, about=person, role="viewer")
    happen(org, "member.removed", actor_user=owner, about=person, role="viewer", reason="removed")
    run_jobs()
    smtp_server.wait_for(2)
    subjects = [m["Subject"] for m in _to(smtp_server.messages, person.email)]
    assert subjects == [message["Subject"], f"[Acme] {person.name} was removed from Acme"]
    row = db.session.scalar(select(NotificationPreference).where(NotificationPreference.user_id == person.id,
                                                                NotificationPreference.event_type == "member.role_changed"))
    assert row.email is False and row.in_app is True


def test_unsubscribe_link_opened_in_a_browser_asks_first_then_unsubscribes(make, client, happen, prefer):
    from services.notifications import unsubscribe_url
    person = make.user()
    prefer(person, "member.role_changed", email=True)
    path = unsubscribe_url(person.id, "member.role_changed").removeprefix("http://localhost")

    page = client.get(path)  # a link scanner's GET must not unsubscribe
    assert page.status_code == 200
    assert b'id="unsubscribe_button"' in page.data and person.email.encode() in page.data
    assert db.session.scalar(select(NotificationPreference.email).where(NotificationPreference.user_id == person.id)) is True

    done = client.post(path)
    assert done.status_code == 200 and b'id="unsubscribe_done"' in done.data
    assert db.session.scalar(select(NotificationPreference.email).where(NotificationPreference.user_id == person.id)) is False
    # The change is in the audit trail of the person's account.
    from models import AuditEvent
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "notification.preferences_updated")) is not None


def test_bad_unsubscribe_tokens_get_a_clear_page(client, make):
    from services.notifications import unsubscribe_token
    person = make.user()
    good = unsubscribe_token(person.id, "member.role_changed")
    for token in ["nonsense", tampered(good), unsubscribe_token(person.id, "no.such_type"),
                  unsubscribe_token(person.id, "user.password_changed")]:
        for method in (client.get, client.post):
            response = method(f"/notifications/unsubscribe/{token}")
            assert response.status_code == 400
            assert b"This link does not work" in response.data


def test_critical_email_is_sent_despite_preferences_and_has_no_unsubscribe(make, happen, prefer, smtp_server, run_jobs):
    person = make.user()
    prefer(person, "user.password_changed", in_app=False, email=False)
    happen(None, "user.password_changed", actor_user=person, about=person)
    run_jobs()
    [message] = _to(smtp_server.wait_for(1), person.email)
    assert message["Subject"] == "[Orgkit] Your password was changed"
    assert message["List-Unsubscribe"] is None
    text, _ = _text_and_html(message)
    assert "security notice" in text and "203.0.113.7" in text


def test_email_is_retried_when_the_smtp_server_was_down(make, happen, prefer, smtp_server, run_jobs, app, monkeypatch):
    owner = make.user()
    org = make.org(owner=owner)
    person = make.member(org, Role.member)
    prefer(person, "member.role_changed", email=True)
    run_jobs()
    monkeypatch.setitem(app.config, "SMTP_PORT", 9)  # nothing listens there: connection refused

    happen(org, "member.role_changed", actor_user=owner, about=person, role="admin")
    run_jobs()
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.to_address == person.email))
    assert email.status == "pending" and email.attempts == 1 and email.last_error

    # A second copy of the job (the sweeper's) before the retry is due keeps the backoff: no attempt.
    from jobs.email import deliver_email
    deliver_email(str(email.id))
    db.session.expire_all()
    assert email.attempts == 1

    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)
    email.next_attempt_at = utcnow()  # the retry is due (time passed)
    address, subject = person.email, email.subject
    db.session.commit()
    sweep_all()  # the worker's periodic sweeper (it ends the session it ran in)
    run_jobs()
    assert [m["Subject"] for m in _to(smtp_server.wait_for(1), address)] == [subject]
