"""Each request is logged once, by the app, when served by `flask run`'s server (werkzeug)."""
import logging
import urllib.request


def test_a_request_served_by_the_dev_server_is_logged_once(live_server, caplog):
    caplog.set_level(logging.INFO)
    with urllib.request.urlopen(f"{live_server.url}/healthz?once", timeout=10) as response:
        assert response.status == 200
    lines = [record for record in caplog.records if "/healthz" in record.getMessage()]
    assert [record.name for record in lines] == ["orgkit.request"]
