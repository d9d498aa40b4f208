"""Two installs sharing one Redis database keep apart: queues, webhook signals and rate-limit keys carry
REDIS_NAMESPACE, which defaults to the database's name."""
import pytest
from flask import Flask

from config import Config, database_namespace
from extensions import Jobs, db, jobs
from services import accounts


@pytest.mark.parametrize("url, namespace", [
    ("postgresql+psycopg://orgkit_app@db.internal/orgkit_eu", "orgkit_eu"),
    ("sqlite:////srv/orgkit/instance/orgkit.db", "orgkit"),
    ("sqlite:///staging.db", "staging"),
    ("sqlite://", "orgkit"),
])
def test_the_default_namespace_is_the_database_name(url, namespace):
    assert database_namespace(url) == namespace


def test_an_explicit_namespace_wins_and_names_the_rate_limit_keys(monkeypatch):
    monkeypatch.setenv("REDIS_NAMESPACE", "acme-prod")
    config = Config()
    assert config.REDIS_NAMESPACE == "acme-prod" and config.RATELIMIT_KEY_PREFIX == "acme-prod"


def other_install(app, namespace):
    """A second install's job dispatcher on the same Redis database."""
    other_app = Flask("other_install")
    other_app.config.update(REDIS_URL=app.config["REDIS_URL"], USE_REDIS_QUEUE=True, REDIS_NAMESPACE=namespace)
    other = Jobs()
    other.init_app(other_app)
    return other


def test_a_second_install_on_the_same_redis_sees_none_of_our_jobs(app, make):
    other = other_install(app, namespace=app.config["REDIS_NAMESPACE"] + "-other")
    make.user(email="ada@example.com")
    accounts.email_password_reset("ada@example.com")   # an outbox email, its job queued after the commit
    db.session.commit()
    assert jobs.queues["email"].count == 1
    assert other.queues["email"].count == 0 and other.queues["email"].name != jobs.queues["email"].name
    assert jobs.key("webhooks:due") != other.key("webhooks:due")


def test_every_key_a_failed_login_leaves_in_redis_carries_the_namespace(app, client, make):
    make.user(email="ada@example.com")
    jobs.redis.flushdb()
    client.post("/login", data={"email": "ada@example.com", "password": "wrong password"})
    keys = [key.decode() for key in jobs.redis.keys("*")]
    assert keys and all(app.config["REDIS_NAMESPACE"] in key for key in keys), keys
