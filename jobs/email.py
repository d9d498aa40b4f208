import logging
import smtplib

from extensions import db
from models import OutboundEmail, parse_uuid, utcnow
from services import accounts, mail

log = logging.getLogger("orgkit.jobs.email")


def deliver_email(email_id):
    """Send one queued email. On SMTP failure the retry time is committed and the sweeper resends."""
    email = db.session.get(OutboundEmail, parse_uuid(email_id), with_for_update=True)
    if email is None or email.status != "pending":
        return  # already sent by an earlier run of this job, or gone
    if email.next_attempt_at is None or email.next_attempt_at > utcnow():
        # A second copy of the job (the one enqueued at commit and the sweeper's) after a failed
        # attempt: the backoff stands, and the sweeper enqueues it again when it is due.
        return
    try:
        mail.send_now(email)
    except (OSError, smtplib.SMTPException):
        db.session.commit()  # keep attempts and next_attempt_at; the sweeper tries again when due
        log.warning("email %s not sent (attempt %s): %s", email.id, email.attempts, email.last_error)
        return
    db.session.commit()


# --- The account emails a public form asks for ------------------------------------------------------
# The sign-up and forgot-password forms only enqueue these, so a request does the same work whether or
# not an account exists; the look-up, and the choice of email, happen here.

def email_sign_up_link(email, next_path=None):
    accounts.email_sign_up_link(email, next_path)
    db.session.commit()


def email_password_reset(email):
    accounts.email_password_reset(email)
    db.session.commit()
