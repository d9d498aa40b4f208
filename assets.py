"""Static files and response size: fingerprinted static URLs cached for a year, and compression of
responses for deployments where no proxy compresses them.

Fingerprints need no build step: url_for('static', filename=...) adds ?v=<first 12 hex of the file's
SHA-256>, so a changed file gets a new URL and a URL can be cached forever (RFC 8246 `immutable`).
A request whose v does not match the file on disk (an old page asking after a deploy) is answered
with the current file and the default revalidation, never cached for a year under the wrong name.
"""
import hashlib
import os

from flask import request
from flask_compress import Compress

ONE_YEAR = 365 * 24 * 3600
COMPRESSIBLE = ("text/css", "text/javascript", "application/javascript", "image/svg+xml")
compress = Compress()


class Fingerprints:
    """The digest of each static file, recomputed when its modification time changes."""

    def __init__(self, folder):
        self.folder = folder
        self._known = {}  # filename -> (mtime_ns, digest)

    def of(self, filename):
        path = os.path.join(self.folder, filename)
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return None
        known = self._known.get(filename)
        if known and known[0] == mtime:
            return known[1]
        with open(path, "rb") as file:
            digest = hashlib.sha256(file.read()).hexdigest()[:12]
        self._known[filename] = (mtime, digest)
        return digest


def init_app(app):
    fingerprints = Fingerprints(app.static_folder)

    @app.url_defaults
    def fingerprint_static_urls(endpoint, values):
        if endpoint == "static" and "filename" in values and "v" not in values:
            digest = fingerprints.of(values["filename"])
            if digest:
                values["v"] = digest

    @app.after_request
    def cache_fingerprinted_static_files(response):
        if request.endpoint != "static" or response.status_code not in (200, 304):
            return response
        filename = (request.view_args or {}).get("filename")
        if filename and request.args.get("v") and request.args.get("v") == fingerprints.of(filename):
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = ONE_YEAR
            response.cache_control.immutable = True
        return response

    if app.config["COMPRESS_RESPONSES"]:
        # gzip or brotli per Accept-Encoding for HTML, CSS, JS and JSON. Streamed responses (the CSV
        # export) stay streamed. BREACH needs an attacker's input reflected next to a secret in
        # responses the victim's browser fetches many times with its cookies; SameSite=Lax session
        # cookies are not sent on the cross-site requests that would take (config.py).
        app.config.setdefault("COMPRESS_STREAMS", False)
        app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
        compress.init_app(app)

        # Registered after Flask-Compress, so it runs before it (after_request runs in reverse):
        # static files are sent as file streams, which Flask-Compress leaves alone, yet they are the
        # largest text we send (htmx, the stylesheet). Reading them into the response lets it compress
        # them; they are small, and fingerprinting means each browser fetches each one once.
        @app.after_request
        def let_static_files_be_compressed(response):
            if request.endpoint == "static" and response.status_code == 200 and response.mimetype in COMPRESSIBLE:
                response.direct_passthrough = False
                response.set_data(response.get_data())
            return response
