"""The course report page (课程学习情况): filters, figures, charts with their numbers, drill-down to a
course or a sub-unit, downloads of the same numbers."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required

from app.reports.course import COURSE_CHART_TOP, course_report
from app.reports.unit import hours
from app.reports.unit_views import bp, filter_choices, page_filter, short_name, unit_crumbs


def short_title(title: str, limit: int = 9) -> str:
    """A course title for a chart label, cut to `limit` characters."""
    return title if len(title) <= limit else title[: limit - 1] + "…"


@bp.get("/courses")
@login_required
def course():
    flt = page_filter()
    r = course_report(current_user, flt)
    if r.course is not None:  # one course: its completion rate per sub-unit
        completion_chart = sorted(((short_name(s.unit, r.unit), round(100 * s.figures.completion_rate, 1))
                                   for s in r.sub_units if s.figures.enrolments), key=lambda x: -x[1])
    else:
        top = [c for c in r.courses if c.figures.enrolments][:COURSE_CHART_TOP]
        completion_chart = [(short_title(c.course.title), round(100 * c.figures.completion_rate, 1)) for c in top]
    pass_chart = sorted(((short_name(s.unit, r.unit), round(100 * s.figures.pass_rate, 1))
                         for s in r.sub_units if s.figures.exam_takers), key=lambda x: -x[1])
    q = flt.args()
    return render_template("reports/course.html", r=r, f=r.figures, flt=flt, q=q,
                           completion_chart=completion_chart, pass_chart=pass_chart, chart_top=COURSE_CHART_TOP,
                           crumbs=unit_crumbs(r.unit), course_id=q.get("course"), category_id=q.get("category"),
                           hours=hours, **filter_choices())
