"""Two-factor authentication: an authenticator app (TOTP), passkeys and security keys (WebAuthn),
recovery codes, remembered devices, and the requirement an org can set.

Libraries made for this do the cryptography: pyotp (RFC 6238 codes), py_webauthn (WebAuthn Level 2
ceremonies: challenge, origin, RP ID, signature and counter checks) and segno (the QR code, rendered
on the server as SVG). What is ours: where secrets live (TOTP secret encrypted, recovery codes and
device tokens hashed), the replay guard, and who must have a second factor where.
"""
import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, func, select, update
from webauthn import (generate_authentication_options, generate_registration_options, options_to_json,
                      verify_authentication_response, verify_registration_response)
from webauthn.helpers import base64url_to_bytes, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (AuthenticatorSelectionCriteria, PublicKeyCredentialDescriptor,
                                      ResidentKeyRequirement, UserVerificationRequirement)

from extensions import db
from models import (Passkey, RecoveryCode, RememberedDevice, Role, TotpFactor, TwoFactorRequirement, User,
                    parse_uuid, utcnow)
from services import ServiceError, crypto
from services.events import emit, target, user_target
from services.trust import record_trust_change

ISSUER = "Orgkit"
TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
RECOVERY_CODE_COUNT = 10
MAX_PASSKEY_NAME = 60
MAX_PASSKEYS = 20
REQUIRED_ROLES = {
    TwoFactorRequirement.off: frozenset(),
    TwoFactorRequirement.admins: frozenset({Role.owner, Role.admin}),
    TwoFactorRequirement.everyone: frozenset(Role),
}
# Where the person was going when an org's requirement sent them to add a factor (a session key that
# tenancy.py sets and the account page reads).
RETURN_TO_SESSION_KEY = "two_factor_return_to"
REQUIREMENT_LABELS = {
    TwoFactorRequirement.off: "Not required",
    TwoFactorRequirement.admins: "Required for owners and admins",
    TwoFactorRequirement.everyone: "Required for everyone",
}


def _user_payload(user):
    return {"id": str(user.id), "email": user.email, "name": user.name}


# --- What an account has ------------------------------------------------------------------------

@dataclass
class Factors:
    totp: TotpFactor | None
    passkeys: list
    recovery_codes_left: int

    @property
    def enabled(self):
        return self.totp is not None or bool(self.passkeys)


def confirmed_totp(user_id):
    return db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user_id,
                                                      TotpFactor.confirmed_at.is_not(None)))


def factors_of(user):
    passkeys = db.session.scalars(select(Passkey).where(Passkey.user_id == user.id)
                                  .order_by(Passkey.created_at)).all()
    return Factors(confirmed_totp(user.id), list(passkeys), recovery_codes_left(user))


def has_two_factor(user_id):
    return bool(users_with_two_factor([user_id]))


def users_with_two_factor(user_ids):
    """The ids among user_ids whose account has a confirmed second factor (one query: members page)."""
    user_ids = list(user_ids)
    if not user_ids:
        return set()
    totp = select(TotpFactor.user_id).where(TotpFactor.user_id.in_(user_ids), TotpFactor.confirmed_at.is_not(None))
    passkeys = select(Passkey.user_id).where(Passkey.user_id.in_(user_ids))
    return set(db.session.scalars(totp.union(passkeys)))


def _remove_everything_if_no_factor_left(user):
    """Recovery codes and remembered devices only make sense next to a factor."""
    db.session.flush()
    if not has_two_factor(user.id):
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        db.session.execute(delete(RememberedDevice).where(RememberedDevice.user_id == user.id))


def _emit_factor(event_type, user, actor, kind, label):
    # summary: what the security notice names (services/notifications.py puts it in the body).
    name = label if kind == "totp" else f"Passkey “{label}”"
    emit(None, event_type, actor, [user_target(user)],
         {"user": _user_payload(user), "factor": {"type": kind, "name": label}, "summary": f"{name}."})


# --- Authenticator app (TOTP, RFC 6238) ----------------------------------------------------------

def start_totp_setup(user):
    """A new secret for user's authenticator app, not yet a factor: confirm_totp makes it one once
    the person types a code it produced. Replaces an earlier setup that was never confirmed."""
    if confirmed_totp(user.id) is not None:
        raise ServiceError("You already have an authenticator app. Remove it first to set up another one.")
    db.session.execute(delete(TotpFactor).where(TotpFactor.user_id == user.id))
    secret = pyotp.random_base32()  # 160 bits, as RFC 4226 section 4 recommends
    db.session.add(TotpFactor(user_id=user.id, secret_encrypted=crypto.encrypt(secret)))
    db.session.flush()
    return secret


def pending_totp_secret(user):
    """The secret of a setup in progress, or None."""
    row = db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id, TotpFactor.confirmed_at.is_(None)))
    return crypto.decrypt(row.secret_encrypted) if row else None


def totp_uri(user, secret):
    """The otpauth:// URI authenticator apps read from the QR code (Key Uri Format)."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=ISSUER)


def qr_svg(uri):
    """The QR code as an inline SVG element (no image request, so the secret never reaches a log)."""
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff", omitsize=False)


def clean_code(code, field="code"):
    """Six digits from what the person typed (spaces and a middle dash allowed), or ServiceError."""
    digits = "".join((code or "").split()).replace("-", "")
    if not digits:
        raise ServiceError("Enter the 6-digit code from your authenticator app.", field=field)
    if not digits.isdigit() or len(digits) != TOTP_DIGITS:
        raise ServiceError("The code is the 6 digits your authenticator app shows now.", field=field)
    return digits


def _matching_step(secret, code, now):
    """The time step whose code equals code, trying the current step and one on either side (RFC 6238
    section 5.2 allows for clock drift and typing time), or None."""
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def confirm_totp(user, code, actor):
    """Turn the setup in progress into the account's authenticator app. Returns fresh recovery codes
    when the account had none (its first factor), else None."""
    code = clean_code(code)
    row = db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id, TotpFactor.confirmed_at.is_(None))
                            .with_for_update())
    if row is None:
        raise ServiceError("Start the setup again: it expired or was finished in another window.")
    step = _matching_step(crypto.decrypt(row.secret_encrypted), code, utcnow())
    if step is None:
        raise ServiceError("That code doesn't match. Check that your device's clock is right and enter the "
                           "code it shows now.", field="code")
    row.confirmed_at = row.last_used_at = utcnow()
    row.last_used_step = step
    _emit_factor("user.second_factor_added", user, actor, "totp", "Authenticator app")
    return _first_recovery_codes(user)


def verify_totp(user, code):
    """True when code is the current code of user's authenticator app and was not used before. The
    accepted step is recorded under a row lock, so the same code cannot pass twice, even in two
    requests racing (RFC 6238 section 5.2: "the verifier MUST NOT accept the second attempt")."""
    row = db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id,
                                                     TotpFactor.confirmed_at.is_not(None)).with_for_update())
    if row is None:
        return False
    step = _matching_step(crypto.decrypt(row.secret_encrypted), code, utcnow())
    if step is None or (row.last_used_step is not None and step <= row.last_used_step):
        return False
    row.last_used_step = step
    row.last_used_at = utcnow()
    return True


def remove_totp(user, actor):
    row = confirmed_totp(user.id)
    if row is None:
        raise ServiceError("There is no authenticator app on your account.")
    db.session.delete(row)
    _emit_factor("user.second_factor_removed", user, actor, "totp", "Authenticator app")
    _remove_everything_if_no_factor_left(user)


# --- Recovery codes ------------------------------------------------------------------------------

def _hash_code(code):
    return hashlib.sha256(code.encode()).hexdigest()


def _normalise_recovery_code(code):
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _new_recovery_code():
    # 80 bits in lower-case base32, shown as four groups of four: xxxx-xxxx-xxxx-xxxx.
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def recovery_codes_left(user):
    return db.session.scalar(select(func.count()).select_from(RecoveryCode)
                             .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))


def _replace_recovery_codes(user):
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_code(_normalise_recovery_code(c))) for c in codes)
    db.session.flush()
    return codes


def _first_recovery_codes(user):
    has_codes = db.session.scalar(select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == user.id))
    return None if has_codes else _replace_recovery_codes(user)


def generate_first_recovery_codes(user):
    """Recovery codes for an account that has a factor and no codes yet (after adding a passkey)."""
    if not has_two_factor(user.id):
        raise ServiceError("Add an authenticator app or a passkey first; recovery codes stand in for them.")
    codes = _first_recovery_codes(user)
    if codes is None:
        raise ServiceError("You already have recovery codes. Regenerate them to get a new set.")
    return codes


def regenerate_recovery_codes(user, actor):
    """Ten new codes; every earlier code stops working."""
    if not has_two_factor(user.id):
        raise ServiceError("Add an authenticator app or a passkey first; recovery codes stand in for them.")
    codes = _replace_recovery_codes(user)
    emit(None, "user.recovery_codes_regenerated", actor, [user_target(user)], {"user": _user_payload(user)})
    return codes


def clean_recovery_code(code, field="code"):
    normalised = _normalise_recovery_code(code)
    if not normalised:
        raise ServiceError("Enter one of your recovery codes.", field=field)
    if len(normalised) != 16:
        raise ServiceError("A recovery code has 16 letters and digits, like abcd-efgh-2345-6789.", field=field)
    return normalised


def use_recovery_code(user, code, actor):
    """Spend one recovery code of user: True when it was unused (it is now used), else False."""
    normalised = clean_recovery_code(code)
    # One UPDATE that only an unused row matches, so two requests racing with one code cannot both pass.
    result = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash_code(normalised),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    left = recovery_codes_left(user)
    emit(None, "user.recovery_code_used", actor, [user_target(user)],
         {"user": _user_payload(user), "codes_left": left,
          "summary": f"{left} recovery code{'' if left == 1 else 's'} left. If this was not you, change your password."})
    return True


# --- Passkeys and security keys (WebAuthn Level 2) -----------------------------------------------

def relying_party():
    """(RP ID, origin) from PUBLIC_BASE_URL: the browser checks that the page's origin belongs to the
    RP ID, and we check the origin the browser signed into clientDataJSON (sections 7.1 step 9, 7.2)."""
    parts = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    return parts.hostname, f"{parts.scheme}://{parts.netloc}"


def passkey_registration_options(user):
    """(options JSON for navigator.credentials.create, the challenge to keep until the answer)."""
    rp_id, _ = relying_party()
    existing = db.session.scalars(select(Passkey.credential_id).where(Passkey.user_id == user.id)).all()
    options = generate_registration_options(
        rp_id=rp_id, rp_name=ISSUER, user_id=user.id.bytes, user_name=user.email, user_display_name=user.name,
        # Discoverable, so it can sign in with no email typed; verified (PIN, biometrics), so it is
        # two factors in one and the password can be skipped.
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=credential_id) for credential_id in existing],
    )
    return options_to_json(options), options.challenge


def clean_passkey_name(name):
    name = (name or "").strip()
    if not name:
        raise ServiceError("Name this passkey, for example “Work laptop” or “YubiKey”.", field="name")
    if len(name) > MAX_PASSKEY_NAME:
        raise ServiceError(f"Use at most {MAX_PASSKEY_NAME} characters.", field="name")
    return name


def register_passkey(user, name, credential, challenge, actor):
    """Check the browser's answer to passkey_registration_options and keep the new credential."""
    name = clean_passkey_name(name)
    if challenge is None:
        raise ServiceError("The passkey request expired. Try again.")
    count = db.session.scalar(select(func.count()).select_from(Passkey).where(Passkey.user_id == user.id))
    if count >= MAX_PASSKEYS:
        raise ServiceError(f"An account can have at most {MAX_PASSKEYS} passkeys. Remove one first.")
    rp_id, origin = relying_party()
    try:
        verified = verify_registration_response(credential=credential, expected_challenge=challenge,
                                                 expected_rp_id=rp_id, expected_origin=origin,
                                                 require_user_verification=True)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise ServiceError(f"Your browser's answer could not be verified: {exc}") from None
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == verified.credential_id)) is not None:
        raise ServiceError("This passkey is already registered.")
    transports = _transports(credential)
    passkey = Passkey(user_id=user.id, name=name, credential_id=verified.credential_id,
                      public_key=verified.credential_public_key, sign_count=verified.sign_count, transports=transports)
    db.session.add(passkey)
    db.session.flush()
    _emit_factor("user.second_factor_added", user, actor, "passkey", name)
    return passkey


def _transports(credential):
    try:
        data = json.loads(credential) if isinstance(credential, str) else credential
        transports = data.get("response", {}).get("transports") or []
        return [t for t in transports if isinstance(t, str)][:8]
    except (ValueError, AttributeError):
        return []


def passkey_authentication_options(user=None):
    """Options for navigator.credentials.get: for user's own passkeys (the second step after a
    password), or for any discoverable passkey of this site (signing in with no password)."""
    rp_id, _ = relying_party()
    allow = None
    if user is not None:
        allow = [PublicKeyCredentialDescriptor(id=credential_id) for credential_id in
                 db.session.scalars(select(Passkey.credential_id).where(Passkey.user_id == user.id))]
    options = generate_authentication_options(rp_id=rp_id, allow_credentials=allow,
                                              user_verification=UserVerificationRequirement.REQUIRED)
    return options_to_json(options), options.challenge


def authenticate_passkey(credential, challenge, user=None):
    """The passkey the browser's assertion proves (its counter and last use updated), or ServiceError.
    user: the person in the middle of a login, whose passkey it must be."""
    if challenge is None:
        raise ServiceError("The passkey request expired. Try again.")
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, TypeError, KeyError):
        raise ServiceError("Your browser's answer could not be read. Try again.") from None
    passkey = db.session.scalar(select(Passkey).where(Passkey.credential_id == parsed.raw_id).with_for_update())
    if passkey is None or (user is not None and passkey.user_id != user.id):
        raise ServiceError("This passkey is not registered with Orgkit. Log in with your password.")
    rp_id, origin = relying_party()
    try:
        verified = verify_authentication_response(
            credential=parsed, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=passkey.public_key, credential_current_sign_count=passkey.sign_count,
            require_user_verification=True)
    except (WebAuthnException, ValueError, TypeError) as exc:
        raise ServiceError(f"The passkey could not be verified: {exc}") from None
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = utcnow()
    return passkey


def passkey_for_user(user, passkey_id):
    passkey_uuid = parse_uuid(passkey_id)
    passkey = db.session.scalar(select(Passkey).where(Passkey.id == passkey_uuid, Passkey.user_id == user.id)) \
        if passkey_uuid else None
    if passkey is None:
        raise ServiceError("That passkey is not on your account.", code="not_found")
    return passkey


def remove_passkey(user, passkey, actor):
    db.session.delete(passkey)
    _emit_factor("user.second_factor_removed", user, actor, "passkey", passkey.name)
    _remove_everything_if_no_factor_left(user)


def challenge_from_session(value):
    """The challenge kept in the session as base64url, or None."""
    try:
        return base64url_to_bytes(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


# --- Remembered devices --------------------------------------------------------------------------

def remember_device(user, user_agent=None):
    """A new grant for this browser; returns the token for its cookie (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    days = current_app.config["TWO_FACTOR_REMEMBER_DAYS"]
    db.session.add(RememberedDevice(user_id=user.id, token_hash=_hash_code(token), session_epoch=user.session_epoch,
                                    expires_at=utcnow() + timedelta(days=days), user_agent=(user_agent or "")[:255] or None))
    db.session.flush()
    return token


def device_is_remembered(user, token):
    """True when token is a live grant of user's: not expired, and from the current session epoch
    (logging out everywhere ends every grant)."""
    if not token or not isinstance(token, str) or len(token) > 100:
        return False
    grant = db.session.scalar(select(RememberedDevice).where(
        RememberedDevice.token_hash == _hash_code(token), RememberedDevice.user_id == user.id,
        RememberedDevice.session_epoch == user.session_epoch, RememberedDevice.expires_at > utcnow()))
    if grant is None:
        return False
    grant.last_used_at = utcnow()
    return True


def remembered_devices(user):
    """The live grants of user, newest first (the account page lists them)."""
    return db.session.scalars(select(RememberedDevice).where(
        RememberedDevice.user_id == user.id, RememberedDevice.session_epoch == user.session_epoch,
        RememberedDevice.expires_at > utcnow()).order_by(RememberedDevice.created_at.desc())).all()


def forget_devices(user):
    """Every browser of user asks for the second factor again at its next login."""
    return db.session.execute(delete(RememberedDevice).where(RememberedDevice.user_id == user.id)
                              .execution_options(synchronize_session=False)).rowcount


# --- The org requirement -------------------------------------------------------------------------

def requirement_applies(org, role):
    return Role(role) in REQUIRED_ROLES[TwoFactorRequirement(org.two_factor_required)]


def page_access_needs_two_factor(user, membership, signed_in_by_sso):
    """True when this member must set up two-factor before opening the org's pages. A login through
    the org's own IdP is exempt: the IdP decides how people prove who they are. signed_in_by_sso is a
    callable, asked only when the requirement applies (it costs a query on every org page otherwise)."""
    if not requirement_applies(membership.org, membership.role):
        return False
    return not signed_in_by_sso() and not has_two_factor(user.id)


def members_without_two_factor(org, requirement):
    """The members a requirement would affect today: (role, user) of those lacking a second factor."""
    from models import Membership
    roles = REQUIRED_ROLES[TwoFactorRequirement(requirement)]
    rows = db.session.execute(select(Membership.role, User).join(User, User.id == Membership.user_id)
                              .where(Membership.org_id == org.id)).all()
    enabled = users_with_two_factor([u.id for _, u in rows])
    return [(role, u) for role, u in rows if Role(role) in roles and u.id not in enabled]


def clean_requirement(value):
    try:
        return TwoFactorRequirement(value)
    except ValueError:
        raise ServiceError("Choose who must use two-factor authentication.", field="requirement") from None


def set_requirement(org, requirement, actor):
    """Change who in org must have two-factor. A trust change (services/trust.py): audited, and every
    owner (and admin) gets a security notice. Returns whether anything changed."""

    requirement = clean_requirement(requirement)
    previous = TwoFactorRequirement(org.two_factor_required)
    if requirement == previous:
        return False
    if requirement != TwoFactorRequirement.off and actor.user_id is not None and not has_two_factor(actor.user_id):
        # Owners are covered by every requirement: without a factor the change would lock its maker out
        # of the page they are on (GitHub asks the same of an org owner).
        raise ServiceError("Turn on two-factor authentication for your own account first.", field="requirement")
    org.two_factor_required = requirement
    db.session.flush()
    lacking = len(members_without_two_factor(org, requirement))
    summary = f"Two-factor authentication: {REQUIREMENT_LABELS[requirement].lower()} (was {REQUIREMENT_LABELS[previous].lower()})."
    if lacking:
        summary += f" {lacking} member{'' if lacking == 1 else 's'} without it will be asked to set it up."
    record_trust_change(org, actor=actor, action="org.two_factor_requirement_changed", summary=summary,
                        targets=[target("org", org.id, org.name)],
                        data={"requirement": requirement.value, "previous_requirement": previous.value,
                              "members_without_two_factor": lacking})
    return True
