from sqlalchemy import select

from models import AuditEvent, Membership, Organization, Role


def test_empty_state_then_create_workspace(client, make, login):
    ada = make.user(email="ada@example.com")
    login(ada)
    page = client.get("/app/workspaces")
    assert page.status_code == 200
    assert b"No organizations yet." in page.data

    response = client.post("/app/workspaces", data={"name": "Acme Inc"})
    assert response.status_code == 303
    org = Organization.by_slug("acme-inc")
    assert response.headers["Location"].endswith("/app/o/acme-inc/")
    membership = Membership.query.filter_by(org_id=org.id).one()
    assert membership.user_id == ada.id and membership.role == Role.owner
    actions = [e.action for e in AuditEvent.query.filter_by(org_id=org.id).order_by(AuditEvent.created_at)]
    assert actions == ["org.created", "member.added"]

    page = client.get("/app/workspaces")
    assert page.status_code == 200
    assert b"Acme Inc" in page.data and b"No organizations yet." not in page.data


def test_create_workspace_without_name_shows_inline_error(client, make, login):
    login(make.user())
    response = client.post("/app/workspaces", data={"name": "  "})
    assert response.status_code == 422
    assert b"Enter a name for the workspace." in response.data
    assert Organization.query.count() == 0


def test_org_pages_404_for_non_members(client, make, login):
    org = make.org()
    login(make.user())
    assert client.get(f"/app/o/{org.slug}/").status_code == 404
    assert client.get("/app/o/no-such-org/").status_code == 404


def test_anonymous_is_sent_to_login(client, make):
    org = make.org()
    response = client.get(f"/app/o/{org.slug}/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_create_form_error_as_htmx_fragment(client, make, login):
    login(make.user())
    response = client.post("/app/workspaces", data={"name": ""},
                           headers={"HX-Request": "true", "HX-Target": "create_form"})
    assert response.status_code == 422
    assert b"Enter a name for the workspace." in response.data
    assert b"<html" not in response.data
