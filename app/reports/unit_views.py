"""The unit report page (单位学习情况): filters, figures, charts with their numbers, drill-down."""
from __future__ import annotations

import math
from datetime import date

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from app.accounts.models import Role, Unit
from app.accounts.services import unit_choices
from app.catalogue.models import Category, Course, CourseState
from app.credits.labels import RANK_LABELS
from app.extensions import db
from app.reports.filters import resolve_filter
from app.reports.unit import hours, report_for
from app.web import int_arg

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.app_template_global()
def gauge_point(rate: float, cx: float = 100, cy: float = 100, r: float = 80) -> tuple[float, float]:
    """Where a half-circle gauge's arc ends for a rate 0…1 (left is 0, right is 1)."""
    angle = math.pi * (1 - max(0.0, min(1.0, rate)))
    return cx + r * math.cos(angle), cy - r * math.sin(angle)


@bp.app_template_filter()
def thousands(value) -> str:
    """12345.6 → 12,345.6 (whole numbers stay whole)."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def short_name(unit: Unit, parent: Unit, limit: int = 9) -> str:
    """A sub-unit's name for a chart label: without its parent's name in front, cut to `limit`."""
    name = unit.name[len(parent.name):] if unit.name.startswith(parent.name) and unit.name != parent.name else unit.name
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _date_arg(name: str) -> date | None:
    """A date from the query; missing or malformed is None (the default applies)."""
    try:
        return date.fromisoformat(request.args.get(name) or "")
    except ValueError:
        return None


def page_filter():
    """For staff only (resolve_filter refuses others with 403): the report filter from a page's query (unit, cadre, course,
    category, start, end); a bad date
    falls back to the default, end before start is swapped, a period over three years shortened."""
    return resolve_filter(current_user, unit_id=int_arg("unit"), user_id=int_arg("cadre"), course_id=int_arg("course"),
                          category_id=int_arg("category"), start=_date_arg("start"), end=_date_arg("end"), strict=False)


def filter_choices() -> dict:
    """What the filter forms offer: units in scope, published courses, categories."""
    return {"units": unit_choices(current_user),
            "courses": list(db.session.scalars(select(Course).where(Course.state == CourseState.PUBLISHED)
                                               .order_by(Course.title))),
            "categories": list(db.session.scalars(select(Category).order_by(Category.position)))}


def unit_crumbs(unit: Unit) -> list[Unit]:
    """The unit and its ancestors the viewer may open, root first."""
    crumbs = []
    u = unit
    while u is not None and (current_user.role == Role.ORGADMIN or u.path.startswith(current_user.unit.path)):
        crumbs.insert(0, u)
        u = u.parent
    return crumbs


@bp.get("/units")
@login_required
def unit():
    flt = page_filter()
    report = report_for(current_user, flt)
    ranking = [(short_name(s.unit, report.unit), round(100 * s.figures.qualified_rate, 1)) for s in report.sub_units]
    flagged_names = [short_name(s.unit, report.unit) for s in report.sub_units if s.figures.flagged]
    return render_template("reports/unit.html", r=report, flt=flt, q=flt.args(), ranking=ranking,
                           flagged_names=flagged_names, f=report.figures, crumbs=unit_crumbs(report.unit),
                           course_id=flt.course.id if flt.course else None,
                           category_id=flt.category.id if flt.category else None, hours=hours,
                           ranks=RANK_LABELS,
                           **filter_choices())
