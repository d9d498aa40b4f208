"""The daily digest: a day's events for one person gathered into one email, sent once."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from extensions import db
from jobs.sweeper import sweep_notification_digests
from models import NotificationDigestItem, Role


def _tomorrow_at(hour):
    today = datetime.now(timezone.utc).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc).replace(hour=hour)


def test_digest_gathers_a_days_events_into_one_email(make, happen, prefer, smtp_server, run_jobs, app):
    owner = make.user()
    org = make.org(owner=owner, name="Acme")
    other_org = make.org(owner=owner, name="Globex")
    person = make.member(org, Role.member)
    make.member(other_org, Role.admin, user_=person)
    prefer(person, "member.role_changed", email=True, mode="digest")
    prefer(person, "org.updated", email=True, mode="digest")
    run_jobs()
    before = len(smtp_server.messages)

    happen(org, "member.role_changed", actor_user=owner, about=person, role="admin")
    happen(org, "member.role_changed", actor_user=owner, about=person, role="viewer")
    happen(other_org, "org.updated", actor_user=owner, changes={"name": ["Globex", "Globex Inc"]})
    run_jobs()
    assert len(smtp_server.messages) == before  # nothing immediately

    hour = app.config["NOTIFICATION_DIGEST_HOUR"]
    assert sweep_notification_digests(now=_tomorrow_at(hour) - timedelta(hours=1) - timedelta(days=1)) == 0  # not yet due
    assert sweep_notification_digests(now=_tomorrow_at(hour) + timedelta(minutes=1)) == 1
    run_jobs()

    [digest] = [m for m in smtp_server.wait_for(before + 1)[before:] if m["To"] == person.email]
    assert digest["Subject"] == "Your Orgkit daily digest: 3 updates"
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = digest.get_body(preferencelist=("plain",)).get_content()
    assert "Acme" in text and "Globex" in text
    assert f"{person.name} is now admin in Acme" in text
    assert f"{person.name} is now viewer in Acme" in text
    assert "changed the settings of Globex" in text

    # A second sweep (or a re-run job) sends nothing more.
    assert sweep_notification_digests(now=_tomorrow_at(hour) + timedelta(minutes=2)) == 0
    run_jobs()
    assert len([m for m in smtp_server.messages if m["To"] == person.email]) == 1


def test_events_after_the_digest_time_wait_for_the_next_digest(make, happen, prefer, smtp_server, run_jobs, app):
    owner = make.user()
    org = make.org(owner=owner, name="Acme")
    person = make.member(org, Role.member)
    prefer(person, "member.role_changed", email=True, mode="digest")
    happen(org, "member.role_changed", actor_user=owner, about=person, role="admin")
    digest_time = _tomorrow_at(app.config["NOTIFICATION_DIGEST_HOUR"])
    # The event happened after tomorrow's digest time: it belongs to the day after.
    db.session.execute(update(NotificationDigestItem).values(created_at=digest_time + timedelta(hours=1)))
    db.session.commit()
    assert sweep_notification_digests(now=digest_time + timedelta(hours=2)) == 0
    assert sweep_notification_digests(now=digest_time + timedelta(days=1, minutes=1)) == 1
    run_jobs()
    assert [m["Subject"] for m in smtp_server.wait_for(1) if m["To"] == person.email] == ["Your Orgkit daily digest: 1 update"]


def test_stop_the_digest_link_turns_off_every_digest_type(make, happen, prefer, client, app):
    from services import notifications
    person = make.user()
    prefer(person, "member.role_changed", email=True, mode="digest")
    prefer(person, "org.updated", email=True, mode="digest")
    prefer(person, "member.removed", email=True, mode="immediate")
    path = notifications.unsubscribe_url(person.id, notifications.DIGEST_TOKEN_TYPE).removeprefix("http://localhost")
    assert b"the daily digest" in client.get(path).data
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    choices = notifications.choices_for(person.id)
    assert not choices["member.role_changed"].email and not choices["org.updated"].email
    assert choices["member.removed"].email  # an immediate type is untouched
