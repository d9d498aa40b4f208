"""Setup links: the owners' page (create shown once, list, revoke) and opening a link (straight in, or
with a one-time code when it was emailed); expired, revoked, wrong-code and other-org uses refused."""
from datetime import timedelta

from sqlalchemy import select

from extensions import db
from models import AuditEvent, Role, SetupLink, utcnow
from services import setup_links
from tests.setup_links.conftest import code_in, make_link, open_link


def audit_actions(org):
    return [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.org_id == org.id)
                                                 .order_by(AuditEvent.created_at))]


def test_owner_creates_a_link_shown_once_and_listed_with_its_facts(acme, client, login):
    org, owner = acme
    login(owner)
    response = client.post("/app/o/acme/settings/setup-links", data={"scopes": ["sso", "domains"], "days": "10"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert 'id="new_link"' in body and 'hx-history="false"' in body
    url = body.split('<code id="new_link">')[1].split("</code>")[0]
    assert url.startswith("http://localhost/setup/oksetup_")
    token = url.rsplit("/", 1)[1]
    assert len(token) >= len("oksetup_") + 43  # 256 random bits, base64url

    link = db.session.scalar(select(SetupLink).where(SetupLink.org_id == org.id))
    assert link.token_hash == setup_links.hash_token(token) and token not in (link.prefix * 2)
    assert link.scopes == ["domains", "sso"]
    assert timedelta(days=9, hours=23) < link.expires_at - utcnow() <= timedelta(days=10)
    assert "setup_link.created" in audit_actions(org)

    listing = client.get("/app/o/acme/settings/setup-links").get_data(as_text=True)
    assert token not in listing  # shown once
    row = listing.split(f'id="link-{link.id}"')[1].split("</tr>")[0]
    assert "Single sign-on" in row and "Domain verification" in row and "SCIM" not in row
    assert "olive@example.com" in row and "Never" in row and "Live" in row


def test_create_form_errors_are_inline_and_write_nothing(acme, client, login):
    org, owner = acme
    login(owner)
    for data, message in [({"days": "7"}, "Choose at least one"), ({"scopes": ["sso"], "days": "31"}, "1 to 30 days"),
                          ({"scopes": ["sso"], "days": "0"}, "1 to 30 days"),
                          ({"scopes": ["sso"], "days": "7", "send_to": "not an address"}, "not valid")]:
        response = client.post("/app/o/acme/settings/setup-links", data=data)
        assert response.status_code == 422, data
        assert message in response.get_data(as_text=True), data
    assert db.session.scalar(select(SetupLink)) is None


def test_default_is_seven_days_and_admins_cannot_make_links(acme, client, login, make):
    org, owner = acme
    admin = make.member(org, Role.admin)
    login(admin)
    assert client.get("/app/o/acme/settings/setup-links").status_code == 403
    assert client.post("/app/o/acme/settings/setup-links", data={"scopes": ["sso"]}).status_code == 403
    login(owner)
    client.post("/app/o/acme/settings/setup-links", data={"scopes": ["scim"], "days": "7"})
    link = db.session.scalar(select(SetupLink))
    assert timedelta(days=6, hours=23) < link.expires_at - utcnow() <= timedelta(days=7)


def test_opening_a_link_lands_on_its_branded_page_without_the_token_in_the_address(acme, client):
    org, owner = acme
    link, path = make_link(org, owner, scopes=("sso", "domains"))
    home = open_link(client, path)
    assert home == f"/setup/l/{link.id}"
    page = client.get(home)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'id="setup_brand">Acme<' in body
    assert "user_menu" not in body and "Orgkit</a>" not in body  # no Orgkit chrome
    assert 'id="part-sso"' in body and 'id="part-domains"' in body and 'id="part-scim"' not in body
    db.session.refresh(link)
    assert link.last_used_at is not None


def test_a_link_page_not_opened_in_this_browser_is_404(acme, client, app, make):
    org, owner = acme
    link, path = make_link(org, owner)
    assert client.get(f"/setup/l/{link.id}").status_code == 404
    # Another org's link opened in this browser does not open this one either.
    other_owner = make.user()
    other = make.org(owner=other_owner)
    other_link, other_path = make_link(other, other_owner)
    open_link(client, other_path)
    assert client.get(f"/setup/l/{other_link.id}").status_code == 200
    assert client.get(f"/setup/l/{link.id}").status_code == 404
    assert client.get("/setup/l/not-a-uuid").status_code == 404


def test_unknown_expired_and_revoked_links_are_refused(acme, client, login, app):
    org, owner = acme
    assert client.get("/setup/oksetup_nothing").status_code == 404
    expired, expired_path = make_link(org, owner)
    expired.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = client.get(expired_path)
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)

    link, path = make_link(org, owner)
    home = open_link(client, path)
    login(owner, app.test_client()).post(f"/app/o/acme/settings/setup-links/{link.id}/revoke")
    # Revoked at once: the page already open refuses its next request, and the link itself too.
    response = client.get(home)
    assert response.status_code == 410 and "revoked" in response.get_data(as_text=True)
    assert client.get(path).status_code == 410
    assert "setup_link.revoked" in audit_actions(org)
    listing = login(owner, app.test_client()).get("/app/o/acme/settings/setup-links").get_data(as_text=True)
    assert "Revoked" in listing and "Expired" in listing


def test_revoke_asks_first_without_javascript(acme, client, login):
    org, owner = acme
    link, _ = make_link(org, owner)
    login(owner)
    page = client.get(f"/app/o/acme/settings/setup-links/{link.id}/revoke")
    assert page.status_code == 200 and 'id="confirm_revoke"' in page.get_data(as_text=True)
    db.session.refresh(link)
    assert link.revoked_at is None
    response = client.post(f"/app/o/acme/settings/setup-links/{link.id}/revoke")
    assert response.status_code == 303
    db.session.refresh(link)
    assert link.revoked_at is not None and link.revoked_by_label == "olive@example.com"


def test_emailed_link_needs_the_code_sent_to_that_address(acme, client, login, smtp_server, run_jobs):
    org, owner = acme
    login(owner)
    client.post("/app/o/acme/settings/setup-links", data={"scopes": ["sso"], "days": "3", "send_to": "IT@Example.com"})
    run_jobs(["email"])
    [message] = [m for m in smtp_server.wait_for(2) if m["To"] == "it@example.com"]
    assert "Acme" in message["Subject"]
    path = "/setup/" + message.get_body(("plain",)).get_content().split("/setup/")[1].split()[0]
    link = db.session.scalar(select(SetupLink))

    it_admin = client.application.test_client()
    page = it_admin.get(path)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "it@example.com" in page.get_data(as_text=True)
    assert it_admin.get(f"/setup/l/{link.id}").status_code == 404  # not open yet

    assert it_admin.post(path + "/code").status_code == 200
    # Asking again at once sends nothing more.
    assert it_admin.post(path + "/code").status_code == 422
    run_jobs(["email"])
    messages = [m for m in smtp_server.wait_for(3) if m["To"] == "it@example.com"]
    assert len(messages) == 2
    code = code_in(messages[1])

    wrong = "00000000" if code != "00000000" else "11111111"
    response = it_admin.post(path + "/verify", data={"code": wrong})
    assert response.status_code == 422 and "not right" in response.get_data(as_text=True)
    assert it_admin.get(f"/setup/l/{link.id}").status_code == 404

    response = it_admin.post(path + "/verify", data={"code": code})
    assert response.status_code == 303 and response.headers["Location"] == f"/setup/l/{link.id}"
    assert it_admin.get(f"/setup/l/{link.id}").status_code == 200
    # The code works once: another browser cannot reuse it.
    third = client.application.test_client()
    assert third.post(path + "/verify", data={"code": code}).status_code == 422
    assert third.get(f"/setup/l/{link.id}").status_code == 404


def test_five_wrong_codes_void_the_code(acme, client, smtp_server, run_jobs):
    org, owner = acme
    link, path = make_link(org, owner, send_to="it@example.com")
    client.post(path + "/code")
    run_jobs(["email"])
    code = code_in([m for m in smtp_server.wait_for(3) if m["To"] == "it@example.com"][-1])
    wrong = "00000000" if code != "00000000" else "11111111"
    for _ in range(setup_links.MAX_CODE_FAILURES):
        assert client.post(path + "/verify", data={"code": wrong}).status_code == 422
    response = client.post(path + "/verify", data={"code": code})
    assert response.status_code == 422 and "Send" in response.get_data(as_text=True)
    assert client.get(f"/setup/l/{link.id}").status_code == 404


def test_every_owner_is_emailed_of_a_new_link_and_admins_are_not(acme, make, run_jobs, smtp_server):
    org, owner = acme
    second_owner = make.member(org, Role.owner)
    make.member(org, Role.admin)
    make_link(org, owner, scopes=("domains",))
    run_jobs(["email"])
    messages = smtp_server.wait_for(2)
    assert sorted(m["To"] for m in messages) == sorted([owner.email, second_owner.email])


def test_a_link_stops_when_its_creator_is_no_longer_an_owner(acme, client, make):
    from services import orgs
    from services.events import SYSTEM
    from models import Membership
    org, owner = acme
    make.member(org, Role.owner)  # an org keeps an owner
    link, path = make_link(org, owner)
    home = open_link(client, path)
    assert client.get(home).status_code == 200
    membership = db.session.scalar(select(Membership).where(Membership.org_id == org.id, Membership.user_id == owner.id))
    orgs.change_role(org, membership, Role.admin, SYSTEM)
    db.session.commit()
    response = client.get(home)
    assert response.status_code == 410 and "no longer an owner" in response.get_data(as_text=True)
    assert client.get(path).status_code == 410
