"""The bell and the inbox in headless Chromium: counts update in place, actions swap the inbox region."""
import pytest
from sqlalchemy import func, update

from extensions import db
from models import Notification, Role
from tests import factories
from tests.screenshots import screenshot


@pytest.mark.browser
def test_bell_and_inbox(live_server, browser_context, make, happen):
    owner = make.user(name="Olive Owner", email="olive@acme.example")
    acme = make.org(owner=owner, name="Acme", slug="acme")
    globex = make.org(owner=owner, name="Globex", slug="globex")
    person = make.member(acme, Role.admin, user_=make.user(name="Ada Lovelace", email="ada@acme.example"))
    make.member(globex, Role.admin, user_=person)
    db.session.execute(update(Notification).values(read_at=func.now()))
    db.session.commit()
    grace = make.member(acme, Role.member, user_=make.user(name="Grace Hopper", email="grace@acme.example", password=None))
    happen(acme, "member.role_changed", actor_user=owner, about=person, role="admin")
    happen(globex, "org.updated", actor_user=owner, changes={"name": ["Globex", "Globex Inc"]})

    page = browser_context().new_page()
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", person.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/workspaces")

    badge = page.locator("#notification_badge")
    assert badge.get_attribute("data-count") == "3"  # Grace joined, role changed, Globex renamed
    page.click("#notification_bell > summary")  # opening the menu loads the latest ten
    page.wait_for_selector("#notification_menu_items .bell-item.is-unread >> nth=2")
    assert page.locator("#notification_menu_items .bell-item.is-unread").count() == 3
    assert "Grace Hopper joined Acme as member" in page.locator("#notification_menu_items").inner_text()
    screenshot(page, "notifications-bell", full_page=False)

    # Something happens while the page is open: the next poll raises the count and reloads the list.
    happen(acme, "member.removed", actor_user=owner, about=grace, role="member", reason="removed")
    page.evaluate("htmx.trigger(document.body, 'notifications-changed')")  # what the 30 s poll does
    page.wait_for_selector('#notification_badge[data-count="4"]')
    page.wait_for_selector("#notification_menu_items >> text=Grace Hopper was removed from Acme")

    # The inbox: an action swaps the list region and the bell follows, without a page load.
    page.click("#bell_view_all")
    page.wait_for_url("**/app/notifications")
    assert page.locator("#notification_rows .notification.is-unread").count() == 4
    page.evaluate("window.stillTheSamePage = true")
    page.locator("#notification_rows .notification").first.locator("button[data-action=mark_read]").click()
    page.wait_for_selector('#notification_badge[data-count="3"]')
    assert page.locator("#notification_rows .notification.is-unread").count() == 3
    assert page.evaluate("window.stillTheSamePage") is True
    page.click("#tab_all")
    page.wait_for_url("**tab=all**")
    screenshot(page, "notifications-inbox")

    # Filter to one workspace, then open a notification: it is marked read and leads to its page.
    page.select_option("#org_filter", "globex")
    page.click("#inbox_filter button[type=submit]")
    page.wait_for_url("**org=globex**")
    assert page.locator("#notification_rows .notification").count() == 2  # the join notice (read) and the rename
    page.locator("#notification_rows .notification-title", has_text="changed the settings of Globex").click()
    page.wait_for_url("**/app/o/globex/")
    page.wait_for_selector('#notification_badge[data-count="2"]')

    page.goto(f"{live_server.url}/app/settings/notifications")
    assert page.locator('input[name="email:user.password_changed"]').is_disabled()
    page.check('input[name="email:member.role_changed"]')
    page.select_option('select[name="mode:member.role_changed"]', "digest")
    page.click("#save_notification_settings")
    page.wait_for_selector("text=Notification settings saved.")
    assert page.locator('select[name="mode:member.role_changed"]').input_value() == "digest"
    screenshot(page, "notifications-settings")

    # Mark all read from the bell.
    page.click("#notification_bell > summary")
    page.click("#bell_mark_all_read")
    page.wait_for_selector('#notification_badge.is-zero[data-count="0"]', state="attached")  # after htmx settles
    assert page.locator("#notification_badge").is_hidden()  # no red dot when nothing is unread
