"""Home pages per role and the language switch."""
from __future__ import annotations

from datetime import date

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
        # Credits arrive with the credits domain; until then the requirement is shown against 0.
        return render_template("main/home_cadre.html", year=date.today().year, earned=0, required=60)
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
    return {"ok": True}
