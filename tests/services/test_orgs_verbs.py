"""Service verbs for members and workspaces: the rules hold whoever calls them (pages, API, SCIM)."""
import pytest
from sqlalchemy import select

from extensions import db
from models import AuditEvent, Membership, Organization, Role
from services import ServiceError, orgs
from services.events import SYSTEM, Actor


def membership_of(org, user):
    return db.session.scalar(select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id))


def events(org, action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.org_id == org.id, AuditEvent.action == action)).all()


@pytest.fixture
def team(make):
    owner = make.user(name="Olive Owner")
    org = make.org(owner=owner, name="Acme")
    admin = make.member(org, Role.admin)
    member = make.member(org, Role.member)
    return org, owner, admin, member


def test_change_role_emits_event_with_previous_role(team):
    org, owner, _, member = team
    orgs.change_role(org, membership_of(org, member), "viewer", Actor.for_user(owner), Role.owner)
    db.session.commit()
    assert membership_of(org, member).role == Role.viewer
    [event] = events(org, "member.role_changed")
    assert event.data["role"] == "viewer" and event.data["previous_role"] == "member"
    assert event.targets[0]["id"] == str(member.id) and event.actor_label == owner.email


def test_change_role_to_same_role_is_a_quiet_no_op(team):
    org, owner, _, member = team
    orgs.change_role(org, membership_of(org, member), "member", SYSTEM, None)
    assert events(org, "member.role_changed") == []


def test_unknown_role_is_refused(team):
    org, owner, _, member = team
    with pytest.raises(ServiceError, match="Choose a role") as error:
        orgs.change_role(org, membership_of(org, member), "emperor", SYSTEM, None)
    assert error.value.field == "role"


@pytest.mark.parametrize("target, new_role", [("owner", "admin"), ("member", "owner")])
def test_admins_cannot_grant_or_remove_ownership(team, make, target, new_role):
    org, owner, admin, member = team
    make.member(org, Role.owner)  # not the last owner: the refusal is about the admin's role
    person = owner if target == "owner" else member
    with pytest.raises(ServiceError, match="Only owners") as error:
        orgs.change_role(org, membership_of(org, person), new_role, Actor.for_user(admin), Role.admin)
    assert error.value.code == "forbidden"


def test_members_and_viewers_cannot_change_roles(team):
    org, owner, admin, member = team
    for role in (Role.member, Role.viewer):
        with pytest.raises(ServiceError) as error:
            orgs.change_role(org, membership_of(org, admin), "viewer", Actor.for_user(member), role)
        assert error.value.code == "forbidden"


def test_last_owner_cannot_be_demoted_but_one_of_two_can(team, make):
    org, owner, admin, member = team
    with pytest.raises(ServiceError, match="last owner") as error:
        orgs.change_role(org, membership_of(org, owner), "admin", SYSTEM, None)
    assert error.value.code == "last_owner"
    second = make.member(org, Role.owner)
    orgs.change_role(org, membership_of(org, owner), "admin", Actor.for_user(second), Role.owner)
    db.session.commit()
    assert orgs.active_owner_count(org.id) == 1


def test_a_deactivated_owner_does_not_count_as_the_remaining_owner(team, make):
    from models import utcnow
    org, owner, admin, member = team
    dormant = make.member(org, Role.owner)
    membership_of(org, dormant).deactivated_at = utcnow()
    db.session.commit()
    with pytest.raises(ServiceError, match="last owner"):
        orgs.change_role(org, membership_of(org, owner), "admin", SYSTEM, None)


def test_remove_member_emits_reason(team):
    org, owner, admin, member = team
    orgs.remove_member(org, membership_of(org, member), Actor.for_user(admin), Role.admin)
    db.session.commit()
    assert membership_of(org, member) is None
    [event] = events(org, "member.removed")
    assert event.data == {"user": orgs.user_payload(member), "role": "member", "reason": "removed"}


def test_remove_rules(team, make):
    org, owner, admin, member = team
    with pytest.raises(ServiceError, match="Only owners"):
        orgs.remove_member(org, membership_of(org, owner), Actor.for_user(admin), Role.admin)
    with pytest.raises(ServiceError, match="last owner"):
        orgs.remove_member(org, membership_of(org, owner), SYSTEM, None, reason="deprovisioned")
    with pytest.raises(ServiceError, match="leave the workspace"):
        orgs.remove_member(org, membership_of(org, admin), Actor.for_user(admin), Role.admin)
    outsider = make.user()
    other = make.org(owner=outsider)
    with pytest.raises(ServiceError, match="not a member of this workspace"):
        orgs.remove_member(org, membership_of(other, outsider), SYSTEM, None)
    assert membership_of(other, outsider) is not None


def test_leave(team):
    org, owner, admin, member = team
    orgs.leave_org(org, membership_of(org, member), Actor.for_user(member))
    db.session.commit()
    assert membership_of(org, member) is None
    assert events(org, "member.removed")[0].data["reason"] == "left"
    with pytest.raises(ServiceError, match="You are the last owner"):
        orgs.leave_org(org, membership_of(org, owner), Actor.for_user(owner))


def test_update_org_records_changes_and_validates(team, make):
    org, owner, *_ = team
    make.org(slug="taken")
    changes = orgs.update_org(org, SYSTEM, name="Acme Inc", slug="acme-inc")
    db.session.commit()
    assert changes == {"name": ["Acme", "Acme Inc"], "slug": [changes["slug"][0], "acme-inc"]}
    assert events(org, "org.updated")[0].data["changes"]["name"] == ["Acme", "Acme Inc"]
    assert orgs.update_org(org, SYSTEM, name="Acme Inc", slug="acme-inc") == {}
    for kwargs, message in [({"slug": "taken"}, "taken"), ({"slug": "Not OK"}, "lowercase"),
                            ({"slug": "settings"}, "reserved"), ({"name": "x" * 101}, "at most 100"),
                            ({"name": "  "}, "Enter a name")]:
        with pytest.raises(ServiceError, match=message):
            orgs.update_org(org, SYSTEM, **kwargs)
    assert len(events(org, "org.updated")) == 1


def test_delete_org_cascades_and_keeps_the_deleted_event(team):
    org, owner, *_ = team
    org_id, slug = org.id, org.slug
    with pytest.raises(ServiceError, match="Type"):
        orgs.delete_org(org, Actor.for_user(owner), "wrong")
    orgs.delete_org(org, Actor.for_user(owner), slug)
    db.session.commit()
    assert db.session.get(Organization, org_id) is None
    assert db.session.scalar(select(db.func.count()).select_from(Membership).where(Membership.org_id == org_id)) == 0
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent).where(AuditEvent.org_id == org_id)) == 0
    [kept] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "org.deleted")).all()
    assert kept.org_id is None and kept.data["org"]["slug"] == slug and kept.actor_label == owner.email


def test_members_page_searches_in_sql_and_pages(make):
    org = make.org(owner=make.user(name="Zed Owner"))
    make.member(org, user_=make.user(name="Ada Lovelace", email="ada@math.example.com"))
    make.member(org, user_=make.user(name="Grace Hopper", email="grace@navy.example.com"))
    make.member(org, user_=make.user(name="100% Percent", email="pct@example.com"))
    assert [m.user.name for m in orgs.members_page(org.id, "NAVY").rows] == ["Grace Hopper"]
    assert [m.user.name for m in orgs.members_page(org.id, "ada").rows] == ["Ada Lovelace"]
    assert [m.user.name for m in orgs.members_page(org.id, "%").rows] == ["100% Percent"]
    page = orgs.members_page(org.id, page=2, per_page=3)
    assert page.total == 4 and page.pages == 2 and [m.user.name for m in page.rows] == ["Zed Owner"]
    assert orgs.members_page(org.id, page=99, per_page=3).number == 2
