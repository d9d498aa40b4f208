"""Rate limits on the account doors (login, password reset, sign-up), and the 429 page they show.

Flask-Limiter counts attempts in Redis (moving window), so every web process shares the counts. Two
keys guard each door: the client IP (one machine trying many accounts) and the account's email (many
machines trying one account). The email key applies to any string typed, whether or not an account
has it, so neither the count nor the 429 message tells anyone which accounts exist.
"""
import math
import time

from flask import current_app, render_template, request
from flask_login import current_user

from blueprints.auth import forms
from extensions import limiter
from htmx import render_page
from models import normalise_email
from request_context import client_ip


def _setting(name):
    return lambda: current_app.config[name]


def _account_key():
    # Prefixed so it never collides with an IP key; never empty (Flask-Limiter skips empty keys).
    return "account:" + normalise_email(request.form.get("email"))


def _user_key():
    return f"user:{current_user.get_id()}" if current_user.is_authenticated else "user:anonymous"


def failed_attempt(response):
    """Count only attempts that failed (a form re-shown with errors), not successful logins."""
    return response.status_code == 422


def limit_by_ip(setting, deduct_when=None):
    return limiter.limit(_setting(setting), key_func=client_ip, methods=["POST"], deduct_when=deduct_when)


def limit_by_account(setting, deduct_when=None):
    return limiter.limit(_setting(setting), key_func=_account_key, methods=["POST"], deduct_when=deduct_when)


def limit_password_tries_by_account(key_func=_account_key):
    """Every door that checks an account's password (login, break-glass, SSO link consent) counts against
    one shared limit per account, so a locked account gets no extra tries through another door (issue 13,
    item 7). key_func names the account ("account:<email>") where the form has no email field."""
    return limiter.shared_limit(_setting("LOGIN_RATE_LIMIT_ACCOUNT"), scope="account-password", key_func=key_func,
                                methods=["POST"], deduct_when=failed_attempt)


def limit_by_user(setting, deduct_when=None):
    """For signed-in forms that check a password (guessing the current password from a stolen session)."""
    return limiter.limit(_setting(setting), key_func=_user_key, methods=["POST"], deduct_when=deduct_when)


DOORS = {
    # endpoint: (template, form class name, what was attempted)
    "auth.login": ("auth/login.html", "LoginForm", "login attempts"),
    "auth.forgot_password": ("auth/forgot_password.html", "ForgotPasswordForm", "password reset requests"),
    "auth.signup": ("auth/signup.html", "SignupForm", "sign-up attempts"),
    "auth.account_password_change": (None, "ChangePasswordForm", "password change attempts"),
}


def retry_after_seconds():
    """Seconds until the breached limit lets the next attempt through."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))


def wait_phrase(seconds):
    if seconds < 90:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    minutes = max(2, round(seconds / 60))  # a 15-minute window reads "15 minutes", not 16
    return f"{minutes} minutes"


def too_many_attempts_response(render_account):
    """429 on the page itself: the same form (email kept) with the reason above it, and Retry-After.
    render_account(password_form=...) renders the account page (routes.py owns it and registers this
    as the blueprint's RateLimitExceeded handler; this module imports nothing from routes)."""
    seconds = retry_after_seconds()
    door = DOORS.get(request.endpoint)
    message = f"For your security, wait {wait_phrase(seconds)} and try again."
    if door is None:  # a limit on some other auth route: the styled error page
        body = render_template("errors/error.html", status=429, title="Too many attempts", description=message)
    else:
        template, form_name, attempts = door
        form = getattr(forms, form_name)()
        form.form_errors.append(f"Too many {attempts} from here or for this account. {message}")
        if template is None:
            body, _ = render_account(password_form=form)
        else:
            body, _ = render_page(template, form=form)
    response = current_app.make_response((body, 429))
    response.headers["Retry-After"] = str(seconds)
    return response
