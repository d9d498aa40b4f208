"""Server-side sessions: what a browser's login is, and for which orgs it was authenticated.

The Flask session cookie carries only the id of a UserSession (in Flask-Login's user id, so the
remember-me cookie carries it too). Ending the record (logout, logout everywhere, a password reset)
signs out every copy of the cookie, wherever it is (services/sessions.py).
"""
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import CreatedAt, UTCDateTime, UUIDPrimaryKey


class UserSession(UUIDPrimaryKey, CreatedAt, db.Model):
    """One login in one browser. Grants: a password grant (password_method set) and SSO grants per org."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_ended", "user_id", "ended_at"),
                      Index("ix_user_sessions_expires", "expires_at"))

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    # "password" (a password login, sign-up, invitation acceptance) or "break_glass" (an owner's password
    # login under Require SSO); NULL when only IdPs signed this session in.
    password_method: Mapped[str | None] = mapped_column(String(20), nullable=True)
    password_granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    remember: Mapped[bool] = mapped_column(default=False, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(255), nullable=True)

    sso_grants = relationship("SessionSsoGrant", lazy="select", cascade="all, delete-orphan",
                              back_populates="session")


class SessionSsoGrant(UUIDPrimaryKey, CreatedAt, db.Model):
    """Org org_id's IdP signed this session's user in: the session may open that org (and only that
    org) on the strength of it. Deleted when the person loses, or is suspended from, that membership,
    or unlinks that org's identity."""

    __tablename__ = "session_sso_grants"
    __table_args__ = (UniqueConstraint("session_id", "org_id"),
                      Index("ix_session_sso_grants_org_user", "org_id", "user_id"))

    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_sessions.id", ondelete="CASCADE"),
                                                  nullable=False)
    # Denormalised from the session so "end A's grants of this user" is one statement under the org wall.
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"),
                                              nullable=False)

    session = relationship("UserSession", back_populates="sso_grants")
