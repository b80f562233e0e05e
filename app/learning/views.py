"""我的学习 (My learning): a cadre's courses in progress and completed, and study time / time online."""
from __future__ import annotations

import math
from datetime import timedelta

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.catalogue.models import Course, Lesson
from app.catalogue.services import can_view_course
from app.extensions import db
from app.learning import services
from app.learning.models import CourseProgress, LessonProgress

bp = Blueprint("learning", __name__, url_prefix="/learning")

DAYS = 30


def percent(ratio: float) -> int:
    """0–1 → whole percent, as the player shows it (the API's 4-decimal value, rounded half up)."""
    return int(math.floor(round(ratio, 4) * 100 + 0.5))


def span(seconds: float) -> str:
    """Seconds of study or time online, for people: 1 小时 5 分 / 12 分 30 秒 / 45 秒."""
    s = int(round(seconds or 0))
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    if h:
        return _("%(h)d 小时 %(m)d 分", h=h, m=m)
    if m:
        return _("%(m)d 分 %(s)d 秒", m=m, s=sec)
    return _("%(s)d 秒", s=sec)


def resume_lesson(course: Course, lps: dict[int, LessonProgress]) -> Lesson | None:
    """Where to continue: the lesson studied last unless it is complete, else the first lesson not
    yet complete, else the first lesson."""
    lessons = [item for item in course.lessons if item.video]
    if not lessons:
        return None
    started = [lps[item.id] for item in lessons if item.id in lps]
    if started:
        last = max(started, key=lambda lp: lp.updated_at)
        if last.completed_at is None:
            return next(item for item in lessons if item.id == last.lesson_id)
    return next((item for item in lessons if item.id not in lps or lps[item.id].completed_at is None), lessons[0])


@bp.get("/")
@login_required
def index():
    services.require_learner(current_user)
    cps = list(db.session.scalars(select(CourseProgress).where(CourseProgress.user_id == current_user.id)))
    courses = {c.id: c for c in db.session.scalars(
        select(Course).where(Course.id.in_([cp.course_id for cp in cps]))
        .options(selectinload(Course.lessons).selectinload(Lesson.video), selectinload(Course.category)))}
    lps_by_course: dict[int, dict[int, LessonProgress]] = {}
    for lp in db.session.scalars(select(LessonProgress).where(LessonProgress.user_id == current_user.id)):
        lps_by_course.setdefault(lp.course_id, {})[lp.lesson_id] = lp
    in_progress, completed = [], []
    for cp in cps:
        course = courses[cp.course_id]
        lps = lps_by_course.get(course.id, {})
        ratio = services.course_ratio(course, lps)
        row = {"course": course, "cp": cp, "pct": percent(ratio), "lessons": len(course.lessons),
               "open": can_view_course(current_user, course), "last": cp.updated_at,
               "resume": resume_lesson(course, lps)}
        (completed if cp.completed_at else in_progress).append(row)
    in_progress.sort(key=lambda r: r["last"], reverse=True)
    completed.sort(key=lambda r: r["cp"].completed_at, reverse=True)

    today = services.local_day(services.now())
    days = services.study_time(current_user, today - timedelta(days=DAYS - 1), today)
    days.reverse()  # newest first
    top = max([d["study_seconds"] for d in days] + [d["online_seconds"] for d in days] + [1])
    return render_template("learning/index.html", in_progress=in_progress, completed=completed,
                           totals=services.study_totals(current_user, today), days=days, top=top, today=today,
                           span=span, complete_pct=percent(float(services._cfg("LEARNING_COMPLETE_RATIO"))),
                           weekdays=[_("周一"), _("周二"), _("周三"), _("周四"), _("周五"), _("周六"), _("周日")])
