"""Notification jobs: the daily digest email of one user."""
from datetime import datetime

from extensions import db
from services import notifications


def send_notification_digest(user_id, cutoff_iso):
    """Email user_id one digest of the items waiting from before cutoff. Safe to run twice: the items
    are marked digested in the transaction that queues the email, so a second run finds none."""
    notifications.send_digest(user_id, datetime.fromisoformat(cutoff_iso))
    db.session.commit()
