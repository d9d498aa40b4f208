"""record_trust_change (services/trust.py): audited, and every owner is sent a security notice by email."""
import pytest
from sqlalchemy import select

from extensions import db
from models import AuditEvent, Role
from services import trust
from services.events import Actor


def test_a_trust_change_is_audited_and_emailed_to_every_owner(make, smtp_server, run_jobs):
    first_owner = make.user(email="first-owner@example.com")
    org = make.org(owner=first_owner, name="Acme")
    second_owner = make.member(org, Role.owner, email="second-owner@example.com")
    member = make.member(org, Role.member, email="member@example.com")
    trust.record_trust_change(org, actor=trust.setup_link_actor("oksl_Ab3x", "it@customer.example"),
                              action="sso.configured", summary="Added an IdP signing certificate.",
                              data={"change": "certificate_added"})
    db.session.commit()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sso.configured"))
    assert event.actor_label == "setup link oksl_Ab3x (it@customer.example)"
    assert event.data["summary"] == "Added an IdP signing certificate."
    run_jobs()
    delivered = {message["To"]: message for message in smtp_server.messages}
    assert {first_owner.email, second_owner.email} <= set(delivered)
    assert member.email not in delivered
    body = delivered[first_owner.email].get_body(("plain",)).get_content()
    assert "Added an IdP signing certificate." in body and "setup link oksl_Ab3x" in body


def test_a_trust_change_needs_an_event_that_reaches_the_owners(make):
    org = make.org()
    with pytest.raises(ValueError, match="tells the owners"):
        trust.record_trust_change(org, actor="someone", action="member.added", summary="x")
    with pytest.raises(ValueError, match="actor"):
        trust.record_trust_change(org, actor="", action="sso.configured", summary="x")
    assert trust.as_actor("Orgkit operator").label == "Orgkit operator"
    person = make.user(email="person@example.com")
    assert trust.as_actor(person) == Actor.for_user(person)
