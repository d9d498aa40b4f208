"""Errors are pages (or JSON for JSON clients) that say what went wrong, never a traceback."""
import contextvars

from app import create_app
from config import TestConfig
from tenancy import public_page


def test_unknown_page_is_a_styled_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"Page not found" in response.data
    assert b"Back to Orgkit" in response.data


def test_unexpected_exception_is_a_styled_500_and_rolls_back():
    def run():
        app = create_app(TestConfig())

        @app.route("/boom")
        @public_page
        def boom():
            raise RuntimeError("secret detail")

        response = app.test_client().get("/boom")
        return response.status_code, response.data

    status, body = contextvars.Context().run(run)
    assert status == 500
    assert b"Something went wrong" in body
    assert b"secret detail" not in body and b"Traceback" not in body


def test_json_clients_get_json_errors(client):
    response = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["error"]["code"] == 404
