"""Issue 13 (identity and trust boundaries), the SAML items: each numbered item reproduced as the issue
tells it, and shown refused. Items 2-4 (SCIM) are in tests/scim."""
import re

from sqlalchemy import select

from extensions import db
from models import AuditEvent, Membership, OutboundEmail, Role, SsoIdentity, User
from services import orgs
from services.events import SYSTEM
from services.sso import config as sso_config
from services.sso import enforcement
from tests.factories import PASSWORD
from tests.sso.conftest import DOMAIN, continued_to, post_to_acs, start_login


def settings(org, path=""):
    return f"/app/o/{org.slug}/settings/sso{path}"


def sp_response(app, idp, email, browser=None, **kwargs):
    """A login started in browser (a new one unless given), answered by the IdP for email."""
    browser = browser or app.test_client()
    request_id, relay = start_login(browser, idp.org)
    return browser, relay, idp.response(email, idp.acs, idp.audience, in_response_to=request_id, **kwargs)


def test_item_1_an_admin_cannot_change_what_the_org_trusts_nor_sign_in_as_the_owner(app, client, login, idp, attacker_idp, make):
    owner = db.session.scalar(select(User).where(User.email == f"owner@{DOMAIN}"))
    other_org = make.org(owner=owner, name="Crown")  # org C: the admin is no member of it
    admin = make.member(idp.org, Role.admin, email=f"mallory@{DOMAIN}")
    login(admin)
    # The admin sees the SSO page read-only and may run Test SSO...
    page = client.get(settings(idp.org)).get_data(as_text=True)
    assert 'id="trust_read_only"' in page and 'id="test_sso"' in page and 'id="metadata_form"' not in page
    assert "/sso" in continued_to(client.post(settings(idp.org, "/test")))   # on to the IdP
    # ...but cannot paste an IdP's metadata, add a signing certificate, allow IdP-initiated login or
    # require SSO: every one of those is the owners'.
    for path, data in (("/idp/metadata", {"metadata_xml": attacker_idp.metadata_xml()}),
                       ("/certificates", {"certificate": attacker_idp.cert_pem}),
                       ("/options", {"default_role": "admin", "allow_idp_initiated": "y"}),
                       ("/require", {"require_sso": "on"})):
        assert client.post(settings(idp.org, path), data=data).status_code == 403, path
    connection = sso_config.get_connection(idp.org.id)
    assert len(connection.certificates) == 1 and not connection.allow_idp_initiated
    # Even the org's real IdP asserting the owner's email does not sign anyone in as the owner: the
    # owner's account is not linked to this IdP, so the owner's consent would be needed.
    browser, relay, saml_response = sp_response(app, idp, owner.email)
    _, response = post_to_acs(app, idp.org, saml_response, relay, browser=browser)
    assert response.status_code == 200 and 'id="sso_link"' in response.get_data(as_text=True)
    assert browser.get(f"/app/o/{other_org.slug}/settings").status_code == 302
    assert db.session.scalar(select(SsoIdentity).where(SsoIdentity.user_id == owner.id)) is None
    # And a grant from this org's IdP never opens another org, even the owner's own.
    login(owner, client, method=None, sso_orgs=[idp.org])
    assert client.get(f"/app/o/{other_org.slug}/settings").status_code == 302


def test_owners_change_trust_and_every_owner_is_emailed(app, client, login, idp, attacker_idp, make):
    owner = db.session.scalar(select(User).where(User.email == f"owner@{DOMAIN}"))
    co_owner = make.member(idp.org, Role.owner, email="co-owner@example.com")
    login(owner)
    assert client.post(settings(idp.org, "/certificates"), data={"certificate": attacker_idp.cert_pem}).status_code == 303
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sso.configured")
                              .order_by(AuditEvent.created_at.desc()).limit(1))
    assert event.actor_label == owner.email and "signing certificate was added" in event.data["summary"]
    notices = db.session.scalars(select(OutboundEmail).where(OutboundEmail.subject.contains("single sign-on"))).all()
    assert {owner.email, co_owner.email} <= {notice.to_address for notice in notices}


def test_item_5_an_idp_never_takes_over_an_unlinked_account_on_its_domain(app, idp, make):
    # An existing password account, admin of org B, whose address is on A's verified domain; no tie to A.
    person = make.user(email=f"grace@{DOMAIN}")
    org_b = make.org(name="Beta")
    make.member(org_b, Role.admin, user_=person)
    browser, relay, saml_response = sp_response(app, idp, person.email)
    _, response = post_to_acs(app, idp.org, saml_response, relay, browser=browser)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="sso_link"' in page
    # Not linked, not added to A, not signed in: B's settings stay closed to that browser.
    assert db.session.scalar(select(SsoIdentity).where(SsoIdentity.user_id == person.id)) is None
    assert db.session.scalar(select(Membership).where(Membership.org_id == idp.org.id,
                                                      Membership.user_id == person.id)) is None
    assert browser.get(f"/app/o/{org_b.slug}/settings").status_code == 302
    # A turns on Require SSO: the person's password login still works and still opens B.
    connection = sso_config.get_connection(idp.org.id)
    connection.last_test_succeeded_at = connection.created_at
    enforcement.set_require_sso(idp.org, True, SYSTEM)
    db.session.commit()
    own_browser = app.test_client()
    assert own_browser.post("/login", data={"email": person.email, "password": PASSWORD}).status_code == 303
    assert own_browser.get(f"/app/o/{org_b.slug}/settings").status_code == 200


def test_item_5_consent_by_an_emailed_link_links_the_account_and_opens_its_org_only(app, idp, make):
    person = make.user(email=f"grace@{DOMAIN}", password=None)  # no password to prove it with
    org_b = make.org(name="Beta")
    make.member(org_b, Role.member, user_=person)
    browser, relay, saml_response = sp_response(app, idp, person.email)
    _, response = post_to_acs(app, idp.org, saml_response, relay, browser=browser)
    email_action = re.search(r'action="([^"]+/email-link)"', response.get_data(as_text=True)).group(1)
    assert browser.post(email_action).status_code == 303
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.to_address == person.email))
    link = re.search(r"http://[^\s]+/sso/[^\s]+/link/[^\s]+", email.text_body).group(0).split("localhost", 1)[-1]
    mail_reader = app.test_client()  # the link may open in another browser
    assert mail_reader.get(link).status_code == 200  # GET only asks: mail scanners open links
    assert db.session.scalar(select(SsoIdentity).where(SsoIdentity.user_id == person.id)) is None
    assert mail_reader.post(link).status_code == 303
    assert db.session.scalar(select(SsoIdentity.user_id).where(SsoIdentity.org_id == idp.org.id)) == person.id
    assert mail_reader.get(f"/app/o/{idp.org.slug}/").status_code == 200
    assert mail_reader.get(f"/app/o/{org_b.slug}/").status_code == 302  # A's grant opens A only
    assert mail_reader.post(link).status_code == 410  # once
    assert "sso.identity_linked" in db.session.scalars(select(AuditEvent.action)).all()


def test_item_6_a_response_to_a_login_this_browser_did_not_start_is_refused(app, idp, make):
    attacker = make.user(email=f"attacker@{DOMAIN}", password=None)
    db.session.add(SsoIdentity(org_id=idp.org.id, name_id=attacker.email, user_id=attacker.id))
    orgs.add_member(idp.org, attacker, Role.member, SYSTEM)
    db.session.commit()
    # The attacker starts a login in their own browser and gets their response...
    _, relay, saml_response = sp_response(app, idp, attacker.email)
    # ...and makes the victim's browser post it (an auto-submitting form on another site).
    victim = make.user(email="victim@example.com")
    victim_browser = app.test_client()
    victim_browser.post("/login", data={"email": victim.email, "password": PASSWORD})
    _, response = post_to_acs(app, idp.org, saml_response, relay, browser=victim_browser)
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and "This browser did not start this sign-in" in page
    assert victim_browser.get(f"/app/o/{idp.org.slug}/").status_code == 404  # still the victim, not a member
    assert "victim@example.com" in victim_browser.get("/app/account").get_data(as_text=True)


def test_item_6_an_idp_initiated_login_asks_before_replacing_who_is_signed_in(app, idp, make):
    sso_config.update_options(idp.org, SYSTEM, "member", True)
    db.session.commit()
    someone = make.user(email="someone@example.com")
    browser = app.test_client()
    browser.post("/login", data={"email": someone.email, "password": PASSWORD})
    _, response = post_to_acs(app, idp.org, idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience), browser=browser)
    assert response.status_code == 200 and 'id="sso_switch"' in response.get_data(as_text=True)
    assert "someone@example.com" in browser.get("/app/account").get_data(as_text=True)
    assert User.by_email(f"ada@{DOMAIN}") is None  # nothing provisioned until the person says so
    # "Continue as ..." posts back to the page that asked.
    assert browser.post(response.request.path).status_code == 303
    assert f"ada@{DOMAIN}" in browser.get("/app/account").get_data(as_text=True)


def test_item_7_break_glass_counts_toward_the_per_account_login_limit(app, idp, make, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_ACCOUNT", "3 per 15 minutes")
    owner = db.session.scalar(select(User).where(User.email == f"owner@{DOMAIN}"))
    connection = sso_config.get_connection(idp.org.id)
    connection.last_test_succeeded_at = connection.created_at
    enforcement.set_require_sso(idp.org, True, SYSTEM)
    db.session.commit()
    for _ in range(3):  # the account is locked by failed password logins...
        assert app.test_client().post("/login", data={"email": owner.email, "password": "wrong guess"}).status_code == 422
    response = app.test_client().post("/sso/break-glass", data={"email": owner.email, "password": PASSWORD,
                                                               "reason": "IdP down"})
    assert response.status_code == 429 and response.headers["Retry-After"]  # ...and break-glass is the same door
    assert "sso.break_glass_login" not in db.session.scalars(select(AuditEvent.action)).all()


def test_break_glass_is_audited_and_opens_only_orgs_it_owns(app, idp, make):
    owner = db.session.scalar(select(User).where(User.email == f"owner@{DOMAIN}"))
    connection = sso_config.get_connection(idp.org.id)
    connection.last_test_succeeded_at = connection.created_at
    enforcement.set_require_sso(idp.org, True, SYSTEM)
    db.session.commit()
    glass = app.test_client()
    assert glass.post("/sso/break-glass", data={"email": owner.email, "password": PASSWORD,
                                                "reason": "IdP down"}).status_code == 303
    assert glass.get(f"/app/o/{idp.org.slug}/").status_code == 200
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sso.break_glass_login"))
    assert event.org_id == idp.org.id and event.data["reason"] == "IdP down"


def test_jit_creates_a_managed_account_and_group_mappings_never_touch_ownership(app, idp, make):
    sso_config.add_group_mapping(idp.org, SYSTEM, "Admins", "admin")
    db.session.commit()
    browser, relay, saml_response = sp_response(app, idp, f"ada@{DOMAIN}", attributes={"groups": ["Admins"]})
    assert post_to_acs(app, idp.org, saml_response, relay, browser=browser)[1].status_code == 303
    ada = User.by_email(f"ada@{DOMAIN}")
    assert ada.is_managed_by(idp.org.id) and ada.password_hash is None
    # No mapping makes an owner...
    try:
        sso_config.add_group_mapping(idp.org, SYSTEM, "Owners", "owner")
    except Exception as error:  # ServiceError: only admin, member or viewer
        assert "admin, member or viewer" in str(error)
    else:
        raise AssertionError("a group mapping to owner was accepted")
    db.session.rollback()
    # ...and none unmakes one: an owner who logs in without the mapped group stays owner.
    membership = db.session.scalar(select(Membership).where(Membership.user_id == ada.id))
    membership.role = Role.owner
    db.session.commit()
    browser, relay, saml_response = sp_response(app, idp, f"ada@{DOMAIN}", attributes={"groups": ["Staff"]})
    assert post_to_acs(app, idp.org, saml_response, relay, browser=browser)[1].status_code == 303
    db.session.expire_all()
    assert db.session.get(Membership, membership.id).role == Role.owner


def _linked_member(org, make, email):
    person = make.member(org, Role.member, email=email)
    identity = SsoIdentity(org_id=org.id, name_id=email, user_id=person.id)
    db.session.add(identity)
    db.session.commit()
    return person, identity


def test_the_person_sees_and_unlinks_their_identity_which_ends_that_orgs_grant_only(app, client, login, idp, make):
    person, identity = _linked_member(idp.org, make, f"grace@{DOMAIN}")
    identity_id = identity.id
    org_b = make.org(name="Beta")
    make.member(org_b, Role.member, user_=person)
    login(person, method=None, sso_orgs=[idp.org, org_b])
    page = client.get("/app/account").get_data(as_text=True)
    assert f'id="identity-{identity.id}"' in page and "Acme" in page
    url = f"/app/account/identities/{identity.id}/delete"
    assert "Unlink Acme" in client.get(url).get_data(as_text=True)  # asks first
    assert client.post(url).status_code == 303
    assert db.session.get(SsoIdentity, identity_id) is None
    assert client.get(f"/app/o/{idp.org.slug}/").status_code == 302  # Acme's grant ended...
    assert client.get(f"/app/o/{org_b.slug}/").status_code == 200    # ...Beta's did not
    assert "sso.identity_unlinked" in db.session.scalars(select(AuditEvent.action)).all()


def test_an_owner_unlinks_a_member_and_nobody_else_can(app, client, login, idp, make):
    person, identity = _linked_member(idp.org, make, f"grace@{DOMAIN}")
    identity_id = identity.id
    stranger = make.user()
    login(stranger)
    assert client.post(f"/app/account/identities/{identity.id}/delete").status_code == 404  # not theirs
    admin = make.member(idp.org, Role.admin)
    login(admin)
    assert client.post(settings(idp.org, f"/identities/{identity.id}/delete")).status_code == 403
    owner = db.session.scalar(select(User).where(User.email == f"owner@{DOMAIN}"))
    login(owner)
    assert f'id="identity-{identity.id}"' in client.get(settings(idp.org)).get_data(as_text=True)
    assert client.post(settings(idp.org, f"/identities/{identity_id}/delete")).status_code == 303
    assert db.session.get(SsoIdentity, identity_id) is None


def test_validated_responses_no_browser_finished_are_pruned(app, idp):
    from datetime import timedelta

    from models import SsoPendingLogin, utcnow
    from services.sso import maintenance
    sso_config.update_options(idp.org, SYSTEM, "member", True)
    db.session.commit()
    response = app.test_client().post(f"/sso/{idp.org.id}/acs",
                                      data={"SAMLResponse": idp.response(f"ada@{DOMAIN}", idp.acs, idp.audience)})
    assert response.status_code == 303 and db.session.scalars(select(SsoPendingLogin)).all()  # never followed
    maintenance.prune_expired_state(now=utcnow())
    assert db.session.scalars(select(SsoPendingLogin)).all()  # still within its time
    maintenance.prune_expired_state(now=utcnow() + timedelta(hours=2))
    db.session.commit()
    assert db.session.scalars(select(SsoPendingLogin)).all() == []
