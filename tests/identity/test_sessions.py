"""Server-side sessions (services/sessions.py): logout ends a session everywhere its cookies went,
the CSRF token changes at login (issue 15), and each org is opened by its own grant (issue 13)."""
import re

import pytest
from sqlalchemy import select

from extensions import db
from models import Membership, Role, SessionSsoGrant, UserSession
from services import orgs
from services.events import SYSTEM
from tests.factories import PASSWORD


def _log_in(client, user, remember=False):
    data = {"email": user.email, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 303
    return response


def _copy_cookie(source, target, name):
    cookie = source.get_cookie(name)
    assert cookie is not None, f"no {name} cookie"
    target.set_cookie(name, cookie.value, domain=cookie.domain)


def test_a_copied_session_cookie_stops_working_after_logout(app, make):
    user = make.user()
    browser, thief = app.test_client(), app.test_client()
    _log_in(browser, user)
    _copy_cookie(browser, thief, "session")
    assert thief.get("/app/account").status_code == 200
    assert browser.post("/logout").status_code == 303
    response = thief.get("/app/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    ended = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert ended.ended_at is not None and ended.ended_reason == "logout"


def test_a_copied_remember_me_cookie_stops_working_after_logout(app, make):
    user = make.user()
    browser, thief = app.test_client(), app.test_client()
    _log_in(browser, user, remember=True)
    _copy_cookie(browser, thief, "remember_token")  # the remember-me cookie alone, no session cookie
    assert thief.get("/app/account").status_code == 200
    browser.post("/logout")
    later = app.test_client()
    _copy_cookie(thief, later, "remember_token")
    assert later.get("/app/account").status_code == 302


def test_logging_out_everywhere_ends_every_other_browser_too(app, make):
    user = make.user()
    laptop, phone = app.test_client(), app.test_client()
    _log_in(laptop, user)
    _log_in(phone, user, remember=True)
    assert laptop.post("/app/account/sessions/revoke", data={"confirmed": "yes"}).status_code == 303
    assert phone.get("/app/account").status_code == 302
    assert laptop.get("/app/account").status_code == 302


def test_changing_the_password_keeps_this_browser_and_ends_the_others(app, make):
    user = make.user()
    laptop, phone = app.test_client(), app.test_client()
    _log_in(laptop, user)
    _log_in(phone, user)
    response = laptop.post("/app/account/password", data={
        "current_password": PASSWORD, "new_password": "a brand new passphrase", "confirm_password": "a brand new passphrase"})
    assert response.status_code == 303
    assert laptop.get("/app/account").status_code == 200
    assert phone.get("/app/account").status_code == 302


def _csrf_token(page):
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'name="csrf_token" value="([^"]+)"', page)
    return match.group(1)


def test_the_csrf_token_changes_at_login_and_the_old_one_is_refused(app, client, make, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    user = make.user()
    before = _csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": before})
    assert response.status_code == 303
    after = _csrf_token(client.get("/app/account").get_data(as_text=True))
    assert after != before
    # A token an attacker planted or read before the login is worthless after it.
    assert client.post("/logout", data={"csrf_token": before}).status_code == 400
    assert client.post("/logout", data={"csrf_token": after}).status_code == 303


def test_an_sso_grant_opens_its_own_org_only(app, client, login, make):
    person = make.user()
    org_a, org_b = make.org(name="Alpha"), make.org(name="Beta")
    make.member(org_a, Role.member, user_=person)
    make.member(org_b, Role.admin, user_=person)
    login(person, method=None, sso_orgs=[org_a])  # only Alpha's IdP signed this browser in
    assert client.get(f"/app/o/{org_a.slug}/").status_code == 200
    response = client.get(f"/app/o/{org_b.slug}/settings")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    # A password login in the same browser adds the password grant and keeps Alpha's.
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Beta needs you to log in with your password" in page
    assert client.post(response.headers["Location"], data={"email": person.email, "password": PASSWORD}).status_code == 303
    assert client.get(f"/app/o/{org_b.slug}/").status_code == 200
    assert client.get(f"/app/o/{org_a.slug}/").status_code == 200


def test_losing_a_membership_ends_that_orgs_grant_only(app, client, login, make):
    person = make.user()
    org_a, org_b = make.org(name="Alpha"), make.org(name="Beta")
    make.member(org_a, Role.member, user_=person)
    make.member(org_b, Role.member, user_=person)
    login(person, method=None, sso_orgs=[org_a, org_b])
    membership = db.session.scalar(select(Membership).where(Membership.org_id == org_a.id,
                                                                 Membership.user_id == person.id))
    orgs.remove_member(org_a, membership, SYSTEM, acting_role=Role.owner)
    db.session.commit()
    assert {g.org_id for g in db.session.scalars(select(SessionSsoGrant))} == {org_b.id}
    assert client.get(f"/app/o/{org_b.slug}/").status_code == 200
    assert client.get(f"/app/o/{org_a.slug}/").status_code == 404


@pytest.mark.parametrize("login_id", ["", "garbage", "00000000-0000-0000-0000-000000000000:1",
                                      "00000000-0000-0000-0000-000000000000:00000000-0000-0000-0000-000000000000"])
def test_a_session_naming_no_live_record_is_signed_out(client, login_id):
    with client.session_transaction() as session:
        session["_user_id"] = login_id
    assert client.get("/app/account").status_code == 302
