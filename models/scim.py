"""SCIM 2.0 provisioning (RFC 7643/7644): per-org configuration, bearer tokens, the SCIM view of each
provisioned membership, SCIM groups with their members, and a request log for the org's IT admin.

A SCIM User is not an Orgkit account: it is the identity provider's record of one person's membership
in one org. The account (users) may belong to other orgs, so its email is never rewritten by one org's
IdP; everything the IdP says about the person is kept here, per membership.
"""
import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import CreatedAt, OrgScoped, UTCDateTime, UUIDPrimaryKey, utcnow
from models.orgs import Role


class ScimConfig(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """One row per org that ever opened its SCIM settings."""

    __tablename__ = "scim_configs"
    __table_args__ = (UniqueConstraint("org_id"),)

    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The role a provisioned person gets when none of their SCIM groups is mapped to a role.
    default_role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20), nullable=False, default=Role.member)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class ScimToken(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """A bearer token for /scim/v2. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "scim_tokens"

    # The first characters of the token (e.g. "okscim_AbC1"), so admins can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(20), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # hex SHA-256
    created_by_label: Mapped[str] = mapped_column(String(254), nullable=False)
    # The person who generated it: the token is revoked when they leave the org, are suspended or stop
    # being an owner (services/credentials.py). NULL for an operator's token (CLI) and for tokens made
    # before creators were recorded, which stay live until revoked (no IdP is cut off by an upgrade).
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Why: "revoked" (by an owner), or services.credentials.CREATOR_REASONS when it followed its creator.
    revoked_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)

    @property
    def is_live(self):
        return self.revoked_at is None


class ScimUser(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """The SCIM User resource of one membership. Its id is the SCIM id the IdP stores."""

    __tablename__ = "scim_users"
    __table_args__ = (
        # userName is unique per org, case-insensitively (RFC 7643 section 4.1.1: caseExact false).
        UniqueConstraint("org_id", "user_name_lower"),
        # Stable ordering for paged lists (RFC 7644 section 3.4.2.4).
        Index("ix_scim_users_org_created", "org_id", "created_at", "id"),
        Index("ix_scim_users_org_external_id", "org_id", "external_id"),
    )

    # NULL until the person joins: a SCIM user for someone the org may not add by itself (their own
    # account, or an address on a domain the org has not verified) waits for them to accept the emailed
    # invitation (services/scim/provisioning.py, _provision_account).
    membership_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("memberships.id", ondelete="CASCADE"), nullable=True, unique=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True)
    # The invitation emailed for this SCIM user while it waits (kept after acceptance, as history).
    invitation_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("invitations.id", ondelete="SET NULL"), nullable=True, index=True)
    user_name: Mapped[str] = mapped_column(String(254), nullable=False)
    user_name_lower: Mapped[str] = mapped_column(String(254), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # NULL: unassigned, after a PATCH removed it (RFC 7644 section 3.5.2.2); it is then not returned and
    # counts as true (the IdP no longer says the person is out).
    active: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=True)
    display_name: Mapped[str | None] = mapped_column(String(254), nullable=True)
    nick_name: Mapped[str | None] = mapped_column(String(254), nullable=True)
    profile_url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    title: Mapped[str | None] = mapped_column(String(254), nullable=True)
    user_type: Mapped[str | None] = mapped_column(String(254), nullable=True)
    preferred_language: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locale: Mapped[str | None] = mapped_column(String(64), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # name (RFC 7643 section 4.1.1)
    name_formatted: Mapped[str | None] = mapped_column(String(254), nullable=True)
    name_family_name: Mapped[str | None] = mapped_column(String(254), nullable=True)
    name_given_name: Mapped[str | None] = mapped_column(String(254), nullable=True)
    name_middle_name: Mapped[str | None] = mapped_column(String(254), nullable=True)
    name_honorific_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name_honorific_suffix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Enterprise User extension (RFC 7643 section 4.3)
    employee_number: Mapped[str | None] = mapped_column(String(254), nullable=True)
    cost_center: Mapped[str | None] = mapped_column(String(254), nullable=True)
    organization: Mapped[str | None] = mapped_column(String(254), nullable=True)
    division: Mapped[str | None] = mapped_column(String(254), nullable=True)
    department: Mapped[str | None] = mapped_column(String(254), nullable=True)
    manager_value: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # addresses are kept whole; they are returned but not filterable.
    addresses: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # Bumped on every change; the ETag is W/"<version>" (RFC 7644 section 3.14).
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    membership = relationship("Membership", lazy="select")
    values = relationship(
        "ScimUserValue", lazy="selectin", cascade="all, delete-orphan", order_by="ScimUserValue.position",
        passive_deletes=True,
    )


class ScimUserValue(UUIDPrimaryKey, OrgScoped, db.Model):
    """One item of a multi-valued attribute of a SCIM User (emails, phoneNumbers, ims, photos, roles,
    entitlements), one row each so value filters like emails[type eq "work"] run in SQL."""

    __tablename__ = "scim_user_values"
    __table_args__ = (
        Index("ix_scim_user_values_user_attr", "scim_user_id", "attribute"),
        Index("ix_scim_user_values_org_attr_value", "org_id", "attribute", "value_lower"),
    )

    scim_user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("scim_users.id", ondelete="CASCADE"), nullable=False)
    attribute: Mapped[str] = mapped_column(String(32), nullable=False)  # "emails", "phoneNumbers", ...
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    value: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    value_lower: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    is_primary: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # NULL: not said
    display: Mapped[str | None] = mapped_column(String(254), nullable=True)


class ScimGroup(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """A SCIM Group. When role is set, its members get that role in the org (the highest of their
    mapped groups wins; owner is never granted by an IdP)."""

    __tablename__ = "scim_groups"
    __table_args__ = (
        UniqueConstraint("org_id", "display_name_lower"),
        Index("ix_scim_groups_org_created", "org_id", "created_at", "id"),
    )

    display_name: Mapped[str] = mapped_column(String(254), nullable=False)
    display_name_lower: Mapped[str] = mapped_column(String(254), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(254), nullable=True)
    role: Mapped[Role | None] = mapped_column(Enum(Role, native_enum=False, length=20), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ScimGroupMember(UUIDPrimaryKey, OrgScoped, db.Model):
    __tablename__ = "scim_group_members"
    __table_args__ = (
        UniqueConstraint("group_id", "scim_user_id"),
        Index("ix_scim_group_members_user", "scim_user_id"),
    )

    group_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("scim_groups.id", ondelete="CASCADE"), nullable=False)
    scim_user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("scim_users.id", ondelete="CASCADE"), nullable=False)


class ScimRequestLog(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """One SCIM request an org's IdP made: what an IT admin needs to see why their IdP reports an
    error. Never holds the token or request bodies; summary says what changed in words."""

    __tablename__ = "scim_request_logs"
    __table_args__ = (Index("ix_scim_request_logs_org_created", "org_id", "created_at"),)

    token_prefix: Mapped[str | None] = mapped_column(String(20), nullable=True)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    path: Mapped[str] = mapped_column(String(500), nullable=False)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    summary: Mapped[str] = mapped_column(String(500), nullable=False, default="")
