"""Recording and reading audit events."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db


@dataclass(frozen=True)
class Origin:
    """Where an action came from: the client address and agent (or 'cli')."""

    ip: str | None = None
    user_agent: str | None = None


CLI = Origin(ip=None, user_agent="cli")


def record_event(actor, action: str, *, target=None, target_type: str | None = None,
                 target_label: str | None = None, unit=None, origin: Origin = CLI,
                 **details) -> AuditEvent:
    """Append an audit event; personal ID numbers must never be passed in details."""
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "name", None),
        action=action,
        target_type=target_type or (type(target).__name__.lower() if target is not None else None),
        target_id=getattr(target, "id", None) if target is not None else None,
        target_label=target_label,
        unit_path=unit.path if unit is not None else None,
        ip=origin.ip,
        user_agent=(origin.user_agent or "")[:255] or None,
        details=details,
    )
    db.session.add(event)
    db.session.flush()
    return event


def list_events(scope_path: str, *, action: str | None = None, actor_id: int | None = None,
                target_type: str | None = None, target_id: int | None = None,
                since: datetime | None = None, until: datetime | None = None,
                page: int = 1, per_page: int = 50):
    """Events in a unit subtree (the city root sees events with no unit too), newest first."""
    q = select(AuditEvent)
    if scope_path.count("/") > 2:  # not the city root
        q = q.where(AuditEvent.unit_path.startswith(scope_path))
    if action:
        q = q.where(AuditEvent.action.startswith(action))
    if actor_id:
        q = q.where(AuditEvent.actor_id == actor_id)
    if target_type:
        q = q.where(AuditEvent.target_type == target_type)
    if target_id:
        q = q.where(AuditEvent.target_id == target_id)
    if since:
        q = q.where(AuditEvent.at >= since)
    if until:
        q = q.where(AuditEvent.at < until)
    return db.paginate(q.order_by(AuditEvent.id.desc()), page=page, per_page=per_page,
                       error_out=False, max_per_page=500)
