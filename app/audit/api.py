"""The audit log in the JSON API."""
from __future__ import annotations

from flask_login import current_user, login_required
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.accounts.scope import ADMIN_ROLES, require_role
from app.api.schemas import DbId, PageArgs, page_body
from app.audit.services import list_events

blp = Blueprint("audit_api", __name__, description="审计日志 Audit log")


class AuditArgs(PageArgs):
    action = fields.String()
    actor_id = DbId()
    target_type = fields.String()
    target_id = DbId()
    since = fields.DateTime()
    until = fields.DateTime()


class AuditOut(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String(allow_none=True)
    action = fields.String()
    target_type = fields.String(allow_none=True)
    target_id = fields.Integer(allow_none=True)
    target_label = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    details = fields.Dict()


class AuditList(Schema):
    items = fields.List(fields.Nested(AuditOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


@blp.route("/audit-events", methods=["GET"])
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditList)
@blp.doc(operationId="listAuditEvents")
@login_required
def list_audit_events(args):
    """审计日志 Administrative actions in the caller's subtree, newest first."""
    require_role(current_user, *ADMIN_ROLES)
    page = list_events(current_user.unit.path, **args)
    return page_body(page, page.items)
