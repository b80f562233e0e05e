"""Home pages per role and the language switch."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from app.accounts.models import Role
from app.accounts.queries import unit_counts
from app.accounts.services import units_in_scope

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def home():
    if current_user.role == Role.CADRE:
        from app.credits import services as credits

        year = credits.today().year  # the platform's local year, as on 我的学分
        result = credits.assess_cadre(current_user, current_user, year).result
        return render_template("main/home_cadre.html", year=year, earned=result.total, required=result.requirement)
    units = units_in_scope(current_user)
    counts = unit_counts(units)
    top = [u for u in units if u.parent_id == current_user.unit_id or u.id == current_user.unit_id]
    return render_template("main/home_staff.html", units=top, counts=counts, root=current_user.unit)


@bp.get("/locale/<code>")
def set_locale(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
    target = request.referrer or url_for("main.home")
    if not target.startswith(request.host_url):
        target = url_for("main.home")
    return redirect(target)


@bp.get("/healthz")
def healthz():
    """Liveness: the web process answers (no database, no queue: cheap enough to poll often)."""
    return {"ok": True}


@bp.get("/readyz")
def readyz():
    """Readiness: the database answers and so does the job queue's store. 503 with Retry-After when
    either does not, so that a load balancer takes this instance out until they are back."""
    from sqlalchemy import text

    from app.extensions import db
    from app.jobs import huey

    checks = {}
    try:
        with db.engine.connect() as conn:  # a connection of its own: the request's session is untouched
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason is reported
        current_app.logger.warning("readyz: database: %s", exc)
        checks["database"] = "unavailable"
    try:
        huey.storage.queue_size()
        checks["queue"] = "ok"
    except Exception as exc:  # noqa: BLE001
        current_app.logger.warning("readyz: queue: %s", exc)
        checks["queue"] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    return {"ok": ok, **checks}, (200 if ok else 503), ({} if ok else {"Retry-After": "5"})
