"""Fixtures for notification tests: make events happen, and set a person's preferences directly."""
import pytest

from extensions import db
from models import Notification, NotificationPreference
from services.events import Actor, emit, user_target


@pytest.fixture
def happen():
    """happen(org, type, actor_user=None, about=None, **data): emit an event and commit, like a request.

    actor_user None means Orgkit itself (SYSTEM-like, no person); about is the user the event targets."""
    def _happen(org, type_name, actor_user=None, about=None, targets=None, **data):
        actor = Actor.for_user(actor_user, ip="203.0.113.7", user_agent="pytest-browser") if actor_user else Actor("system", None, "Orgkit")
        if about is not None:
            targets = [user_target(about)] + list(targets or [])
            data.setdefault("user", {"id": str(about.id), "email": about.email, "name": about.name})
        event = emit(org, type_name, actor, targets or [], data)
        db.session.commit()
        return event
    return _happen


@pytest.fixture
def prefer():
    """prefer(user, type, in_app=True, email=False, mode="immediate"): store a preference row."""
    def _prefer(user, type_name, in_app=True, email=False, mode="immediate"):
        db.session.add(NotificationPreference(user_id=user.id, event_type=type_name, in_app=in_app, email=email, email_mode=mode))
        db.session.commit()
    return _prefer


@pytest.fixture
def inbox_of():
    """inbox_of(user[, type]): titles of the user's notifications (of that type), newest first, archived too."""
    def _inbox(user, type_name=None, unread_only=False):
        query = Notification.for_user(user.id).order_by(Notification.created_at.desc())
        if type_name:
            query = query.where(Notification.type == type_name)
        if unread_only:
            query = query.where(*Notification.unread_filter())
        return [n.title for n in db.session.scalars(query)]
    return _inbox
