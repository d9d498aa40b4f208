"""Settings that decide whether the app starts, and with what."""
from config import SETTINGS, Config

DEFAULTS = {name: default for name, default, _ in SETTINGS}


def test_an_empty_database_url_means_the_local_sqlite_file(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "")
    assert Config().SQLALCHEMY_DATABASE_URI == DEFAULTS["DATABASE_URL"]
