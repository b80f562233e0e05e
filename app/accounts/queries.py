"""Read-only counts for the account pages (one grouped query, not one per unit)."""
from __future__ import annotations

from sqlalchemy import func, select

from app.accounts.models import CardState, Role, StudyCard, Unit, User
from app.extensions import db


def unit_counts(units: list[Unit]) -> dict[int, dict]:
    """Per unit (including its subtree): cadres, cadres with an active card."""
    if not units:
        return {}
    active = (select(StudyCard.user_id).where(StudyCard.state == CardState.ACTIVE)).subquery()
    rows = db.session.execute(
        select(Unit.path, func.count(User.id), func.count(active.c.user_id))
        .join(User, User.unit_id == Unit.id)
        .outerjoin(active, active.c.user_id == User.id)
        .where(User.role == Role.CADRE)
        .group_by(Unit.path)
    ).all()
    out = {u.id: {"cadres": 0, "carded": 0} for u in units}
    for path, n, carded in rows:
        ids = [int(x) for x in path.strip("/").split("/")]
        for uid in ids:
            if uid in out:
                out[uid]["cadres"] += n
                out[uid]["carded"] += carded
    return out

