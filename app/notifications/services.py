"""Sending and reading in-site notifications."""
from __future__ import annotations

from sqlalchemy import func, select, update

from flask_babel import gettext as _

from app.db import utcnow
from app.errors import NotFound
from app.extensions import db
from app.notifications.models import Notification


def notify(user_id: int, message: str, link: str | None = None) -> Notification:
    """Leave a message for a user; it is shown with the unread count in the page header."""
    n = Notification(user_id=user_id, message=message[:500], link=link)
    db.session.add(n)
    db.session.flush()
    return n


def get_own(user_id: int, notification_id: int) -> Notification:
    """One of the user's notifications (another user's is not found)."""
    n = db.session.get(Notification, notification_id)
    if n is None or n.user_id != user_id:
        raise NotFound(_("通知不存在"))
    return n


def unread_count(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def list_notifications(user_id: int, *, page: int = 1, per_page: int = 30):
    q = select(Notification).where(Notification.user_id == user_id).order_by(Notification.id.desc())
    return db.paginate(q, page=page, per_page=per_page, error_out=False)


def mark_read(user_id: int, notification_id: int | None = None) -> int:
    """Mark one notification (or all of them) read; only the user's own."""
    q = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if notification_id is not None:
        q = q.where(Notification.id == notification_id)
    return db.session.execute(q.values(read_at=utcnow())).rowcount
