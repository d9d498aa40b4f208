"""The migrations build the schema from nothing, and it is the schema the models declare.

A model change without its Alembic revision fails here, on whichever database the suite runs.
"""
import contextvars
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from config import TestConfig
from extensions import db


@pytest.fixture
def scratch_database_url(app, tmp_path):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"orgkit_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migrations_build_the_schema_the_models_declare(scratch_database_url):
    def check():
        app = create_app(TestConfig(SQLALCHEMY_DATABASE_URI=scratch_database_url))
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
            db.engine.dispose()
        return diff

    # A separate app with its own context, so the suite's own session and database are untouched.
    diff = contextvars.Context().run(check)
    assert diff == [], f"models and migrations differ; run `flask db migrate`: {diff}"
