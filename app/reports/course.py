"""The course report (课程学习情况): for a unit subtree and a period, per course, how many cadres
started it and completed it, their study time, the exam (attempts, pass rate, average score) and
the papers handed in; and the same figures per direct sub-unit, for the chosen course or for all
the report's courses together. Read-only; every figure comes from one aggregate query grouped by
course and unit, rolled up the unit tree in memory (as the unit report does).

Who counts: active cadres of the subtree (or the one chosen cadre), by the unit they belong to now.
Which courses: every course with activity of theirs in the period; the chosen course always; with a
category, its courses only, its published ones listed even when idle.

When things happen: the period's days are the platform's local days (BABEL_DEFAULT_TIMEZONE, Asia/
Shanghai), as StudyDay and the ledger count them; a datetime column is compared with the UTC
instants of the first day's local midnight and of the local midnight after the last day.

  enrolments       course progress started in the period (a cadre starts a course once);
  completions      course progress completed in the period;
  completion rate  of the enrolments, the share completed by the end of the period (a cohort rate,
                   never over 100%; cadres who started before the period are not in it);
  study time       the daily roll-ups in the period; per learner: ÷ the cadres with study time;
  exam             attempts closed in the period; average score of those attempts; pass rate:
                   cadres who passed in the period ÷ cadres who closed an attempt in it. Over
                   several courses (a sub-unit's or the report's total) a cadre counts once per
                   course (a cadre who passed one of two exams is one pass of two);
  papers           on the course, handed in (the current version) in the period, withdrawn ones
                   left out; approved: decided in the period.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import and_, case, distinct, func, or_, select
from sqlalchemy.orm import selectinload

from app.accounts.models import Role, Unit, User
from app.accounts.scope import STAFF_ROLES, require_role, require_unit
from app.catalogue.models import Category, Course, CourseState
from app.exams.models import ExamAttempt, Paper, PaperState
from app.extensions import db
from app.learning.models import CourseProgress, StudyDay
from app.reports.filters import ReportFilter, period_instants
from app.reports.unit import hours, pct, subtree_totals

COURSE_CHART_TOP = 15  # the completion-rate chart shows the courses with most enrolments


@dataclass
class CourseFigures:
    """The numbers of one course, one unit subtree, or the whole report (additive, see `add`)."""

    enrolments: int = 0
    enrolled_completed: int = 0  # of the enrolments, completed by the end of the period
    completions: int = 0
    learners: int = 0  # cadres with study time in the period
    study_seconds: float = 0.0
    attempts: int = 0  # exam attempts closed in the period
    scored: int = 0  # of which with a score
    score_sum: float = 0.0
    exam_takers: int = 0  # cadres (× course) who closed an attempt in the period
    exam_passers: int = 0  # of which passed in the period
    papers: int = 0
    papers_approved: int = 0

    @property
    def completion_rate(self) -> float:
        return self.enrolled_completed / self.enrolments if self.enrolments else 0.0

    @property
    def avg_study_seconds(self) -> float:
        return self.study_seconds / self.learners if self.learners else 0.0

    @property
    def pass_rate(self) -> float:
        return self.exam_passers / self.exam_takers if self.exam_takers else 0.0

    @property
    def avg_score(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None

    @property
    def active(self) -> bool:
        return bool(self.enrolments or self.completions or self.learners or self.attempts or self.papers
                    or self.papers_approved)

    def add(self, other: CourseFigures) -> None:
        for name in _FIGURES:
            setattr(self, name, getattr(self, name) + getattr(other, name))


_FIGURES = tuple(f.name for f in fields(CourseFigures))


@dataclass
class CourseRow:
    course: Course
    figures: CourseFigures


@dataclass
class UnitRow:
    unit: Unit
    cadres: int
    figures: CourseFigures


@dataclass
class CourseReport:
    unit: Unit
    start: date
    end: date
    user: User | None
    course: Course | None
    category: Category | None
    cadres: int
    figures: CourseFigures  # all the report's courses together
    courses: list[CourseRow]  # most enrolments first
    sub_units: list[UnitRow]  # direct children in the tree's order: the chosen course, or all the courses together


def _count_if(cond):
    return func.sum(case((cond, 1), else_=0))


def course_report(actor: User, flt: ReportFilter) -> CourseReport:
    """The course report for a resolved filter (see app.reports.filters and this module's notes)."""
    require_role(actor, *STAFF_ROLES)
    unit = require_unit(actor, flt.unit)
    units = list(db.session.scalars(select(Unit).where(Unit.path.startswith(unit.path)).order_by(Unit.path)))
    by_id = {u.id: u for u in units}
    lo, hi = period_instants(flt.start, flt.end)

    people = User.unit_id.in_(list(by_id)) & (User.role == Role.CADRE) & User.is_active.is_(True)
    if flt.user is not None:
        people = people & (User.id == flt.user.id)
    chosen: list[int] | None = None  # the report's courses, when narrowed
    if flt.course is not None:
        chosen = [flt.course.id]
    elif flt.category is not None:
        chosen = list(db.session.scalars(select(Course.id).where(Course.category_id == flt.category.id)))

    def grouped(model, *columns, where):
        """{(course_id, unit_id): columns} for the model's rows of in-scope cadres."""
        q = (select(model.course_id, User.unit_id, *columns).join(User, User.id == model.user_id)
             .where(people, where).group_by(model.course_id, User.unit_id))
        if chosen is not None:
            q = q.where(model.course_id.in_(chosen))
        return {(row[0], row[1]): row[2:] for row in db.session.execute(q)}

    cp = CourseProgress
    started = (cp.started_at >= lo) & (cp.started_at < hi)
    completed = (cp.completed_at >= lo) & (cp.completed_at < hi)
    progress = grouped(cp, _count_if(started), _count_if(started & (cp.completed_at < hi)), _count_if(completed),
                       where=or_(started, completed))
    study = grouped(StudyDay, func.count(distinct(StudyDay.user_id)), func.sum(StudyDay.seconds),
                    where=(StudyDay.day >= flt.start) & (StudyDay.day <= flt.end))
    ea = ExamAttempt
    exams = grouped(ea, func.count(ea.id), func.count(ea.score), func.sum(ea.score), func.count(distinct(ea.user_id)),
                    func.count(distinct(case((ea.passed.is_(True), ea.user_id)))),
                    where=(ea.closed_at >= lo) & (ea.closed_at < hi))
    handed_in = (Paper.submitted_at >= lo) & (Paper.submitted_at < hi) & (Paper.state != PaperState.WITHDRAWN)
    approved = (Paper.state == PaperState.APPROVED) & (Paper.decided_at >= lo) & (Paper.decided_at < hi)
    papers = grouped(Paper, _count_if(handed_in), _count_if(approved),
                     where=and_(Paper.course_id.is_not(None), or_(handed_in, approved)))
    # A sub-unit's learners over several courses are its cadres with any study time (not a sum);
    # EXISTS probes the (user_id, day, course_id) index once per cadre instead of sorting the days.
    studied = (StudyDay.user_id == User.id) & (StudyDay.day >= flt.start) & (StudyDay.day <= flt.end)
    if chosen is not None:
        studied = studied & StudyDay.course_id.in_(chosen)
    learners = dict(db.session.execute(select(User.unit_id, func.count(User.id))
                                       .where(people, select(StudyDay.id).where(studied).exists())
                                       .group_by(User.unit_id)).tuples().all())
    cadres = dict(db.session.execute(select(User.unit_id, func.count(User.id)).where(people)
                                     .group_by(User.unit_id)).tuples().all())

    cells: dict[tuple[int, int], CourseFigures] = defaultdict(CourseFigures)
    for key, (enrolments, enrolled_completed, completions) in progress.items():
        c = cells[key]
        c.enrolments, c.enrolled_completed, c.completions = int(enrolments or 0), int(enrolled_completed or 0), \
            int(completions or 0)
    for key, (n, seconds) in study.items():
        cells[key].learners, cells[key].study_seconds = n, float(seconds or 0)
    for key, (n, scored, score_sum, takers, passers) in exams.items():
        c = cells[key]
        c.attempts, c.scored, c.score_sum, c.exam_takers, c.exam_passers = n, scored, float(score_sum or 0), takers, \
            passers
    for key, (handed, ok) in papers.items():
        cells[key].papers, cells[key].papers_approved = int(handed or 0), int(ok or 0)

    per_course: dict[int, CourseFigures] = defaultdict(CourseFigures)
    own: dict[int, CourseFigures] = defaultdict(CourseFigures)  # per unit, all the courses together
    for (course_id, unit_id), c in cells.items():
        per_course[course_id].add(c)
        own[unit_id].add(c)
    for unit_id in by_id:
        own[unit_id].learners = learners.get(unit_id, 0)

    listed = set(per_course)
    if flt.course is not None:
        listed.add(flt.course.id)
    elif flt.category is not None:  # the category's published courses, with activity or not
        listed |= set(db.session.scalars(select(Course.id).where(Course.category_id == flt.category.id,
                                                                 Course.state == CourseState.PUBLISHED)))
    courses = {c.id: c for c in db.session.scalars(select(Course).where(Course.id.in_(listed))
                                                   .options(selectinload(Course.category)))} if listed else {}
    rows = [CourseRow(courses[cid], per_course.get(cid) or CourseFigures()) for cid in listed if cid in courses]
    rows.sort(key=lambda r: (-r.figures.enrolments, -r.figures.learners, -r.figures.attempts, r.course.title))

    total = CourseFigures()
    for f in own.values():
        total.add(f)
    rolled, headcount = subtree_totals(units, own, CourseFigures), subtree_totals(units, cadres, int)
    subs = [UnitRow(child, headcount[child.id], rolled[child.id])
            for child in sorted((u for u in units if u.parent_id == unit.id), key=lambda u: (u.sort_order, u.id))]
    return CourseReport(unit=unit, start=flt.start, end=flt.end, user=flt.user, course=flt.course,
                        category=flt.category, cadres=sum(cadres.values()), figures=total, courses=rows,
                        sub_units=subs)


def _ref(obj, name: str) -> dict | None:
    return {"id": obj.id, "name": getattr(obj, name)} if obj is not None else None


def figures_dict(f: CourseFigures) -> dict:
    """The figures as the JSON and the files give them: rates in percent and hours with one decimal."""
    return {"enrolments": f.enrolments, "enrolled_completed": f.enrolled_completed, "completions": f.completions,
            "completion_pct": pct(f.enrolled_completed, f.enrolments), "learners": f.learners,
            "study_hours": hours(f.study_seconds), "avg_study_hours": hours(f.avg_study_seconds),
            "attempts": f.attempts, "avg_score": round(f.avg_score, 1) if f.avg_score is not None else None,
            "exam_takers": f.exam_takers, "exam_passers": f.exam_passers,
            "pass_pct": pct(f.exam_passers, f.exam_takers), "papers": f.papers, "papers_approved": f.papers_approved}


def course_dict(r: CourseReport) -> dict:
    """The report as the courseReport operation answers it (the files carry the same numbers)."""
    return {
        "unit": _ref(r.unit, "name"), "start": r.start, "end": r.end, "user": _ref(r.user, "name"),
        "course": _ref(r.course, "title"), "category": _ref(r.category, "name"), "cadres": r.cadres,
        "figures": figures_dict(r.figures),
        "courses": [{"course": _ref(c.course, "title"), "category": _ref(c.course.category, "name"),
                     **figures_dict(c.figures)} for c in r.courses],
        "sub_units": [{"unit": _ref(s.unit, "name"), "cadres": s.cadres, **figures_dict(s.figures)}
                      for s in r.sub_units],
    }


def figure_headers() -> list[str]:
    return [_("开始学习"), _("其中已完成"), _("完成率(%)"), _("期间完成"), _("学习人数"), _("学习时长(小时)"),
            _("人均学习时长(小时)"), _("考试次数"), _("平均分"), _("参考人数"), _("通过人数"), _("通过率(%)"),
            _("提交论文"), _("论文通过")]


def figure_cells(d: dict) -> list:
    return [d["enrolments"], d["enrolled_completed"], d["completion_pct"], d["completions"], d["learners"],
            d["study_hours"], d["avg_study_hours"], d["attempts"], d["avg_score"], d["exam_takers"],
            d["exam_passers"], d["pass_pct"], d["papers"], d["papers_approved"]]


def course_sheets(d: dict) -> list:
    """The course report's tables (from course_dict) as export sheets: the same numbers as the JSON."""
    period = f"{d['start']} – {d['end']}"
    scope = d["course"]["name"] if d["course"] else d["category"]["name"] if d["category"] else _("全部课程")
    who = d["user"]["name"] if d["user"] else ""
    return [
        (_("概况"), [_("单位"), _("干部"), _("期间"), _("课程"), _("干部姓名"), *figure_headers()],
         [[d["unit"]["name"], d["cadres"], period, scope, who, *figure_cells(d["figures"])]]),
        (_("课程"), [_("课程"), _("分类"), *figure_headers()],
         [[c["course"]["name"], c["category"]["name"], *figure_cells(c)] for c in d["courses"]]),
        (_("按单位"), [_("单位"), _("干部"), *figure_headers()],
         [[s["unit"]["name"], s["cadres"], *figure_cells(s)] for s in d["sub_units"]]),
    ]
