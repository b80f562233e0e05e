"""The trend report page (学习趋势): filters, a day/week/month switch, totals and line charts with
their numbers."""
from __future__ import annotations

import math

from flask import render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.reports.trend import GRANULARITIES, TrendReport, granularity_label, trend_report
from app.reports.unit import hours
from app.reports.unit_views import bp, filter_choices, page_filter


@bp.app_template_global()
def nice_ticks(low: float, high: float, count: int = 4, whole: bool = False) -> list[float]:
    """Gridline values for an axis holding [low, high] (0 always included): round steps of 1, 2, 2.5
    or 5 × 10ⁿ, the last at or above high (the first at or below low when low is negative); whole:
    the values are counts, so the step is a whole number."""
    low, high = min(0.0, float(low)), max(0.0, float(high))
    span = high - low
    if span <= 0:
        return [0.0, 1.0]
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(i * step, 6) for i in range(first, last + 1)]


@bp.app_template_filter()
def tick(value: float) -> str:
    """An axis label: 12,000 / 2.5 / 0."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}".rstrip("0").rstrip(".")


def _label(r: TrendReport, p) -> str:
    """A bucket's label under a chart: 03-02 (days and weeks, by their first day) or 2026-03."""
    years = r.start.year != r.end.year
    if r.granularity == "month":
        return f"{p.start.year}-{p.start.month:02d}" if years else _("%(m)d月", m=p.start.month)
    return p.start.strftime("%Y-%m-%d" if years else "%m-%d")


def _span(p) -> str:
    return p.start.isoformat() if p.start == p.end else f"{p.start.isoformat()} – {p.end.isoformat()}"


def _hover(p) -> str:
    return _span(p) + (_("(只计期间内 %(d)d 天)", d=p.days) if p.partial else "")


def _series(r: TrendReport) -> dict:
    labels = [(_label(r, p), _hover(p)) for p in r.points]

    def series(values):
        return [(label, v, span) for (label, span), v in zip(labels, values, strict=True)]
    return {"study": series([hours(p.study_seconds) for p in r.points]),
            "learners": series([p.learners for p in r.points]),
            "credits": series([p.credits for p in r.points])}


@bp.get("/trends")
@login_required
def trend():
    flt = page_filter()
    g = request.args.get("granularity")
    report = trend_report(current_user, flt, g if g in GRANULARITIES else None)
    q = flt.args()
    return render_template("reports/trend.html", r=report, flt=flt, q=q, t=report.totals, series=_series(report),
                           chosen=None if report.automatic else report.granularity,
                           granularities=[(g, granularity_label(g)) for g in GRANULARITIES],
                           course_id=flt.course.id if flt.course else None,
                           category_id=flt.category.id if flt.category and not flt.course else None,
                           first_partial=bool(report.points) and report.points[0].partial,
                           last_partial=bool(report.points) and report.points[-1].partial,
                           hours=hours, span=_span, **filter_choices())
