"""Email: queue_email() writes an outbox row and enqueues its delivery after the commit.

Bodies are rendered from templates/email/<name>.txt (and .html when present), so every email has a
plain-text part. Without SMTP_HOST configured, delivery writes the email to the log with its links,
so a local user can still follow an invitation or reset link.
"""
import logging
import smtplib
import unicodedata
from datetime import timedelta
from email.message import EmailMessage

from flask import current_app
from jinja2 import TemplateNotFound

from extensions import db, enqueue_after_commit
from models import OutboundEmail, utcnow

log = logging.getLogger("orgkit.mail")

# Seconds to wait before each retry when the SMTP server is down; then the email is failed.
RETRY_DELAYS = (30, 120, 600, 1800, 3600, 3 * 3600)


def queue_email(to, subject, template, headers=None, **context):
    """Render templates/email/<template>.txt/.html with context, store the email, send after commit."""
    env = current_app.jinja_env
    context.setdefault("base_url", current_app.config["PUBLIC_BASE_URL"].rstrip("/"))
    text_body = env.get_template(f"email/{template}.txt").render(**context)
    try:
        html_body = env.get_template(f"email/{template}.html").render(**context)
    except TemplateNotFound:
        html_body = None
    # A header is one line: a line break (from a name written before names were checked, or from an
    # IdP) would make the message unsendable, retried forever. Any control character becomes a space.
    subject = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in subject)
    email = OutboundEmail(
        to_address=to, subject=subject, text_body=text_body, html_body=html_body,
        headers=headers or {}, status="pending", next_attempt_at=utcnow(),
    )
    db.session.add(email)
    db.session.flush()
    enqueue_after_commit("email", "jobs.email.deliver_email", str(email.id), job_id=f"email-{email.id}-{email.attempts}")
    return email


def build_message(email):
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Message-ID"] = f"<{email.id}@orgkit>"
    for name, value in (email.headers or {}).items():
        message[name] = value
    message.set_content(email.text_body)
    if email.html_body:
        message.add_alternative(email.html_body, subtype="html")
    return message


def send_now(email):
    """Send one outbox row. Raises on SMTP failure after recording when to try again."""
    config = current_app.config
    if email.status == "sent":
        return
    email.attempts += 1
    if not config["SMTP_HOST"]:
        log.info("email (no SMTP_HOST set, logged instead)\nTo: %s\nSubject: %s\n\n%s",
                 email.to_address, email.subject, email.text_body)
        _mark_sent(email)
        return
    try:
        with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=15) as smtp:
            if config["SMTP_STARTTLS"]:
                smtp.starttls()
            if config["SMTP_USERNAME"]:
                smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            smtp.send_message(build_message(email))
    except (OSError, smtplib.SMTPException) as exc:
        email.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if email.attempts > len(RETRY_DELAYS):
            email.status = "failed"
            email.next_attempt_at = None
        else:
            email.next_attempt_at = utcnow() + timedelta(seconds=RETRY_DELAYS[email.attempts - 1])
        raise
    _mark_sent(email)


def _mark_sent(email):
    email.status = "sent"
    email.sent_at = utcnow()
    email.next_attempt_at = None
    email.last_error = None


def due_emails(now=None, limit=500):
    now = now or utcnow()
    return db.session.scalars(
        db.select(OutboundEmail.id)
        .where(OutboundEmail.status == "pending", OutboundEmail.next_attempt_at <= now)
        .order_by(OutboundEmail.next_attempt_at)
        .limit(limit)
    ).all()
