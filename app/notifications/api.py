"""In-site notifications in the JSON API: the caller's messages with the unread count, and marking
them read (only one's own)."""
from __future__ import annotations

from flask_login import current_user, login_required
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.schemas import DbId, PageArgs
from app.db import commit
from app.notifications import services

blp = Blueprint("notifications_api", __name__, description="通知 In-site notifications")

MAX_IDS = 500


class NotificationOut(Schema):
    id = fields.Integer()
    message = fields.String()
    link = fields.String(allow_none=True, metadata={"description": "a path on this site, if any"})
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    read = fields.Boolean()


class NotificationList(Schema):
    items = fields.List(fields.Nested(NotificationOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    unread = fields.Integer(metadata={"description": "the caller's unread notifications, all pages"})


class NotificationsReadArgs(Schema):
    ids = fields.List(DbId(), load_default=None, validate=validate.Length(max=MAX_IDS),
                      metadata={"description": "the notifications to mark read; omitted: all of them"})


class NotificationsReadOut(Schema):
    marked = fields.Integer(metadata={"description": "how many were unread and are now read"})
    unread = fields.Integer()


def notification_dict(n) -> dict:
    return {"id": n.id, "message": n.message, "link": n.link, "created_at": n.created_at, "read_at": n.read_at,
            "read": n.read_at is not None}


@blp.route("/notifications", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, NotificationList)
@blp.doc(operationId="listNotifications")
@login_required
def list_notifications(args):
    """通知 The caller's notifications, newest first, and how many are unread."""
    page = services.list_notifications(current_user.id, page=args["page"], per_page=args["per_page"])
    return {"items": [notification_dict(n) for n in page.items], "total": page.total, "page": page.page,
            "per_page": page.per_page, "unread": services.unread_count(current_user.id)}


@blp.route("/notifications/read", methods=["POST"])
@blp.arguments(NotificationsReadArgs)
@blp.response(200, NotificationsReadOut)
@blp.doc(operationId="markNotificationsRead")
@login_required
def mark_notifications_read(args):
    """标为已读 Mark the given notifications of the caller read (others' ids change nothing), or all."""
    ids = args.get("ids")
    if ids is None:
        marked = services.mark_read(current_user.id)
    else:
        marked = sum(services.mark_read(current_user.id, i) for i in dict.fromkeys(ids))
    commit()
    return {"marked": marked, "unread": services.unread_count(current_user.id)}
