"""Who is told about what: the catalog's recipient groups, the actor rule, preferences, transactions."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from extensions import db
from models import Invitation, Membership, Notification, NotificationDigestItem, OutboundEmail, Role, utcnow
from services import catalog
from services.events import Actor, emit, user_target


def test_member_added_tells_the_new_member_and_the_admins_but_not_members_or_the_actor(make, happen, inbox_of):
    owner = make.user(name="Olive Owner")
    org = make.org(owner=owner, name="Acme")
    admin = make.member(org, Role.admin)
    member = make.member(org, Role.member)
    viewer = make.member(org, Role.viewer)
    newcomer = make.user(name="Nina New")
    db.session.add(Membership(org_id=org.id, user_id=newcomer.id, role=Role.member))
    db.session.commit()

    happen(org, "member.added", actor_user=admin, about=newcomer, role="member")

    assert inbox_of(newcomer) == ["Nina New joined Acme as member"]
    assert inbox_of(owner)[0] == "Nina New joined Acme as member"
    assert "Nina New joined Acme as member" not in inbox_of(admin)  # the actor is not told about their own action
    assert "Nina New joined Acme as member" not in inbox_of(member)
    assert "Nina New joined Acme as member" not in inbox_of(viewer)


def test_notification_links_to_what_it_is_about_and_records_its_event(make, happen):
    owner = make.user()
    org = make.org(owner=owner, slug="acme")
    other = make.member(org, Role.member)
    event = happen(org, "member.role_changed", actor_user=owner, about=other, role="admin")
    notification = db.session.scalar(Notification.for_user(other.id).where(Notification.type == "member.role_changed"))
    assert notification.event_id == event.id
    assert notification.org_id == org.id
    assert notification.link == "/app/o/acme/members"  # the members page
    assert notification.read_at is None and notification.archived_at is None


def test_deactivated_admins_and_deactivated_accounts_are_not_told(make, happen, inbox_of):
    owner = make.user()
    org = make.org(owner=owner, name="Acme")
    suspended_admin = make.member(org, Role.admin)
    db.session.execute(Membership.__table__.update().where(Membership.user_id == suspended_admin.id).values(deactivated_at=utcnow()))
    gone = make.member(org, Role.member)
    gone.is_deactivated = True
    db.session.commit()
    happen(org, "member.removed", about=gone, role="member", reason="removed")
    assert inbox_of(suspended_admin, "member.removed") == []
    assert inbox_of(gone, "member.removed") == []
    assert inbox_of(owner)[0].endswith("was removed from Acme")


def test_removed_member_is_told_with_a_link_they_can_still_open(make, happen):
    owner = make.user()
    org = make.org(owner=owner)
    leaver = make.member(org, Role.member)
    happen(org, "member.removed", actor_user=owner, about=leaver, reason="removed", role="member")
    notification = db.session.scalar(Notification.for_user(leaver.id).where(Notification.type == "member.removed"))
    assert notification.link == "/app/workspaces"


def test_critical_events_email_the_actor_but_leave_their_own_inbox_alone(make, happen, inbox_of):
    """Was it really you? The email says so; a notice of one's own action in one's inbox is noise."""
    user = make.user()
    happen(None, "user.password_changed", actor_user=user, about=user)
    assert inbox_of(user) == []
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.to_address == user.email))
    assert email is not None and email.subject == "[Orgkit] Your password was changed"


def test_critical_events_done_by_someone_else_reach_the_inbox(make, happen, inbox_of):
    user = make.user()
    happen(None, "user.password_changed", about=user)  # Orgkit itself (an operator's reset)
    assert inbox_of(user) == ["Your password was changed"]
    notification = db.session.scalar(Notification.for_user(user.id))
    assert notification.org_id is None


def test_critical_events_ignore_preferences_that_say_off(make, happen, prefer, inbox_of):
    user = make.user()
    prefer(user, "user.sessions_revoked", in_app=False, email=False)  # a forged row: the UI cannot save this
    happen(None, "user.sessions_revoked", about=user)
    assert inbox_of(user) == ["All your sessions were signed out"]
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.to_address == user.email))
    assert email is not None and email.subject == "[Orgkit] All your sessions were signed out"


def test_inviter_is_told_when_their_invitation_is_accepted(make, inbox_of):
    from services import invitations
    owner = make.user()
    org = make.org(owner=owner, name="Acme")
    inviter = make.member(org, Role.admin)
    invitation = invitations.invite_member(org, "grace@example.com", Role.member, Actor.for_user(inviter), Role.admin)
    token = invitations._new_token(invitation)  # the link's token (the real one went out by email)
    db.session.commit()
    grace = make.user(email="grace@example.com", name="Grace")
    invitations.accept_invitation(token, grace, Actor.for_user(grace))
    db.session.commit()
    assert inbox_of(inviter, "invitation.accepted") == ["grace@example.com accepted your invitation to Acme"]
    assert inbox_of(owner, "invitation.accepted") == []
    assert inbox_of(inviter, "invitation.created") == []  # the inviter did that themselves


def test_inviter_is_found_from_the_invitation_row_when_the_payload_does_not_name_them(make, happen, inbox_of):
    owner = make.user()
    org = make.org(owner=owner, name="Acme")
    inviter = make.member(org, Role.admin)
    invitation = Invitation(org_id=org.id, email="grace@example.com", role=Role.member, invited_by_id=inviter.id,
                            expires_at=utcnow() + timedelta(days=7), token_hash="x" * 64)
    db.session.add(invitation)
    db.session.commit()
    happen(org, "invitation.revoked", actor_user=owner,
           targets=[{"type": "invitation", "id": str(invitation.id), "label": invitation.email}],
           invitation={"id": str(invitation.id), "email": "grace@example.com", "role": "member"})
    assert inbox_of(inviter, "invitation.revoked") == [f"{owner.email} revoked the invitation for grace@example.com"]


def test_in_app_off_writes_no_row_but_email_on_still_emails(make, happen, prefer, inbox_of):
    owner = make.user()
    org = make.org(owner=owner)
    person = make.member(org, Role.member)
    prefer(person, "member.role_changed", in_app=False, email=True)
    happen(org, "member.role_changed", actor_user=owner, about=person, role="viewer")
    assert inbox_of(person, "member.role_changed") == []
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail).where(OutboundEmail.to_address == person.email)) == 1


def test_email_is_off_by_default_for_everyday_events(make, happen):
    owner = make.user()
    org = make.org(owner=owner)
    person = make.member(org, Role.member)
    happen(org, "member.role_changed", actor_user=owner, about=person, role="viewer")
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail).where(OutboundEmail.to_address == person.email)) == 0


def test_digest_preference_writes_a_digest_item_and_no_immediate_email(make, happen, prefer):
    owner = make.user()
    org = make.org(owner=owner)
    person = make.member(org, Role.member)
    prefer(person, "member.role_changed", email=True, mode="digest")
    happen(org, "member.role_changed", actor_user=owner, about=person, role="viewer")
    assert db.session.scalar(select(func.count()).select_from(NotificationDigestItem).where(NotificationDigestItem.user_id == person.id)) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail).where(OutboundEmail.to_address == person.email)) == 0


def test_a_rolled_back_change_writes_and_sends_nothing(make, prefer, smtp_server, run_jobs):
    owner = make.user()
    org = make.org(owner=owner)
    person = make.member(org, Role.member)
    prefer(person, "member.role_changed", email=True)
    run_jobs()
    before = len(smtp_server.messages)

    emit(org, "member.role_changed", Actor.for_user(owner), [user_target(person)], {"role": "viewer"})
    db.session.rollback()
    run_jobs()

    assert db.session.scalar(select(func.count()).select_from(Notification).where(Notification.user_id == person.id,
                                                                                 Notification.type == "member.role_changed")) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail).where(OutboundEmail.to_address == person.email)) == 0
    assert len(smtp_server.messages) == before


def test_fan_out_works_for_any_catalog_entry_another_feature_appends(make, monkeypatch, happen, inbox_of):
    # Other features append types such as api_key.created -> owners; fan_out must need no change for them.
    new_type = catalog.EventType("api_key.created", "An API key was created.", {}, recipients=("owners",))
    monkeypatch.setitem(catalog.CATALOG, new_type.name, new_type)
    owner = make.user()
    org = make.org(owner=owner, name="Acme")
    admin = make.member(org, Role.admin)
    happen(org, "api_key.created", actor_user=admin)
    assert inbox_of(owner, "api_key.created") == ["An API key was created in Acme"]
    assert inbox_of(admin, "api_key.created") == []


def test_an_unknown_recipient_group_in_the_catalog_is_a_loud_error(make, monkeypatch):
    bad = catalog.EventType("thing.happened", "A thing.", {}, recipients=("everyone",))
    monkeypatch.setitem(catalog.CATALOG, bad.name, bad)
    org = make.org()
    with pytest.raises(KeyError, match="everyone"):
        emit(org, "thing.happened", Actor("system", None, "Orgkit"), [], {})
    db.session.rollback()


def test_one_event_to_many_admins_is_written_as_one_row_each(make, happen):
    owner = make.user()
    org = make.org(owner=owner, name="Big")
    admins = [make.member(org, Role.admin, user_=make.user(password=None)) for _ in range(30)]
    happen(org, "org.updated", changes={"name": ["Big", "Bigger"]})
    count = db.session.scalar(select(func.count()).select_from(Notification).where(Notification.type == "org.updated"))
    assert count == len(admins) + 1


def test_recipients_are_read_with_each_events_own_org_and_people_when_the_statement_is_reused(make, happen, inbox_of):
    """The recipients' SELECT is built once per shape and reused (services/notifications._recipient_query):
    the org and the people it names are parameters, so an event in one org never reaches another's
    admins or the person named in an earlier event, in one fan-out or in two."""
    acme_owner, globex_owner = make.user(name="Ann Acme"), make.user(name="Gil Globex")
    acme, globex = make.org(owner=acme_owner, name="Acme"), make.org(owner=globex_owner, name="Globex")
    acme_admin, globex_admin = make.member(acme, Role.admin), make.member(globex, Role.admin)
    first, second = make.user(name="First Person"), make.user(name="Second Person")
    for org, person in ((acme, first), (globex, second)):
        db.session.add(Membership(org_id=org.id, user_id=person.id, role=Role.member))
    db.session.commit()

    def told(user, about):
        return [title for title in inbox_of(user, "member.added") if title.startswith(about.name)]

    happen(acme, "member.added", about=first, role="member")
    happen(globex, "member.added", about=second, role="member")
    for user in (acme_admin, acme_owner, first):
        assert told(user, first) == ["First Person joined Acme as member"] and told(user, second) == []
    for user in (globex_admin, globex_owner, second):
        assert told(user, second) == ["Second Person joined Globex as member"] and told(user, first) == []

    from services import events
    with events.together():  # two events of one type in one fan-out: one union of two shapes
        emit(acme, "member.added", Actor("system", None, "Orgkit"), [user_target(second)],
             {"role": "member", "user": {"id": str(second.id), "email": second.email, "name": second.name}})
        emit(globex, "member.added", Actor("system", None, "Orgkit"), [user_target(first)],
             {"role": "member", "user": {"id": str(first.id), "email": first.email, "name": first.name}})
    db.session.commit()
    assert told(acme_admin, second) == told(acme_owner, second) == ["Second Person joined Acme as member"]
    assert told(globex_admin, first) == told(globex_owner, first) == ["First Person joined Globex as member"]
    assert sorted(told(second, second)) == ["Second Person joined Acme as member", "Second Person joined Globex as member"]
    assert not any("Globex" in title for user in (acme_admin, acme_owner) for title in inbox_of(user))
    assert not any("Acme" in title for user in (globex_admin, globex_owner) for title in inbox_of(user))
