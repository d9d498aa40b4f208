"""Accounts: creating users, checking passwords, changing and resetting them, ending sessions."""
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from extensions import db
from models import User, normalise_email, parse_uuid, utcnow
from services import ServiceError
from services.events import Actor, emit, user_target
from services.mail import queue_email
from services.names import clean_name

# Argon2id, a memory-hard hash (argon2-cffi's defaults follow RFC 9106's second recommendation).
password_hasher = PasswordHasher()
# Still Argon2id, with 1 MiB instead of 64 MiB: only when config FAST_PASSWORD_HASHING is set (the test
# suite), so thousands of test users do not cost a minute of CPU. Verification reads the parameters
# from each stored hash, so either hasher checks either kind of hash.
_fast_password_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _hasher():
    return _fast_password_hasher if current_app.config.get("FAST_PASSWORD_HASHING") else password_hasher

MIN_PASSWORD_LENGTH = 8
MAX_NAME = 120
MAX_PASSWORD_LENGTH = 128


def clean_email(email):
    """The normalised address, or ServiceError with a reason fit to show under the field."""
    email = normalise_email(email)
    if not email:
        raise ServiceError("Enter an email address.", field="email")
    try:
        # No DNS look-up: the deliverability check would make sign-up depend on the network.
        validated = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ServiceError(f"That email address is not valid: {exc}", field="email") from None
    return validated.normalized.lower()


def check_password_policy(password, field="password"):
    # NIST SP 800-63B section 5.1.1.2: length and a blocklist, no composition rules.
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ServiceError(f"Use at least {MIN_PASSWORD_LENGTH} characters.", field=field)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ServiceError(f"Use at most {MAX_PASSWORD_LENGTH} characters.", field=field)
    from services.common_passwords import is_common
    if is_common(password):
        raise ServiceError("That password is on a list of commonly used passwords. Choose another.", field=field)


def hash_password(password):
    return _hasher().hash(password)


def password_matches(user, password):
    if user is None or not user.password_hash:
        # Spend the same time as a real check so response time does not reveal whether the account exists.
        _burn_a_hash(password)
        return False
    try:
        return _hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASHES = {}


def _burn_a_hash(password):
    hasher = _hasher()
    if hasher not in _DUMMY_HASHES:
        _DUMMY_HASHES[hasher] = hasher.hash("orgkit-dummy-password")
    try:
        hasher.verify(_DUMMY_HASHES[hasher], password or "")
    except (VerificationError, InvalidHashError):
        pass


def clean_user_name(name):
    return clean_name(name, MAX_NAME, "Enter your name.")


def create_user(email, name, password=None, managed_by_org_id=None, email_checked=False):
    """A new account. password None makes an SSO-only account; managed_by_org_id names the org whose
    SSO or SCIM made it (docs/security.md, Identity and trust). email_checked: the caller cleaned the
    email (clean_email) and found no account with it in this transaction, so it is not looked up again
    (the unique index still refuses a second account made meanwhile, as IntegrityError)."""
    if not email_checked:
        email = clean_email(email)
    name = clean_user_name(name)
    if password is not None:
        check_password_policy(password)
    if not email_checked and User.by_email(email) is not None:
        raise ServiceError("An account with that email already exists.", field="email", code="conflict")
    user = User(email=email, name=name, password_hash=hash_password(password) if password else None,
                managed_by_org_id=managed_by_org_id)
    db.session.add(user)
    db.session.flush()
    return user


def sign_up(email, name, password, ip=None, user_agent=None):
    """Self-service sign-up: the account, and the event that records who made it from where."""
    user = create_user(email, name, password)
    emit(None, "user.signed_up", Actor.for_user(user, ip, user_agent), [user_target(user)], _user_data(user))
    return user


def update_profile(user, name, actor):
    """Change what a user may change about themselves: the display name (the email is the login)."""
    name = clean_user_name(name)
    if name == user.name:
        return False
    previous = user.name
    user.name = name
    emit(None, "user.updated", actor, [user_target(user)], {**_user_data(user), "changes": {"name": [previous, name]}})
    return True


def record_login(user):
    user.last_login_at = utcnow()


def revoke_sessions(user, actor, event_type="user.sessions_revoked", keep=None):
    """End every session of user at once (keep: the browser that asked, after a password change): the
    server-side records end, so every copy of their cookies is signed out (services/sessions.py). The
    epoch moves on too, which retires password reset links sent before."""
    from services import sessions
    user.session_epoch += 1
    sessions.end_all_sessions(user, event_type.split(".")[-1], keep=keep)
    emit(None, event_type, actor, [user_target(user)], {"user": {"id": str(user.id), "email": user.email}})


def _user_data(user):
    return {"user": {"id": str(user.id), "email": user.email, "name": user.name}}


def _set_password(user, password, field):
    check_password_policy(password, field=field)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()


def change_password(user, current_password, new_password, actor, keep_session=None):
    """A signed-in user changes their password. Every other session ends (keep_session: this one)."""
    if not user.password_hash:
        raise ServiceError("Your account signs in through single sign-on and has no password to change.")
    if not password_matches(user, current_password or ""):
        raise ServiceError("That is not your current password.", field="current_password")
    if password_matches(user, new_password or ""):
        raise ServiceError("Choose a password different from your current one.", field="new_password")
    _set_password(user, new_password, field="new_password")
    # A password change is the moment to throw out any session someone else might hold.
    revoke_sessions(user, actor, event_type="user.password_changed", keep=keep_session)


def set_password(user, new_password, actor):
    """An operator sets a user's password (the CLI: a lost demo password, a locked-out admin). Every
    session ends, and the user is told as for a change of their own."""
    if user.is_deactivated:
        raise ServiceError(f"{user.email} is deactivated: reactivate the account first.")
    _set_password(user, new_password, field="password")
    revoke_sessions(user, actor, event_type="user.password_changed")


# --- Password reset by emailed link ---------------------------------------------------------------
# The token is signed (itsdangerous, keyed by SECRET_KEY) and timestamped, so it cannot be forged and
# expires after PASSWORD_RESET_TTL_MINUTES. It also carries a fingerprint of the user's current
# password hash, session epoch and email: using the link changes the hash (fresh salt) and bumps the
# epoch, so the same link, and every other link sent before it, stops working: each link works once.

RESET_SALT = "orgkit.password-reset"


class EmailedLinkError(ServiceError):
    """An emailed link that cannot be used; code is "invalid", "expired" or "used"."""


class ResetTokenError(EmailedLinkError):
    """A password reset link that cannot be used."""


def _reset_serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def _reset_fingerprint(user):
    material = f"{user.password_hash or ''}|{user.session_epoch}|{user.email}".encode()
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, material, hashlib.sha256).hexdigest()[:32]


def _load_link(serializer, token, ttl_setting, what, error=EmailedLinkError):
    """The pair a signed, timestamped emailed link carries, or error saying why it cannot be used."""
    max_age = current_app.config[ttl_setting] * 60
    try:
        first, second = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise error(f"This {what} has expired. Ask for a new one.", code="expired") from None
    except (BadSignature, ValueError, TypeError):
        raise error(f"This {what} is not valid. Check that you copied the whole link, or ask for a new one.",
                    code="invalid") from None
    return first, second


def password_reset_token(user):
    return _reset_serializer().dumps([str(user.id), _reset_fingerprint(user)])


def user_for_reset_token(token, lock=False):
    """The user a reset link is for, or ResetTokenError saying why it cannot be used.

    lock=True takes a row lock first, so two requests racing with one link cannot both use it.
    """
    user_id, fingerprint = _load_link(_reset_serializer(), token, "PASSWORD_RESET_TTL_MINUTES",
                                      "password reset link", ResetTokenError)
    user_uuid = parse_uuid(user_id) if isinstance(user_id, str) else None
    user = db.session.get(User, user_uuid, with_for_update=lock, populate_existing=lock) if user_uuid else None
    if user is None or user.is_deactivated or not isinstance(fingerprint, str) \
            or not hmac.compare_digest(fingerprint, _reset_fingerprint(user)):
        raise ResetTokenError("This password reset link was already used, or your password changed since it was "
                              "sent. Request a new one.", code="used")
    return user


def email_password_reset(email):
    """Email a reset link to the account with this address, if there is one. Returns the email row or None.

    Runs in the worker (jobs/email.py), never in the request: the request does the same work whether or
    not an account exists, so neither its answer nor its timing tells who has one.
    """
    user = User.by_email(email)
    if user is None or user.is_deactivated:
        return None
    token = password_reset_token(user)
    return queue_email(
        user.email, "Reset your Orgkit password", "password_reset",
        user=user, reset_url=public_url("auth.reset_password", token=token),
        ttl_minutes=current_app.config["PASSWORD_RESET_TTL_MINUTES"],
    )


# --- Sign-up by emailed link ----------------------------------------------------------------------
# Sign-up asks only for an email address and always answers "check your email". The worker then
# emails either a link to finish creating the account (name and password) or, when the address
# already has an account, a note saying so with links to log in and reset the password. Only the
# owner of the address learns whether it has an account, and every account's address is proven.
# The link is signed and timestamped (itsdangerous) and carries the address and where to go after;
# it works until the account exists, so it is single-use by construction.

SIGN_UP_SALT = "orgkit.sign-up"


def _sign_up_serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SIGN_UP_SALT)


def sign_up_token(email, next_path=None):
    return _sign_up_serializer().dumps([email, next_path or ""])


def email_sign_up_link(email, next_path=None):
    """Worker side of sign-up: the link to finish creating the account, or the "you have one" note."""
    user = User.by_email(email)
    if user is not None:
        return queue_email(
            user.email, "You already have an Orgkit account", "sign_up_existing_account",
            user=user, login_url=public_url("auth.login"), reset_url=public_url("auth.forgot_password"),
        )
    return queue_email(
        email, "Finish creating your Orgkit account", "sign_up_link",
        sign_up_url=public_url("auth.signup_finish", token=sign_up_token(email, next_path)),
        ttl_minutes=current_app.config["SIGNUP_LINK_TTL_MINUTES"],
    )


def sign_up_link_details(token):
    """(email, next path) a sign-up link was made for, or EmailedLinkError saying why it cannot be used."""
    email, next_path = _load_link(_sign_up_serializer(), token, "SIGNUP_LINK_TTL_MINUTES", "sign-up link")
    if not isinstance(email, str) or not isinstance(next_path, str):
        raise EmailedLinkError("This sign-up link is not valid. Ask for a new one.", code="invalid")
    if User.by_email(email) is not None:
        raise EmailedLinkError("An account with this address already exists: this link was used. "
                               "Log in, or reset your password if you forgot it.", code="used")
    return email, next_path


def finish_sign_up(token, name, password, ip=None, user_agent=None):
    """Create the account a sign-up link was sent for. Returns (user, next path)."""
    email, next_path = sign_up_link_details(token)
    return sign_up(email, name, password, ip=ip, user_agent=user_agent), next_path


def reset_password(token, new_password, ip=None, user_agent=None):
    """Set a new password from an emailed link; the link dies and every session ends."""
    user = user_for_reset_token(token, lock=True)
    _set_password(user, new_password, field="password")
    revoke_sessions(user, Actor.for_user(user, ip, user_agent), event_type="user.password_reset")
    return user


def public_url(endpoint, **values):
    """An absolute link for emails, built on PUBLIC_BASE_URL (not the request's host, which a client
    controls: a forged Host header must not be able to point a reset link at another site)."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return base + path
