"""Settings that decide whether the app starts, and with what."""
import pytest

from app import create_app
from config import SETTINGS, Config, refuse_insecure_start

DEFAULTS = {name: default for name, default, _ in SETTINGS}


def test_an_empty_database_url_means_the_local_sqlite_file(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "")
    assert Config().SQLALCHEMY_DATABASE_URI == DEFAULTS["DATABASE_URL"]


STRONG_KEY = "k" * 32


@pytest.mark.parametrize("settings", [
    {"PUBLIC_BASE_URL": "https://orgkit.example.com"},
    {"ORGKIT_PRODUCTION": "true"},
])
@pytest.mark.parametrize("secret_key", [None, "short-but-not-default", "é" * 15])
def test_a_production_start_refuses_a_default_or_short_secret_key(monkeypatch, settings, secret_key):
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    if secret_key is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", secret_key)
    with pytest.raises(SystemExit, match="Refusing to start: SECRET_KEY is .* at least 32 random bytes"):
        create_app()


def test_a_local_start_keeps_the_default_key_and_a_strong_key_starts_in_production(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    refuse_insecure_start(Config().__dict__)   # a local run: no complaint
    monkeypatch.setenv("ORGKIT_PRODUCTION", "true")
    monkeypatch.setenv("SECRET_KEY", STRONG_KEY)
    refuse_insecure_start(Config().__dict__)


def test_postgresql_sessions_run_in_utc_and_other_zones_still_read_as_the_same_instant(app, make):
    """config.py asks PostgreSQL for TimeZone=UTC at connect, so psycopg gives timestamps in
    datetime.timezone.utc and UTCDateTime keeps them as they are; a session in another zone (a pooler
    that drops the option) still reads the same instants, converted."""
    from datetime import timezone

    from sqlalchemy import select, text

    from extensions import db
    from models import User
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite stores no zone")
    assert db.session.execute(text("SHOW TimeZone")).scalar() == "UTC"
    user = make.user(email="zone@example.com")
    db.session.commit()
    read = db.session.scalar(select(User.created_at).where(User.id == user.id))
    assert read.tzinfo is timezone.utc
    db.session.commit()
    db.session.execute(text("SET LOCAL TimeZone = 'Asia/Kolkata'"))
    elsewhere = db.session.scalar(select(User.created_at).where(User.id == user.id))
    assert elsewhere == read and elsewhere.tzinfo is timezone.utc and elsewhere.hour == read.hour


def test_options_given_in_database_url_are_kept_beside_the_utc_zone(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://orgkit@db.internal/orgkit?options=-c%20search_path%3Dorgkit")
    assert Config().SQLALCHEMY_ENGINE_OPTIONS["connect_args"] == {"options": "-c search_path=orgkit -c TimeZone=UTC"}
    monkeypatch.setenv("DATABASE_URL", "postgresql://orgkit@db.internal/orgkit")
    assert Config().SQLALCHEMY_ENGINE_OPTIONS["connect_args"] == {"options": "-c TimeZone=UTC"}
