"""An org's two-factor requirement, across two orgs: who is led to set it up, who is not, and who
may change it."""
import pytest

from extensions import db
from models import AuditEvent, Organization, OutboundEmail, Role, TwoFactorRequirement
from services import twofactor
from services.events import SYSTEM
from tests.twofactor.helpers import code_at, enable_totp


@pytest.fixture
def two_orgs(make):
    """Ada is an admin of Strict (which will require two-factor) and a member of Relaxed."""
    strict = make.org(name="Strict", slug="strict")
    relaxed = make.org(name="Relaxed", slug="relaxed")
    ada = make.member(strict, Role.admin, email="ada@example.com")
    make.member(relaxed, Role.member, user_=ada)
    return strict, relaxed, ada


def _require(org, requirement):
    twofactor.set_requirement(db.session.get(Organization, org.id), requirement, SYSTEM)
    db.session.commit()


def test_a_member_without_two_factor_is_led_to_set_it_up_for_that_org_only(client, login, two_orgs):
    strict, relaxed, ada = two_orgs
    _require(strict, "admins")
    login(ada)
    response = client.get("/app/o/strict/members")
    assert response.status_code == 302 and response.headers["Location"] == "/app/account/two-factor"
    page = client.get("/app/account/two-factor")
    assert b"Strict requires two-factor authentication" in page.data
    assert client.get("/app/o/relaxed/members").status_code == 200
    # htmx navigations are told to leave the page
    assert client.get("/app/o/strict/members", headers={"HX-Request": "true"}).headers["HX-Redirect"] == "/app/account/two-factor"

    # Once a factor is added, the page leads back to where the requirement interrupted.
    client.post("/app/account/two-factor/totp/start")
    secret = twofactor.pending_totp_secret(ada)
    codes_page = client.post("/app/account/two-factor/totp", data={"code": code_at(secret)})
    assert b'href="/app/o/strict/members" id="recovery_codes_done"' in codes_page.data
    assert client.get("/app/o/strict/members").status_code == 200


def test_the_requirement_for_admins_leaves_members_alone(client, login, make, two_orgs):
    strict, _, _ = two_orgs
    grace = make.member(strict, Role.member)
    _require(strict, "admins")
    login(grace)
    assert client.get("/app/o/strict/members").status_code == 200
    _require(strict, "everyone")
    assert client.get("/app/o/strict/members").status_code == 302


def test_a_login_through_the_orgs_own_sso_is_exempt(client, login, two_orgs):
    strict, relaxed, ada = two_orgs
    _require(strict, "everyone")
    _require(relaxed, "everyone")
    login(ada, sso_orgs=[strict])  # a password login, and strict's own IdP signed this session in too
    assert client.get("/app/o/strict/members").status_code == 200
    # The SSO grant of one org exempts nothing in another.
    assert client.get("/app/o/relaxed/members").status_code == 302


def test_the_members_page_shows_who_has_two_factor(client, login, make, two_orgs):
    strict, _, ada = two_orgs
    enable_totp(ada)
    owner_membership_user = make.member(strict, Role.viewer, email="viewer@example.com")
    login(ada)
    page = client.get("/app/o/strict/members").data.decode()
    rows = {row.split('<div class="muted small">')[1].split("<")[0]: row
            for row in (part.split("</tr>")[0] for part in page.split('<tr id="member_')[1:])}
    assert '<span class="badge badge-success">On</span>' in rows["ada@example.com"]
    assert '<span class="badge">Off</span>' in rows[owner_membership_user.email]


def test_only_owners_change_the_requirement_and_it_is_audited_and_notified(client, login, make, two_orgs, run_jobs):
    strict, relaxed, ada = two_orgs
    owner = db.session.scalar(db.select(Organization).where(Organization.id == strict.id))
    from models import Membership
    owner_user = db.session.scalar(db.select(Membership).where(Membership.org_id == strict.id,
                                                               Membership.role == Role.owner)).user
    login(ada)  # an admin sees the page, and cannot change it
    page = client.get("/app/o/strict/settings/two-factor")
    assert page.status_code == 200 and b"Only owners change this setting." in page.data
    assert client.post("/app/o/strict/settings/two-factor", data={"requirement": "everyone"}).status_code == 403

    login(owner_user)
    page = client.get("/app/o/strict/settings/two-factor")
    assert b'id="requirement_form"' in page.data and b"(2 members without two-factor today)" in page.data
    # An owner without a factor of their own would lock themselves out: asked to add one first.
    refused = client.post("/app/o/strict/settings/two-factor", data={"requirement": "admins"})
    assert refused.status_code == 422 and b"Turn on two-factor authentication for your own account first." in refused.data
    enable_totp(owner_user)
    OutboundEmail.query.delete()
    db.session.commit()
    response = client.post("/app/o/strict/settings/two-factor", data={"requirement": "admins"})
    assert response.status_code == 303
    assert db.session.get(Organization, strict.id).two_factor_required == TwoFactorRequirement.admins
    assert db.session.get(Organization, relaxed.id).two_factor_required == TwoFactorRequirement.off
    event = AuditEvent.query.filter_by(action="org.two_factor_requirement_changed", org_id=strict.id).one()
    assert event.data["requirement"] == "admins" and event.data["previous_requirement"] == "off"
    assert event.data["members_without_two_factor"] == 1  # Ada
    assert event.data["summary"] == ("Two-factor authentication: required for owners and admins (was not required). "
                                     "1 member without it will be asked to set it up.")
    # A security notice: every admin and owner gets an email, whatever their preferences.
    recipients = {m.to_address for m in OutboundEmail.query.all()}
    assert {owner_user.email, "ada@example.com"} <= recipients
    assert owner is not None


@pytest.mark.parametrize("data", [{}, {"requirement": "sometimes"}, {"requirement": ""}])
def test_bad_input_on_the_requirement_form_says_what_is_wrong(client, login, two_orgs, data):
    strict, _, _ = two_orgs
    from models import Membership
    owner_user = db.session.scalar(db.select(Membership).where(Membership.org_id == strict.id,
                                                               Membership.role == Role.owner)).user
    login(owner_user)
    response = client.post("/app/o/strict/settings/two-factor", data=data)
    assert response.status_code == 422
    assert b"Choose who must use two-factor authentication" in response.data or b"Not a valid choice" in response.data
    assert db.session.get(Organization, strict.id).two_factor_required == TwoFactorRequirement.off
