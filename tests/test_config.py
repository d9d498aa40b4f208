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
