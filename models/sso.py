"""SAML single sign-on: one connection per org, its IdP certificates, group-to-role mappings, claimed
email domains, linked identities, the login log, pending request state and the assertion replay cache."""
import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flask import abort

from extensions import db
from models.base import CreatedAt, OrgScoped, UTCDateTime, UUIDPrimaryKey, parse_uuid
from models.orgs import Role


class SsoConnection(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """The org's identity provider and what its logins may do (at most one per org)."""

    __tablename__ = "sso_connections"
    __table_args__ = (UniqueConstraint("org_id", name="uq_sso_connections_org_id"),)

    idp_entity_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    idp_sso_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    # The IdP asked (WantAuthnRequestsSigned) for signed AuthnRequests.
    sign_authn_requests: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    metadata_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    metadata_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The last fetch of metadata_url, whether it worked or not: when the next scheduled refresh is due.
    metadata_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    metadata_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    default_role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20), nullable=False, default=Role.member)
    allow_idp_initiated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    require_sso: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Attribute names read from assertions; empty means "the usual names" (services/sso/saml.py).
    email_attribute: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    groups_attribute: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    last_test_succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The SP's own key pair (signing AuthnRequests): the key encrypted at rest (services/crypto.py).
    sp_private_key_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    sp_certificate: Mapped[str] = mapped_column(Text, nullable=False)
    # Bumped on every change that affects validation: the key of the per-process settings cache.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # Loaded when used: the ACS reads both from a per-version cache (services/sso/saml.py) instead.
    certificates = relationship("SsoCertificate", lazy="select", order_by="SsoCertificate.created_at",
                                cascade="all, delete-orphan", back_populates="connection")
    group_mappings = relationship("SsoGroupMapping", lazy="select", order_by="SsoGroupMapping.position",
                                  cascade="all, delete-orphan", back_populates="connection")

    @property
    def is_configured(self):
        return bool(self.idp_entity_id and self.idp_sso_url and self.certificates)


class SsoCertificate(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """An IdP signing certificate; several at once during a rollover. The certificate itself is pinned,
    not a fingerprint (python3-saml verifies against it)."""

    __tablename__ = "sso_certificates"
    __table_args__ = (UniqueConstraint("connection_id", "fingerprint_sha256"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("sso_connections.id", ondelete="CASCADE"), nullable=False)
    pem: Mapped[str] = mapped_column(Text, nullable=False)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    subject: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    not_after: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Set once sso.certificate_expiring was emitted for it, so owners are told once.
    expiry_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    connection = relationship("SsoConnection", back_populates="certificates")


class SsoGroupMapping(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """An IdP group that gives a role; the first matching mapping by position wins."""

    __tablename__ = "sso_group_mappings"
    __table_args__ = (UniqueConstraint("connection_id", "group_name"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("sso_connections.id", ondelete="CASCADE"), nullable=False)
    group_name: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    connection = relationship("SsoConnection", back_populates="group_mappings")


class SsoDomain(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """An email domain the org claims, verified by a DNS TXT record holding verification_token."""

    __tablename__ = "sso_domains"
    __table_args__ = (
        UniqueConstraint("org_id", "domain"),
        Index("ix_sso_domains_domain", "domain"),
        Index("ix_sso_domains_next_check", "verified_at", "next_check_at"),
    )

    domain: Mapped[str] = mapped_column(String(253), nullable=False)
    verification_token: Mapped[str] = mapped_column(String(64), nullable=False)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verified_by: Mapped[str | None] = mapped_column(String(20), nullable=True)  # dns or operator
    check_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # NULL: no check scheduled
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)

    @property
    def is_verified(self):
        return self.verified_at is not None


class SsoIdentity(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """A person as the org's IdP knows them: keyed by (org, NameID), linked to one user."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("org_id", "name_id"),)

    name_id: Mapped[str] = mapped_column(String(512), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    groups: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # as of the last login

    user = relationship("User", lazy="joined", innerjoin=True)


class SsoLoginAttempt(UUIDPrimaryKey, CreatedAt, db.Model):
    """One response (or login start) seen at the ACS: the SSO log. org_id is NULL when the URL named no
    known org (kept for operators; no org sees it). Never holds the response itself or any secret."""

    __tablename__ = "sso_login_attempts"
    __table_args__ = (
        Index("ix_sso_login_attempts_org_created", "org_id", "created_at"),
        Index("ix_sso_login_attempts_created", "created_at"),  # retention prunes by age
    )

    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)  # succeeded, refused
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    initiated_by: Mapped[str] = mapped_column(String(10), nullable=False, default="sp")  # sp, idp, test
    name_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    # Decoded attributes, kept for test logins only (the admin asked to see them).
    attributes: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)

    @classmethod
    def for_org(cls, org_id):
        return db.select(cls).where(cls.org_id == org_id)

    @classmethod
    def get_for_org_or_404(cls, org_id, attempt_id):
        attempt_id = parse_uuid(attempt_id)
        row = db.session.scalar(cls.for_org(org_id).where(cls.id == attempt_id)) if attempt_id else None
        if row is None:
            abort(404)
        return row

    @property
    def succeeded(self):
        return self.outcome == "succeeded"


class SsoRequestState(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """What an SP-initiated login needs back at the ACS. The IdP's answer is a cross-site POST, so the
    SameSite=Lax session cookie does not come with it: the state lives here, under the SHA-256 of a
    one-time key carried in RelayState, and is consumed once."""

    __tablename__ = "sso_request_states"
    __table_args__ = (Index("ix_sso_request_states_created", "created_at"),)

    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    request_id: Mapped[str] = mapped_column(String(100), nullable=False)
    return_path: Mapped[str] = mapped_column(String(2048), nullable=False, default="")
    is_test: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # SHA-256 of the nonce cookie of the browser that started this login: only that browser may finish
    # it (login CSRF, issue 13 item 6). NULL for test logins, which sign nobody in.
    browser_nonce_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SsoPendingLogin(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """A response the ACS validated, waiting for the browser to finish it on a same-site GET (where its
    cookies come along): the nonce check, the question before replacing a different signed-in person,
    and the person's consent before an existing account is linked. Keyed by the SHA-256 of a one-time
    key; consumed once."""

    __tablename__ = "sso_pending_logins"
    __table_args__ = (Index("ix_sso_pending_logins_created", "created_at"),)

    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # The SP-initiated login it answers (its browser nonce); NULL for an IdP-initiated response.
    request_state_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("sso_request_states.id", ondelete="CASCADE"), nullable=True)
    initiated_by: Mapped[str] = mapped_column(String(10), nullable=False)  # sp, idp
    # What the assertion said: name_id, email, name, groups, groups_unknown (never the response itself).
    identity: Mapped[dict] = mapped_column(JSON, nullable=False)
    return_path: Mapped[str] = mapped_column(String(2048), nullable=False, default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SsoAssertionReplay(UUIDPrimaryKey, CreatedAt, db.Model):
    """Assertion ids already accepted, kept until the assertion expires, so none is accepted twice."""

    __tablename__ = "sso_assertion_replays"
    __table_args__ = (UniqueConstraint("org_id", "assertion_id"), Index("ix_sso_assertion_replays_created", "created_at"))

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    assertion_id: Mapped[str] = mapped_column(String(255), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
