"""Exam pages for cadres: the start page with the rules, the exam page (timer, question navigator,
answers saved as the cadre goes), the result page, and my exams and papers. The server keeps the
time and grades; an open attempt's page never carries the answers."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from app.accounts.models import Role
from app.catalogue.models import Course, CourseState
from app.catalogue.services import get_course
from app.db import commit
from app.errors import DomainError, PermissionDenied
from app.exams import services
from app.exams.models import AttemptEnd, ExamAttempt, ExamSetting
from app.extensions import db
from app.learning.models import CourseProgress
from app.web import int_arg

bp = Blueprint("exams", __name__, url_prefix="/exams")

PER_PAGE = 20
NUMERALS = (_l("一"), _l("二"), _l("三"), _l("四"), _l("五"))  # section numbers of a printed paper


def _require_cadre() -> None:
    if current_user.role != Role.CADRE:
        raise PermissionDenied(_("考试页面仅供学员使用;题库和考试设置在课程管理中维护"))


def _clock(t) -> str:
    """hh:mm:ss in the platform's time zone."""
    return t.astimezone(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).strftime("%H:%M:%S") if t else ""


def composition(setting: ExamSetting, course_id: int) -> list[tuple[str, int | None]]:
    """What a paper is made of: [(kind label, count or None when the mix is drawn at random)]."""
    if setting.per_type:
        return [(services.kind_label(k), n) for k, n in setting.per_type.items() if n]
    return [(services.kind_label(k), None) for k, ids in services.pool_of(course_id).items() if ids]


def _sections(questions: list[dict]) -> list[dict]:
    """Questions grouped by kind as a paper is printed: 一、单选题 (共 n 题) …"""
    sections: list[dict] = []
    for q in questions:
        if not sections or sections[-1]["kind"] != q["kind"]:
            sections.append({"kind": q["kind"], "label": q["kind_label"], "questions": []})
        sections[-1]["questions"].append(q)
    for i, s in enumerate(sections):
        s["numeral"] = NUMERALS[i] if i < len(NUMERALS) else str(i + 1)
    return sections


def open_exams(user) -> list[services.ExamStatus]:
    """The cadre's completed courses with an exam not yet passed (what 考试与论文 offers). Passed ones
    are left out by the query, so the full status is worked out only for the few still open."""
    passed = select(ExamAttempt.id).where(ExamAttempt.user_id == user.id, ExamAttempt.course_id == Course.id,
                                          ExamAttempt.passed.is_(True))
    courses = db.session.scalars(
        select(Course).join(CourseProgress, CourseProgress.course_id == Course.id)
        .join(ExamSetting, ExamSetting.course_id == Course.id)
        .where(CourseProgress.user_id == user.id, CourseProgress.completed_at.is_not(None),
               Course.state == CourseState.PUBLISHED, ~passed.exists())
        .order_by(CourseProgress.completed_at.desc(), Course.id))
    statuses = [services.exam_status(user, course) for course in courses]
    return [st for st in statuses if not st.passed]


# --- pages ------------------------------------------------------------------------------------

@bp.get("/")
@login_required
def mine():
    """考试与论文: the cadre's attempts, the exams open to them, and links to their papers."""
    _require_cadre()
    exams = open_exams(current_user)
    page = services.list_attempts(current_user, page=int_arg("page", 1, maximum=10_000), per_page=PER_PAGE)
    commit()  # attempts closed at their deadline on the way
    return render_template("exams/mine.html", exams=exams, page=page,
                           earned={a.id: services.earned(a) for a in page.items})


@bp.get("/courses/<int:course_id>")
@login_required
def start(course_id: int):
    """The rules of a course's exam, what the cadre has used, and the button to start."""
    _require_cadre()
    course = get_course(current_user, course_id)
    st = services.exam_status(current_user, course)
    commit()
    setting = st.setting
    return render_template("exams/exam_start.html", course=course, st=st, setting=setting,
                           parts=composition(setting, course.id) if setting else [],
                           left=services.seconds_left(st.open_attempt) if st.open_attempt else None,
                           papers_allowed=setting is None or setting.papers_allowed)


@bp.post("/courses/<int:course_id>/begin")
@login_required
def begin(course_id: int):
    """Start an attempt (a random paper) or resume the open one, then go to it."""
    _require_cadre()
    try:
        attempt, created = services.start_attempt(current_user, course_id)
        commit()
    except DomainError as err:
        db.session.rollback()
        if err.status == 404:
            raise
        flash(err.message, "error")
        return redirect(url_for(".start", course_id=course_id))
    if not created:
        flash(_("您有一场未交卷的考试,已为您继续"), "info")
    return redirect(url_for(".attempt", attempt_id=attempt.id))


@bp.get("/attempts/<int:attempt_id>")
@login_required
def attempt(attempt_id: int):
    """An open attempt: the exam page. A closed one: its result."""
    _require_cadre()
    a = services.get_attempt(current_user, attempt_id)  # a cadre's own only (404 otherwise)
    commit()  # closed at its deadline on the way
    if a.closed_at is None:
        questions = services.paper_questions(a)
        saved = [i.saved_at for i in a.items if i.saved_at is not None]
        return render_template("exams/exam_paper.html", a=a, course=a.course, sections=_sections(questions),
                               questions=questions, answered=sum(1 for q in questions if q["response"]),
                               left=services.seconds_left(a), last_saved=_clock(max(saved)) if saved else "")
    return _result(a)


def _result(a):
    course = a.course
    st = services.exam_status(current_user, course)
    commit()
    setting = services.get_setting(course.id)
    questions = services.result_questions(a)
    return render_template("exams/exam_result.html", a=a, course=course, sections=_sections(questions),
                           questions=questions, earned=services.earned(a), st=st,
                           show_answers=services.answers_visible(a),
                           answers_after_pass=setting is None or setting.show_answers_after_pass,
                           used=a.closed_at - a.started_at, by_deadline=a.end == AttemptEnd.DEADLINE)


def form_answers(a, form) -> dict[str, str | None]:
    """The paper as posted (q1=B, q2=A&q2=C, …) → {position: shown letters or None}. The form is the
    whole paper: a question left without a choice clears what was saved for it."""
    out: dict[str, str | None] = {}
    for item in a.items:
        values = [v.strip().upper() for v in form.getlist(f"q{item.position}") if v and v.strip()]
        out[str(item.position)] = "".join(sorted(values)) or None
    return out


@bp.post("/attempts/<int:attempt_id>/submit")
@login_required
def submit(attempt_id: int):
    """交卷: a plain form post carrying every answer (works without JavaScript); graded by the server."""
    _require_cadre()
    a = services.get_attempt(current_user, attempt_id)
    commit()  # a closing at the deadline on the way stays, whatever follows
    answers = form_answers(a, request.form)
    try:
        result = services.submit_attempt(current_user, attempt_id, answers)
        commit()
    except DomainError as err:
        db.session.rollback()
        if err.status == 404:
            raise
        flash(err.message, "error")
        return redirect(url_for(".attempt", attempt_id=attempt_id))
    if result.late:
        flash(_("交卷时已超过考试截止时间,本次提交的答案未计入;已按截止时保存的答案评分"), "warn")
    return redirect(url_for(".attempt", attempt_id=attempt_id))

