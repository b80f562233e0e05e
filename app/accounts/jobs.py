"""Background jobs of the accounts domain."""
from __future__ import annotations

from app.accounts.models import RosterImport, User
from app.accounts.roster import apply_import
from app.audit.services import Origin
from app.extensions import db
from app.jobs import job


@job
def run_roster_import(import_id: int, actor_id: int, ip: str | None = None, user_agent: str | None = None):
    """Apply a started roster import, committing after each chunk so progress is visible."""
    imp = db.session.get(RosterImport, import_id)
    actor = db.session.get(User, actor_id)
    try:
        apply_import(actor, imp, origin=Origin(ip=ip, user_agent=user_agent),
                     on_progress=lambda _imp: db.session.commit())
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        imp = db.session.get(RosterImport, import_id)
        imp.state = "failed"
        imp.error_message = str(exc)[:500]
        db.session.commit()
        raise
