"""Every model, imported here so Alembic and create_all() see the whole schema."""
from models.audit import AuditEvent
from models.base import OrgScoped, parse_uuid, utcnow
from models.mail import OutboundEmail
from models.notifications import Notification, NotificationDigestItem, NotificationPreference
from models.orgs import Invitation, Membership, Organization, OrgStatus, Role
from models.users import User, normalise_email

__all__ = [
    "AuditEvent", "Invitation", "Membership", "Notification", "NotificationDigestItem", "NotificationPreference", "Organization", "OrgScoped", "OrgStatus",
    "OutboundEmail", "Role", "User", "normalise_email", "parse_uuid", "utcnow",
]
