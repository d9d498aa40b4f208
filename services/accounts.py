"""Accounts: creating users, checking passwords, ending sessions."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email

from extensions import db
from models import User, normalise_email, utcnow
from services import ServiceError
from services.events import Actor, emit, user_target

# Argon2id, a memory-hard hash (argon2-cffi's defaults follow RFC 9106's second recommendation).
password_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8
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


def check_password_policy(password):
    # NIST SP 800-63B section 5.1.1.2: length and a blocklist, no composition rules.
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ServiceError(f"Use at least {MIN_PASSWORD_LENGTH} characters.", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ServiceError(f"Use at most {MAX_PASSWORD_LENGTH} characters.", field="password")
    from services.common_passwords import is_common
    if is_common(password):
        raise ServiceError("That password is on a list of commonly used passwords. Choose another.", field="password")


def hash_password(password):
    return password_hasher.hash(password)


def password_matches(user, password):
    if user is None or not user.password_hash:
        # Spend the same time as a real check so response time does not reveal whether the account exists.
        _burn_a_hash(password)
        return False
    try:
        return password_hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = None


def _burn_a_hash(password):
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = password_hasher.hash("orgkit-dummy-password")
    try:
        password_hasher.verify(_DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        pass


def create_user(email, name, password=None):
    """A new account. password None makes an SSO-only account."""
    email = clean_email(email)
    name = (name or "").strip()
    if not name:
        raise ServiceError("Enter your name.", field="name")
    if len(name) > 120:
        raise ServiceError("Use at most 120 characters.", field="name")
    if password is not None:
        check_password_policy(password)
    if User.by_email(email) is not None:
        raise ServiceError("An account with that email already exists.", field="email", code="conflict")
    user = User(email=email, name=name, password_hash=hash_password(password) if password else None)
    db.session.add(user)
    db.session.flush()
    return user


def record_login(user):
    user.last_login_at = utcnow()


def revoke_sessions(user, actor, event_type="user.sessions_revoked"):
    """End every session of user at once: cookies carry the old epoch and stop loading the user."""
    user.session_epoch += 1
    emit(None, event_type, actor, [user_target(user)], {"user": {"id": str(user.id), "email": user.email}})
