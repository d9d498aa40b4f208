import uuid
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import CreatedAt, UTCDateTime, UUIDPrimaryKey


class User(UUIDPrimaryKey, CreatedAt, UserMixin, db.Model):
    __tablename__ = "users"

    # Stored lower-cased: emails are unique regardless of case.
    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    # NULL for users who only ever sign in through SSO.
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Bumped to end every session of this user at once (logout everywhere, password change, SCIM
    # deactivation). It is part of the Flask-Login id, so an old cookie no longer loads the user.
    session_epoch: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    is_deactivated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The org whose SSO just-in-time provisioning or SCIM created this account, which makes the account
    # *managed* by that org (DESIGN.md section 7): its SCIM may change the name and email, and its
    # deactivation ends sessions everywhere. NULL: the account is the person's own, and no org's SSO or
    # SCIM touches anything beyond that org's membership and grants.
    managed_by_org_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="SET NULL"), nullable=True, index=True)

    def is_managed_by(self, org_id):
        return self.managed_by_org_id is not None and self.managed_by_org_id == org_id

    @property
    def is_active(self):
        return not self.is_deactivated

    def get_id(self):
        return f"{self.id}:{self.session_epoch}"

    @classmethod
    def by_email(cls, email):
        return db.session.scalar(db.select(cls).where(cls.email == normalise_email(email)))

    def __repr__(self):
        return f"<User {self.email}>"


def normalise_email(email):
    return (email or "").strip().lower()
