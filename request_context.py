"""What a request knows about who is acting, turned into the plain Actor that services take."""
from flask import request
from flask_login import current_user

from services.events import Actor


def client_ip():
    # ProxyFix (app.py, TRUSTED_PROXY_COUNT) has already applied X-Forwarded-For from trusted hops only.
    return request.remote_addr


def current_actor():
    return Actor.for_user(current_user, client_ip(), request.headers.get("User-Agent"))
