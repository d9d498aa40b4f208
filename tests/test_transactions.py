"""How a request's transaction ends (extensions.end_read_only_transaction, issue 17): a transaction
that only read is committed, which keeps psycopg's prepared statements; one that wrote anything, or
holds a change not yet flushed, is left for the rollback, so no request's leftover write is ever
committed by the teardown."""
from sqlalchemy import select

from app import create_app
from config import TestConfig
from extensions import db, end_read_only_transaction
from models import User
from tests.conftest import IsolatedClient


def test_a_transaction_that_only_read_is_committed():
    db.session.execute(select(User.id)).all()
    assert db.session().in_transaction()
    end_read_only_transaction(db.session())
    assert not db.session().in_transaction()


def test_a_flushed_write_is_left_for_the_rollback():
    db.session.add(User(email="left@example.com", name="Left"))
    db.session.flush()
    end_read_only_transaction(db.session())
    assert db.session().in_transaction()
    db.session.rollback()
    assert db.session.scalar(select(User.id).where(User.email == "left@example.com")) is None


def test_a_change_not_yet_flushed_is_left_for_the_rollback():
    db.session.execute(select(User.id)).all()
    db.session.add(User(email="pending@example.com", name="Pending"))
    end_read_only_transaction(db.session())
    assert db.session().in_transaction()
    db.session.rollback()
    assert db.session.scalar(select(User.id).where(User.email == "pending@example.com")) is None


def test_a_request_that_wrote_without_committing_leaves_nothing():
    """Views that flushed a row and then returned, with an error or without, but never committed: the
    row is gone. (An app of its own: the suite's has served requests, so it takes no new routes.)"""
    from flask import abort

    app = create_app(TestConfig())
    app.test_client_class = IsolatedClient
    client = app.test_client()

    @app.route("/_test/write-then-fail")
    def write_then_fail():
        db.session.add(User(email="half@example.com", name="Half"))
        db.session.flush()
        abort(422)

    @app.route("/_test/write-and-return")
    def write_and_return():
        db.session.add(User(email="forgot@example.com", name="Forgot"))
        db.session.flush()
        return "written, not committed"

    assert client.get("/_test/write-then-fail").status_code == 422
    assert client.get("/_test/write-and-return").status_code == 200
    assert db.session.scalar(select(User.id).where(User.email.in_(["half@example.com", "forgot@example.com"]))) is None
