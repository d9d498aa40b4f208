"""A URL refused for being http or internal names the settings that allow it, when the server runs on
this machine (whoever reads the message can set them); a public server does not talk about its settings."""
import pytest

from services import egress
from services.egress import EgressPolicy, EgressRefused

STRICT = EgressPolicy()


def refusal(url):
    with pytest.raises(EgressRefused) as refused:
        egress.check_url(url, STRICT)
    return refused.value.message


@pytest.mark.parametrize("url, allowlist_entry", [
    ("http://127.0.0.1:9000/hook", "127.0.0.1/32"),
    ("https://127.0.0.1:9000/hook", "127.0.0.1/32"),
    ("https://[::1]:9000/hook", "::1/128"),
    ("https://10.1.2.3/hook", "10.1.2.3/32"),
])
def test_a_local_server_names_the_settings_that_allow_a_local_receiver(app, monkeypatch, url, allowlist_entry):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "http://127.0.0.1:5001")
    message = refusal(url)
    assert "EGRESS_ALLOW_HTTP=true" in message and f"EGRESS_ALLOWLIST={allowlist_entry} " in message


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "https://10.1.2.3/hook"])
def test_a_public_server_keeps_its_settings_to_itself(app, monkeypatch, url):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://orgkit.example.com")
    assert "EGRESS_ALLOW_HTTP" not in refusal(url)


def test_the_webhook_form_shows_the_hint(app, client, make, login, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "http://localhost:5000")
    monkeypatch.setitem(app.config, "EGRESS_ALLOW_HTTP", False)
    owner = make.user(email="owner@example.com")
    org = make.org(owner=owner, slug="acme")
    login(owner)
    response = client.post(f"/app/o/{org.slug}/webhooks/new", data={"url": "http://127.0.0.1:8080/hook", "events": "all"})
    assert response.status_code == 422
    assert "EGRESS_ALLOW_HTTP=true" in response.get_data(as_text=True)
