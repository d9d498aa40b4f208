"""Static files are fingerprinted and cached a year, responses are compressed when no proxy does it,
and pages are never stored by the browser (issue 16 items 1 and 13)."""
import re

import pytest


def asset_urls(html):
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_static_urls_carry_a_fingerprint_and_are_cached_for_a_year(client):
    urls = asset_urls(client.get("/login").text)
    assert {url.split("?")[0] for url in urls} >= {"/static/css/app.css", "/static/js/app.js"}
    for url in urls:
        assert re.search(r"\?v=[0-9a-f]{12}$", url), url
        response = client.get(url)
        assert response.status_code == 200
        assert response.cache_control.max_age == 365 * 24 * 3600 and response.cache_control.public
        assert "immutable" in response.headers["Cache-Control"] and "no-cache" not in response.headers["Cache-Control"]
        response.close()  # a static file is streamed from an open file


@pytest.mark.parametrize("query", ["", "?v=000000000000"])
def test_a_static_url_without_the_current_fingerprint_is_revalidated(client, query):
    """An old page asking for last release's file gets today's, but not cached a year under that name."""
    response = client.get("/static/css/app.css" + query)
    assert response.status_code == 200 and response.cache_control.max_age != 365 * 24 * 3600


def test_the_fingerprint_changes_with_the_file(tmp_path):
    import os

    import assets

    (tmp_path / "a.css").write_text("a { color: red }")
    fingerprints = assets.Fingerprints(str(tmp_path))
    first = fingerprints.of("a.css")
    (tmp_path / "a.css").write_text("a { color: blue }")
    os.utime(tmp_path / "a.css", ns=(1, 10**18))  # a different modification time, whatever the clock
    assert fingerprints.of("a.css") != first and fingerprints.of("missing.css") is None


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_pages_and_assets_are_compressed_for_clients_that_accept_it(client, encoding):
    for url in ["/login", asset_urls(client.get("/login").text)[0]]:
        response = client.get(url, headers={"Accept-Encoding": encoding})
        assert response.headers["Content-Encoding"] == encoding and "Accept-Encoding" in response.headers["Vary"]
    assert "Content-Encoding" not in client.get("/login", headers={"Accept-Encoding": "identity"}).headers


def test_compression_can_be_left_to_a_proxy():
    from app import create_app
    from config import TestConfig

    app = create_app(TestConfig(COMPRESS_RESPONSES=False))
    response = app.test_client().get("/login", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and "Content-Encoding" not in response.headers


def test_pages_are_not_stored_by_the_browser(client, login, make):
    """Back after logout must not show a stored copy of an org page (issue 16 item 1)."""
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    owner = make.user()
    org = make.org(owner=owner, slug="acme")
    login(owner)
    for url in ["/app/workspaces", f"/app/o/{org.slug}/", f"/app/o/{org.slug}/members", "/app/o/nope/"]:
        response = client.get(url)
        assert response.mimetype == "text/html" and response.headers["Cache-Control"] == "no-store", url
