"""Every model, imported here so Alembic and create_all() see the whole schema."""
from models.api_keys import ApiIdempotencyRecord, ApiKey
from models.audit import AuditEvent
from models.base import OrgScoped, parse_uuid, utcnow
from models.mail import OutboundEmail
from models.notifications import Notification, NotificationDigestItem, NotificationPreference
from models.orgs import Invitation, InviteLink, Membership, Organization, OrgStatus, Role, TwoFactorRequirement
from models.setup_links import SetupLink
from models.sessions import SessionSsoGrant, UserSession
from models.scim import ScimConfig, ScimGroup, ScimGroupMember, ScimRequestLog, ScimToken, ScimUser, ScimUserValue
from models.sso import (SsoAssertionReplay, SsoCertificate, SsoConnection, SsoDomain, SsoGroupMapping,
                        SsoIdentity, SsoLoginAttempt, SsoPendingLogin, SsoRequestState)
from models.twofactor import Passkey, RecoveryCode, RememberedDevice, TotpFactor
from models.users import User, normalise_email
from models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

__all__ = [
    "ApiIdempotencyRecord", "ApiKey", "AuditEvent", "Invitation", "InviteLink", "Membership", "Notification", "NotificationDigestItem", "NotificationPreference", "Organization", "OrgScoped", "OrgStatus",
    "OutboundEmail", "Role",
    "ScimConfig", "SessionSsoGrant", "UserSession", "ScimGroup", "ScimGroupMember", "ScimRequestLog", "ScimToken", "ScimUser", "ScimUserValue",
    "SetupLink",
    "SsoAssertionReplay", "SsoCertificate", "SsoConnection", "SsoDomain", "SsoGroupMapping", "SsoIdentity",
    "SsoLoginAttempt", "SsoPendingLogin", "SsoRequestState",
    "Passkey", "RecoveryCode", "RememberedDevice", "TotpFactor", "TwoFactorRequirement",
    "User", "normalise_email", "parse_uuid", "utcnow",
    "WebhookAttempt", "WebhookDelivery", "WebhookEndpoint", "WebhookMessage",
]
