"""Setup links (issue 18): a bearer link an owner gives their IT admin, who then configures the org's
single sign-on, SCIM provisioning or domain verification without an Orgkit account."""
import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import CreatedAt, OrgScoped, UTCDateTime, UUIDPrimaryKey

SCOPES = ("domains", "sso", "scim")  # in the order an IT admin best does them


class SetupLink(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """One setup link. Only the SHA-256 of its token is kept; the link is shown once."""

    __tablename__ = "setup_links"
    __table_args__ = (Index("ix_setup_links_org_created", "org_id", "created_at"),)

    # The first characters of the token (e.g. "oksetup_AbC1"): how owners and the audit log name it.
    prefix: Mapped[str] = mapped_column(String(20), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # hex SHA-256
    scopes: Mapped[list] = mapped_column(JSON, nullable=False)  # a subset of SCOPES
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_by_label: Mapped[str] = mapped_column(String(254), nullable=False)
    # Set when the link was emailed: opening it then also needs a one-time code sent to this address.
    sent_to: Mapped[str | None] = mapped_column(String(254), nullable=True)
    code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the pending code's SHA-256
    code_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    code_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by_label: Mapped[str | None] = mapped_column(String(254), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The identity provider the IT admin chose (services/setup_links.PROVIDERS), for its own steps.
    provider: Mapped[str | None] = mapped_column(String(30), nullable=True)
    # The SSO connection being prepared: saved to the org only after a test login passes with it.
    sso_draft: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # Parts finished through this link: {"sso": iso time, "scim": ..., "domains": ...}.
    done: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)

    def state(self, now):
        if self.revoked_at is not None:
            return "revoked"
        if self.completed_at is not None:
            return "completed"
        if self.expires_at <= now:
            return "expired"
        return "live"
