"""Serve Orgkit over HTTP in this process for the fault tests (a threaded WSGI server, like gunicorn's
gthread workers): `PORT=... DATABASE_URL=... REDIS_URL=... python tests/faults/serve_app.py`.

TestConfig keeps the suite's conveniences (no CSRF tokens to scrape, fast password hashing); the
database, Redis and SMTP come from the environment as in production. ORGKIT_CREATE_SCHEMA=1 creates
the tables first (a fresh private PostgreSQL cluster has none).
"""
import os

from werkzeug.serving import make_server

import logs
from app import create_app
from config import TestConfig
from extensions import db


def main():
    logs.configure("json")  # TestConfig does not install the handler (pytest captures logs in-process)
    app = create_app(TestConfig())
    if os.environ.get("ORGKIT_CREATE_SCHEMA"):
        with app.app_context():
            db.create_all()
    make_server("127.0.0.1", int(os.environ["PORT"]), app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
