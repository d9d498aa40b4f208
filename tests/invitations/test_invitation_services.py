"""services.invitations: the verbs, their refusals and the events they emit."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from extensions import db
from models import AuditEvent, Invitation, InviteLink, Membership, OutboundEmail, Role, User, utcnow
from services import ServiceError
from services import invitations as svc
from services.events import Actor
from services.invitations import InvitationUnavailable
from tests.invitations.conftest import last_email_to, link_path_in
from tests.tokens import tampered


def actions(org):
    return [e.action for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.org_id == org.id).order_by(AuditEvent.created_at, AuditEvent.id))]


def token_of(path):
    return path.rsplit("/", 1)[1]


def test_invite_member_stores_only_a_hash_and_emails_the_link(acme, invite):
    org, owner = acme
    invitation, path = invite(org, owner, "Grace@Example.com", Role.admin)
    assert invitation.email == "grace@example.com"
    assert invitation.role == Role.admin
    assert invitation.invited_by_id == owner.id
    assert invitation.token_hash == svc.hash_token(token_of(path))
    assert token_of(path) not in invitation.token_hash
    assert timedelta(days=6, hours=23) < invitation.expires_at - utcnow() <= timedelta(days=7)
    email = last_email_to("grace@example.com")
    assert email.subject == "Ada Lovelace invited you to join Acme on Orgkit"
    assert "Role: Admin" in email.text_body and "Ada Lovelace (ada@example.com)" in email.text_body
    assert invitation.expires_at.strftime("%Y-%m-%d") in email.text_body
    assert path in email.html_body
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "invitation.created")).one()
    assert event.data["invitation"]["email"] == "grace@example.com"
    assert event.data["invitation"]["invited_by"]["email"] == "ada@example.com"
    assert event.actor_label == "ada@example.com"


@pytest.mark.parametrize("email, message", [
    ("", "Enter an email address."),
    ("not-an-email", "not valid"),
    ("a@b", "not valid"),
])
def test_invite_member_validates_the_address(acme, email, message):
    org, owner = acme
    with pytest.raises(ServiceError) as error:
        svc.invite_member(org, email, Role.member, Actor.for_user(owner), Role.owner)
    assert message in error.value.message and error.value.field == "email"


def test_admins_cannot_invite_owners_and_unknown_roles_are_refused(acme, make):
    org, owner = acme
    admin = make.member(org, role=Role.admin)
    with pytest.raises(ServiceError) as error:
        svc.invite_member(org, "x@example.com", Role.owner, Actor.for_user(admin), Role.admin)
    assert error.value.field == "role" and "Owner" in error.value.message
    with pytest.raises(ServiceError) as error:
        svc.invite_member(org, "x@example.com", "emperor", Actor.for_user(admin), Role.admin)
    assert error.value.field == "role"
    # Owners may.
    svc.invite_member(org, "x@example.com", Role.owner, Actor.for_user(owner), Role.owner)


def test_inviting_a_member_or_a_pending_invitee_again_is_refused(acme, invite, make):
    org, owner = acme
    make.member(org, email="bob@example.com")
    with pytest.raises(ServiceError, match="bob@example.com is already a member of Acme"):
        svc.invite_member(org, "BOB@example.com", Role.member, Actor.for_user(owner), Role.owner)
    invite(org, owner, "grace@example.com")
    with pytest.raises(ServiceError, match="already has a pending invitation"):
        svc.invite_member(org, "grace@example.com", Role.viewer, Actor.for_user(owner), Role.owner)


def test_an_expired_pending_invitation_is_replaced_by_a_new_one(acme, invite):
    org, owner = acme
    old, _ = invite(org, owner)
    old.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    new = svc.invite_member(org, "grace@example.com", Role.viewer, Actor.for_user(owner), Role.owner)
    db.session.commit()
    assert old.revoked_at is not None and new.is_pending and new.role == Role.viewer
    assert actions(org)[-3:] == ["invitation.created", "invitation.revoked", "invitation.created"]


def test_resend_replaces_the_link_and_extends_the_expiry(acme, invite):
    org, owner = acme
    invitation, first_path = invite(org, owner)
    invitation.last_sent_at = utcnow() - timedelta(minutes=5)
    invitation.expires_at = utcnow() + timedelta(hours=1)
    db.session.commit()
    svc.resend_invitation(org, invitation, Actor.for_user(owner))
    db.session.commit()
    second_path = link_path_in(last_email_to("grace@example.com").text_body)
    assert second_path != first_path
    assert invitation.expires_at - utcnow() > timedelta(days=6)
    assert db.session.scalar(select(db.func.count()).select_from(OutboundEmail)) == 2
    with pytest.raises(InvitationUnavailable) as error:
        svc.find_invitation(token_of(first_path))
    assert error.value.status == 404
    assert svc.find_invitation(token_of(second_path)) == invitation
    assert actions(org)[-1] == "invitation.resent"


def test_resend_too_soon_is_refused(acme, invite):
    org, owner = acme
    invitation, _ = invite(org, owner)
    with pytest.raises(ServiceError, match="Wait a minute"):
        svc.resend_invitation(org, invitation, Actor.for_user(owner))


def test_revoke_then_the_link_is_gone(acme, invite, make):
    org, owner = acme
    invitation, path = invite(org, owner)
    svc.revoke_invitation(org, invitation, Actor.for_user(owner))
    db.session.commit()
    grace = make.user(email="grace@example.com")
    with pytest.raises(InvitationUnavailable) as error:
        svc.accept_invitation(token_of(path), grace, Actor.for_user(grace))
    assert (error.value.code, error.value.status) == ("revoked", 410)
    with pytest.raises(ServiceError, match="was revoked"):
        svc.revoke_invitation(org, invitation, Actor.for_user(owner))
    assert svc.pending_invitations(org.id) == []


def test_accept_adds_the_member_with_the_role_once(acme, invite, make):
    org, owner = acme
    invitation, path = invite(org, owner, role=Role.admin)
    grace = make.user(email="grace@example.com")
    membership = svc.accept_invitation(token_of(path), grace, Actor.for_user(grace))
    db.session.commit()
    assert membership.role == Role.admin and membership.user_id == grace.id
    assert invitation.accepted_at is not None and invitation.accepted_by_id == grace.id
    assert actions(org)[-2:] == ["member.added", "invitation.accepted"]
    with pytest.raises(InvitationUnavailable) as error:
        svc.accept_invitation(token_of(path), grace, Actor.for_user(grace))
    assert (error.value.code, error.value.status) == ("used", 410)


def test_accept_refuses_expired_tampered_and_other_accounts(acme, invite, make):
    org, owner = acme
    invitation, path = invite(org, owner)
    mallory = make.user(email="mallory@example.com")
    with pytest.raises(InvitationUnavailable) as error:
        svc.accept_invitation(token_of(path), mallory, Actor.for_user(mallory))
    assert (error.value.code, error.value.status) == ("wrong_account", 403)
    with pytest.raises(InvitationUnavailable) as error:
        svc.accept_invitation(tampered(token_of(path)), mallory, Actor.for_user(mallory))
    assert error.value.status == 404
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    grace = make.user(email="grace@example.com")
    with pytest.raises(InvitationUnavailable) as error:
        svc.accept_invitation(token_of(path), grace, Actor.for_user(grace))
    assert (error.value.code, error.value.status) == ("expired", 410)
    db.session.rollback()
    assert db.session.scalar(select(Membership).where(Membership.user_id == grace.id)) is None


def test_sign_up_and_accept_creates_the_account_for_the_invited_address(acme, invite):
    org, owner = acme
    _, path = invite(org, owner, role=Role.viewer)
    user, membership = svc.sign_up_and_accept(token_of(path), "Grace Hopper", "a long enough passphrase")
    db.session.commit()
    assert user.email == "grace@example.com" and membership.role == Role.viewer
    assert actions(org)[-2:] == ["member.added", "invitation.accepted"]
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.accepted")).actor_label == "grace@example.com"


def test_sign_up_with_a_weak_password_writes_nothing(acme, invite):
    org, owner = acme
    invitation, path = invite(org, owner)
    with pytest.raises(ServiceError) as error:
        svc.sign_up_and_accept(token_of(path), "Grace", "password")
    assert error.value.field == "password"
    db.session.rollback()
    assert User.by_email("grace@example.com") is None
    assert db.session.get(Invitation, invitation.id).is_pending


# --- Shareable invite link ---------------------------------------------------------------------------

def enable_link(org, owner, domains="example.com", role=Role.member):
    link = svc.update_invite_link(org, Actor.for_user(owner), Role.owner, True, role, domains)
    db.session.commit()
    return link


@pytest.mark.parametrize("domains, message", [
    ("", "List at least one email domain"),
    ("not a domain!", "is not a domain name"),
    ("gmail.com", "Anyone can get an address at gmail.com"),
])
def test_invite_link_needs_real_company_domains(acme, domains, message):
    org, owner = acme
    with pytest.raises(ServiceError) as error:
        svc.update_invite_link(org, Actor.for_user(owner), Role.owner, True, Role.member, domains)
    assert message in error.value.message and error.value.field == "allowed_domains"


def test_invite_link_role_cannot_be_owner(acme):
    org, owner = acme
    with pytest.raises(ServiceError) as error:
        svc.update_invite_link(org, Actor.for_user(owner), Role.owner, True, Role.owner, "example.com")
    assert error.value.field == "role"


def test_invite_link_domains_are_normalised_and_the_change_is_audited(acme):
    org, owner = acme
    link = enable_link(org, owner, "@Example.COM, eng.example.com\nexample.com")
    assert link.allowed_domains == ["example.com", "eng.example.com"]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "invite_link.updated")).one()
    assert event.data == {"enabled": True, "allowed_domains": ["example.com", "eng.example.com"], "role": "member",
                          "regenerated": False}
    # Saving the same settings again changes nothing and records nothing.
    enable_link(org, owner, "example.com eng.example.com")
    assert actions(org).count("invite_link.updated") == 1


def test_request_to_join_emails_an_invitation_only_for_allowed_domains(acme):
    org, owner = acme
    link = enable_link(org, owner)
    token = svc.invite_link_token(link)
    with pytest.raises(ServiceError, match="only accepts addresses at example.com"):
        svc.request_to_join(token, "eve@evil.com", svc.link_actor(link, "eve@evil.com"))
    with pytest.raises(ServiceError, match="only accepts addresses"):
        svc.request_to_join(token, "eve@sub.example.com", svc.link_actor(link, "eve@sub.example.com"))
    invitation = svc.request_to_join(token, "Carol@Example.com", svc.link_actor(link, "carol@example.com"))
    db.session.commit()
    assert invitation.invite_link_id == link.id and invitation.invited_by_id is None
    assert last_email_to("carol@example.com").subject == "Confirm your email to join Acme on Orgkit"
    # Asking again right away sends nothing more; members are answered the same way, silently.
    assert svc.request_to_join(token, "carol@example.com", svc.link_actor(link, "carol@example.com")) == invitation
    assert svc.request_to_join(token, "ada@example.com", svc.link_actor(link, "ada@example.com")) is None
    assert db.session.scalar(select(db.func.count()).select_from(OutboundEmail)) == 1


def test_tampered_disabled_and_regenerated_links_stop_working(acme):
    org, owner = acme
    link = enable_link(org, owner)
    token = svc.invite_link_token(link)
    with pytest.raises(InvitationUnavailable) as error:
        svc.resolve_invite_link(tampered(token))
    assert error.value.status == 404
    pending = svc.request_to_join(token, "carol@example.com", svc.link_actor(link, "carol@example.com"))
    db.session.commit()
    svc.regenerate_invite_link(org, Actor.for_user(owner))
    db.session.commit()
    with pytest.raises(InvitationUnavailable) as error:
        svc.resolve_invite_link(token)
    assert error.value.status == 410
    assert pending.revoked_at is not None  # requests sent through the old link die with it
    new_token = svc.invite_link_token(link)
    assert svc.resolve_invite_link(new_token) == link
    svc.update_invite_link(org, Actor.for_user(owner), Role.owner, False, Role.member, "example.com")
    db.session.commit()
    with pytest.raises(InvitationUnavailable) as error:
        svc.resolve_invite_link(new_token)
    assert error.value.status == 410
    assert db.session.scalar(select(InviteLink)).enabled is False
