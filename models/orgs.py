import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, String, UniqueConstraint, Uuid, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import CreatedAt, OrgScoped, UTCDateTime, UUIDPrimaryKey


class OrgStatus(str, enum.Enum):
    active = "active"
    suspended = "suspended"  # read-only: every change is refused, a banner says why


class TwoFactorRequirement(str, enum.Enum):
    """Who must have a second factor to open an org's pages after a password login (SSO is exempt)."""
    off = "off"
    admins = "admins"      # owners and admins
    everyone = "everyone"


class Role(str, enum.Enum):
    owner = "owner"
    admin = "admin"
    member = "member"
    viewer = "viewer"


class Organization(UUIDPrimaryKey, CreatedAt, db.Model):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    slug: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    status: Mapped[OrgStatus] = mapped_column(
        Enum(OrgStatus, native_enum=False, length=20), nullable=False, default=OrgStatus.active
    )
    two_factor_required: Mapped[TwoFactorRequirement] = mapped_column(
        Enum(TwoFactorRequirement, native_enum=False, length=20), nullable=False,
        default=TwoFactorRequirement.off, server_default=TwoFactorRequirement.off.value,
    )

    @property
    def is_suspended(self):
        return self.status == OrgStatus.suspended

    @classmethod
    def by_slug(cls, slug):
        return db.session.scalar(select(cls).where(cls.slug == slug))

    def __repr__(self):
        return f"<Organization {self.slug}>"


class Membership(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("org_id", "user_id"),
        # An org's admins and owners (who an event notifies, who may not be left without an owner)
        # without reading every membership: 2.4 ms on an org of 10,000, twice per SCIM create (issue 17).
        Index("ix_memberships_org_role", "org_id", "role"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20), nullable=False)
    # Set when the org's identity provider (SCIM) or an admin suspends this person's access to this org
    # only; the account and its other workspaces are untouched. NULL = active.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user = relationship("User", lazy="joined", innerjoin=True)
    org = relationship("Organization", lazy="joined", innerjoin=True)


    @property
    def is_active(self):
        return self.deactivated_at is None


class Invitation(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """An emailed invitation. Its link carries a signed token naming this row; accepting or revoking
    sets a timestamp, so a link works once."""

    __tablename__ = "invitations"
    __table_args__ = (
        # One pending invitation per (org, email); accepted and revoked ones may repeat.
        Index(
            "uq_invitations_pending_email", "org_id", "email", unique=True,
            postgresql_where=db.text("accepted_at IS NULL AND revoked_at IS NULL"),
            sqlite_where=db.text("accepted_at IS NULL AND revoked_at IS NULL"),
        ),
    )

    email: Mapped[str] = mapped_column(String(254), nullable=False)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20), nullable=False)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # SHA-256 (hex) of the random token in the emailed link; the token itself is never stored, so a
    # database leak yields no working link. Resending replaces it (the previous link stops working).
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # Set when the person asked for this invitation themselves through the org's shareable invite
    # link (invited_by is then NULL): it confirms they own the address before they join.
    invite_link_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("invite_links.id", ondelete="SET NULL"), nullable=True
    )
    accepted_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)

    invited_by = relationship("User", lazy="joined", foreign_keys=[invited_by_id])
    org = relationship("Organization", lazy="joined", innerjoin=True)

    @property
    def is_pending(self):
        return self.accepted_at is None and self.revoked_at is None

    def is_expired(self, now):
        return self.expires_at <= now


class InviteLink(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """An org's shareable invite link (at most one per org). Anyone holding it whose email address is in
    allowed_domains may ask to join with role; the URL is signed with SECRET_KEY over (id, nonce), so
    regenerating the nonce makes every earlier copy of the link stop working."""

    __tablename__ = "invite_links"
    __table_args__ = (UniqueConstraint("org_id", name="uq_invite_links_org_id"),)

    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20), nullable=False, default=Role.member)
    # Lower-case domains, e.g. ["example.com"]; an address joins only when its domain is listed exactly.
    allowed_domains: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    # Random; part of the signed URL. Regenerating it revokes every copy of the old link.
    nonce: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)

    org = relationship("Organization", lazy="joined", innerjoin=True)
