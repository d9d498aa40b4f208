"""Domains and SCIM through a setup link: the TXT record re-checked live (htmx polling, or the button
without JavaScript) until verified; SCIM turned on with a token shown once, whose first requests show up
in the link's live log in plain words. Finishing closes the link and tells the owners."""
from sqlalchemy import select

from extensions import db
from models import AuditEvent, ScimConfig, SetupLink, SsoDomain
from services.events import SYSTEM
from services.sso import domains
from tests.setup_links.conftest import HTMX, make_link, open_link


def test_a_domain_is_added_and_rechecked_live_until_verified(acme, client, dns):
    org, owner = acme
    link, path = make_link(org, owner, scopes=("domains",))
    home = open_link(client, path)
    page = client.get(home + "/domains").get_data(as_text=True)
    assert "No domains yet." in page

    assert client.post(home + "/domains", data={"domain": "not a domain"}).status_code == 422
    response = client.post(home + "/domains", data={"domain": "AcmeCorp.com"})
    assert response.status_code == 303
    domain = db.session.scalar(select(SsoDomain).where(SsoDomain.org_id == org.id))
    assert domain.domain == "acmecorp.com" and not domain.is_verified
    page = client.get(home + "/domains").get_data(as_text=True)
    record = domains.txt_record_value(domain)
    assert record in page and "hx-trigger=\"every 10s, poll-resume\"" in page

    # The poll before the record is published: the row again, still waiting, polling on.
    check = f"{home}/domains/{domain.id}/check"
    poll = client.post(check, headers=HTMX)
    assert poll.status_code == 200 and "Waiting for the TXT record" in poll.get_data(as_text=True)
    assert "<html" not in poll.get_data(as_text=True)
    db.session.refresh(domain)
    assert domain.last_checked_at is not None and domain.check_attempts == 0  # the retry schedule is left as it was

    dns.txt["acmecorp.com"] = [record]
    poll = client.post(check, headers=HTMX)
    assert poll.status_code == 286  # htmx stops polling
    assert "Verified" in poll.get_data(as_text=True)
    db.session.refresh(link)
    assert "domains" in link.done

    # Without JavaScript the same check is a button that leads back to the page.
    assert client.post(check).status_code == 303


def test_a_domain_of_another_org_is_404(acme, client, make):
    org, owner = acme
    other = make.org()
    foreign = domains.add_domain(other, "other.example", SYSTEM)
    db.session.commit()
    link, path = make_link(org, owner, scopes=("domains",))
    home = open_link(client, path)
    assert client.post(f"{home}/domains/{foreign.id}/check").status_code == 404
    assert client.post(f"{home}/domains/{foreign.id}/check", headers=HTMX).status_code == 404


def test_scim_is_turned_on_with_a_token_shown_once_and_its_requests_show_live(acme, client, app):
    org, owner = acme
    link, path = make_link(org, owner, scopes=("scim",), send_to=None)
    home = open_link(client, path)
    client.post(home + "/provider", data={"provider": "entra"})
    page = client.get(home + "/scim").get_data(as_text=True)
    assert "Tenant URL" in page and "http://localhost/scim/v2" in page

    response = client.post(home + "/scim")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    token = body.split('<code id="scim_token">')[1].split("</code>")[0]
    assert token.startswith("okscim_") and "Secret Token" in body
    assert db.session.scalar(select(ScimConfig.enabled).where(ScimConfig.org_id == org.id)) is True
    assert token not in client.get(home + "/scim").get_data(as_text=True)  # shown once

    label = f"setup link {link.prefix} (olive@example.com)"
    actions = {e.action: e.actor_label for e in db.session.scalars(select(AuditEvent).where(AuditEvent.org_id == org.id))}
    assert actions["scim.enabled"] == label and actions["scim.token.created"] == label

    log = client.get(home + "/scim/requests", headers={**HTMX, "HX-Target": "scim_requests"})
    assert "No request yet" in log.get_data(as_text=True)
    idp = app.test_client()
    created = idp.post("/scim/v2/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                               "userName": "grace@acmecorp.com", "active": True},
                       headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201
    idp.post("/scim/v2/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": ""},
             headers={"Authorization": f"Bearer {token}"})
    log = client.get(home + "/scim/requests", headers={**HTMX, "HX-Target": "scim_requests"}).get_data(as_text=True)
    assert "<html" not in log and "grace@acmecorp.com" in log
    assert "Done" in log and "Refused" in log
    # Without JavaScript the log is part of the page (its Refresh link reloads it).
    assert client.get(home + "/scim/requests").status_code == 303
    assert "grace@acmecorp.com" in client.get(home + "/scim").get_data(as_text=True)
    db.session.refresh(link)
    assert "scim" in link.done


def test_finishing_closes_the_link_and_tells_the_owners(acme, client, run_jobs, smtp_server):
    org, owner = acme
    link, path = make_link(org, owner, scopes=("scim",))
    home = open_link(client, path)
    response = client.post(home + "/finish")
    assert response.status_code == 422 and "Finish SCIM provisioning first" in response.get_data(as_text=True)
    client.post(home + "/scim")
    assert 'id="finish_submit"' in client.get(home).get_data(as_text=True)
    response = client.post(home + "/finish")
    assert response.status_code == 200 and "Setup finished" in response.get_data(as_text=True)
    db.session.refresh(link)
    assert link.completed_at is not None
    assert client.get(home).status_code == 410 and client.get(path).status_code == 410
    run_jobs(["email"])
    subjects = [m["Subject"] for m in smtp_server.wait_for(4) if m["To"] == owner.email]
    assert any("finished setting up Acme" in subject for subject in subjects), subjects
