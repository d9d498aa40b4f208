"""The bell and the inbox: the badge count after each action, isolation, tabs, filters, pagination."""
import re

import pytest
from sqlalchemy import func, select, update

from extensions import db
from models import Notification, Role
from models.notifications import unread_count


def badge(client):
    response = client.get("/app/notifications/badge?shown=-1", headers={"HX-Request": "true"})
    assert response.status_code == 200
    return int(re.search(rb'data-count="(\d+)"', response.data).group(1))


@pytest.fixture
def busy(make, happen):
    """A member of a busy workspace with three fresh notifications (and the one of joining, read)."""
    owner = make.user(name="Olive")
    org = make.org(owner=owner, name="Acme", slug="acme")
    person = make.member(org, Role.member)
    db.session.execute(update(Notification).values(read_at=func.now()))  # setup noise: already read
    db.session.commit()
    for role in ("admin", "viewer", "member"):
        happen(org, "member.role_changed", actor_user=owner, about=person, role=role)
    return org, owner, person


def _ids(person, **filters):
    return [str(n.id) for n in db.session.scalars(Notification.for_user(person.id).filter_by(**filters)
                                                 .order_by(Notification.created_at.desc()))]


def test_badge_counts_unread_and_follows_every_action(busy, client, login, happen):
    org, owner, person = busy
    login(person)
    assert badge(client) == 3
    page = client.get("/app/notifications")
    assert 'id="notification_badge"' in page.text and 'data-count="3"' in page.text
    assert 'hx-trigger="every 30s, notifications-changed from:body"' in page.text

    first, second, third = _ids(person, type="member.role_changed")
    assert client.post(f"/app/notifications/{first}/read").status_code == 303
    assert badge(client) == 2
    client.post(f"/app/notifications/{first}/unread")
    assert badge(client) == 3
    client.post(f"/app/notifications/{second}/archive")
    assert badge(client) == 2
    client.post(f"/app/notifications/{second}/unarchive")
    assert badge(client) == 2  # archiving marked it read; it comes back read
    opened = client.get(f"/app/notifications/{third}")
    assert opened.status_code == 303 and opened.headers["Location"] == "/app/o/acme/members"
    assert badge(client) == 1

    happen(org, "member.role_changed", actor_user=owner, about=person, role="admin")
    assert badge(client) == 2  # the bell rises as things happen
    client.post("/app/notifications/read-all")
    assert badge(client) == 0
    client.post("/app/notifications/archive-read")
    assert client.get("/app/notifications?tab=all").text.count('class="notification"') == 0
    assert unread_count(person.id) == 0


def test_badge_poll_asks_the_menu_to_reload_only_when_the_count_changed(busy, client, login):
    _, _, person = busy
    login(person)
    changed = client.get("/app/notifications/badge?shown=2", headers={"HX-Request": "true"})
    assert "notifications-menu-stale" in changed.headers.get("HX-Trigger", "")
    same = client.get("/app/notifications/badge?shown=3", headers={"HX-Request": "true"})
    assert "HX-Trigger" not in same.headers
    menu = client.get("/app/notifications/menu", headers={"HX-Request": "true"})
    assert menu.text.count('class="bell-item is-unread"') == 3
    assert "<html" not in menu.text


def test_badge_poll_after_the_session_ended_swaps_nothing(client):
    assert client.get("/app/notifications/badge", headers={"HX-Request": "true"}).status_code == 204
    assert client.get("/app/notifications/menu", headers={"HX-Request": "true"}).status_code == 204


def test_the_bell_dropdown_shows_the_latest_ten_and_mark_all_read_works_without_js(make, happen, client, login):
    owner = make.user()
    org = make.org(owner=owner, name="Acme")
    person = make.member(org, Role.member)
    for n in range(12):
        happen(org, "member.role_changed", actor_user=owner, about=person, role=f"role{n}")
    login(person)
    page = client.get("/app/workspaces")
    # Every page carries the count and the menu's actions; the list itself loads when the menu opens.
    assert 'id="bell_mark_all_read"' in page.text and 'id="bell_view_all"' in page.text
    assert "13 unread notifications" in page.text and "is now role11" not in page.text
    assert 'hx-trigger="toggle once from:#notification_bell' in page.text
    menu = client.get("/app/notifications/menu", headers={"HX-Request": "true"})
    assert menu.text.count('class="bell-item-title"') == 10
    assert f"{person.name} is now role11 in Acme" in menu.text and "is now role1 in" not in menu.text
    response = client.post("/app/notifications/read-all", data={"next": "/app/workspaces"})
    assert response.status_code == 303 and response.headers["Location"] == "/app/workspaces"
    assert 'data-count="0"' in client.get("/app/workspaces").text


def test_someone_elses_notification_is_404_for_every_action(busy, make, client, login):
    _, _, person = busy
    stranger = make.user()
    login(stranger)
    notification_id = _ids(person)[0]
    assert client.get(f"/app/notifications/{notification_id}").status_code == 404
    for action in ("read", "unread", "archive", "unarchive"):
        assert client.post(f"/app/notifications/{notification_id}/{action}").status_code == 404
    assert client.post("/app/notifications/not-a-uuid/read").status_code == 404
    assert unread_count(person.id) == 3
    # Bulk actions only ever touch your own.
    client.post("/app/notifications/read-all")
    client.post("/app/notifications/archive-read")
    assert unread_count(person.id) == 3


def test_inbox_pages_require_login(client):
    for path in ("/app/notifications", "/app/settings/notifications"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_tabs_filter_by_workspace_and_pagination(make, happen, client, login):
    owner = make.user()
    acme = make.org(owner=owner, name="Acme", slug="acme")
    globex = make.org(owner=owner, name="Globex", slug="globex")
    person = make.member(acme, Role.member)
    make.member(globex, Role.member, user_=person)
    db.session.execute(update(Notification).values(read_at=func.now(), archived_at=func.now()))
    db.session.commit()
    for n in range(27):
        happen(acme, "member.role_changed", actor_user=owner, about=person, role=f"r{n}")
    happen(globex, "member.role_changed", actor_user=owner, about=person, role="globex-role")
    login(person)

    first = client.get("/app/notifications")
    assert first.status_code == 200
    assert first.text.count('class="notification is-unread"') == 25
    assert "Older →" in first.text and "← Newer" not in first.text
    second = client.get("/app/notifications?tab=unread&page=2")
    assert second.text.count('class="notification is-unread"') == 3 and "← Newer" in second.text

    only_globex = client.get("/app/notifications?org=globex")
    assert only_globex.text.count('class="notification is-unread"') == 1
    assert "is now globex-role in Globex" in only_globex.text
    # Mark all read inside the filter leaves the other workspace alone.
    client.post("/app/notifications/read-all", data={"org": "globex"})
    assert unread_count(person.id) == 27

    archived = client.get("/app/notifications?tab=archived")
    assert archived.text.count('class="notification"') == 2  # the two "joined" notices archived in setup
    assert 'data-action="unarchive"' in archived.text
    empty = client.get("/app/notifications?tab=unread&org=globex")
    assert 'id="inbox_empty"' in empty.text and "all caught up" in empty.text
    assert client.get("/app/notifications?tab=bogus&page=-4&org=nope").status_code == 200


def test_inbox_action_from_htmx_returns_the_region_and_refreshes_the_bell(busy, client, login):
    _, _, person = busy
    login(person)
    first = _ids(person, type="member.role_changed")[0]
    headers = {"HX-Request": "true", "HX-Target": "inbox_region"}
    posted = client.post(f"/app/notifications/{first}/read", data={"next": "/app/notifications?tab=unread"}, headers=headers)
    assert posted.status_code == 303
    response = client.get(posted.headers["Location"], headers=headers)  # the browser follows, headers kept
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="inbox_region">')
    assert "notifications-changed" in response.headers["HX-Trigger"]
    assert response.text.count('class="notification is-unread"') == 2


def test_empty_inbox_says_what_to_do_next(make, client, login):
    login(make.user())
    page = client.get("/app/notifications?tab=all")
    assert "No notifications yet." in page.text and "/app/settings/notifications" in page.text


def test_badge_request_is_one_count_on_the_partial_index(busy, client, login):
    from sqlalchemy import event, text

    _, _, person = busy
    login(person)
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert badge(client) == 3
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    # One statement: loading the signed-in user carries the count (services/sessions.load_user).
    assert len(statements) == 1, statements
    count_sql = statements[0][statements[0].lower().index("(select count("):]
    count_sql = count_sql[:count_sql.index(")", count_sql.index("archived_at IS NULL")) + 1]
    assert "FROM notifications" in count_sql and "JOIN" not in count_sql.upper()

    sql = text("SELECT count(*) FROM notifications WHERE notifications.user_id = :u "
               "AND notifications.read_at IS NULL AND notifications.archived_at IS NULL")
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE notifications"))  # current statistics, not autovacuum's from an earlier test
        db.session.execute(text("SET LOCAL enable_seqscan = off"))  # tiny test tables: make the planner show its index choice
        plan = " ".join(row[0] for row in db.session.execute(text("EXPLAIN " + sql.text), {"u": person.id}))
    else:
        plan = " ".join(str(row[-1]) for row in db.session.execute(text("EXPLAIN QUERY PLAN " + sql.text), {"u": person.id.hex}))
    db.session.rollback()
    assert "ix_notifications_user_unread" in plan, plan
