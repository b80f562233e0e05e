"""Learning in the JSON API: watch sessions, progress reports, still-studying checks, progress
and study time (operationIds as in API.md)."""
from __future__ import annotations

from datetime import timedelta

from flask import Response, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_smorest import Blueprint
from flask_wtf.csrf import CSRFError, validate_csrf
from marshmallow import Schema, fields, validate
from wtforms import ValidationError

from app.api.schemas import DbId
from app.catalogue.services import get_course
from app.db import commit
from app.errors import Invalid, problem
from app.extensions import csrf
from app.learning import checkimage, services
from app.learning.models import StudyCheck

blp = Blueprint("learning_api", __name__, description="学习记录 Study time, progress and still-studying checks")

MAX_RANGES = 200


class StartOut(Schema):
    session_id = fields.String(metadata={"description": "the watch session's key"})
    lesson_id = fields.Integer()
    course_id = fields.Integer()
    report_interval = fields.Integer(metadata={"description": "seconds between progress reports"})
    resume_position = fields.Float()
    furthest = fields.Float(metadata={"description": "seeking beyond this point is refused"})
    speed_cap = fields.Float()
    duration = fields.Float()
    coverage = fields.Float(metadata={"description": "0–1 of this lesson's seconds watched"})
    course_coverage = fields.Float()
    report_url = fields.String()


class ReportArgs(Schema):
    seq = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    position = fields.Float(required=True, validate=validate.Range(min=0, max=1e7), allow_nan=False)
    playing = fields.Boolean(required=True)
    ranges = fields.List(fields.List(fields.Float(allow_nan=False, validate=validate.Range(min=0, max=1e7)),
                                     validate=validate.Length(equal=2)),
                         load_default=list, validate=validate.Length(max=MAX_RANGES),
                         metadata={"description": "[[start, end], …] seconds watched since the last report"})
    event = fields.String(load_default="tick", validate=validate.OneOf(["tick", "pause", "end", "close", "seek"]))
    csrf_token = fields.String(load_only=True, metadata={
        "description": "for navigator.sendBeacon, which cannot send the X-CSRFToken header"})


class CheckOut(Schema):
    id = fields.String()
    prompt = fields.String()
    image_url = fields.String()
    options = fields.List(fields.Integer(), metadata={"description": "the answer is one of them; which one is not said"})
    expires_at = fields.DateTime()


class CourseCoverageOut(Schema):
    lessons_completed = fields.Integer()
    lessons = fields.Integer()
    coverage = fields.Float()
    completed_at = fields.DateTime(allow_none=True)


class ReportOut(Schema):
    accepted = fields.Boolean(metadata={"description": "false for a repeated sequence number (counted once)"})
    duplicate = fields.Boolean()
    credited = fields.Float(metadata={"description": "seconds credited by this report"})
    session_credited = fields.Float()
    lesson_credited = fields.Float()
    coverage = fields.Float()
    covered_seconds = fields.Float()
    furthest = fields.Float()
    lesson_completed = fields.Boolean()
    lesson_completed_now = fields.Boolean()
    course = fields.Nested(CourseCoverageOut)
    course_completed_now = fields.Boolean()
    state = fields.String(metadata={"enum": ["active", "paused", "ended"]})
    notes = fields.List(fields.String(), metadata={
        "description": "why less than claimed was credited: not_playing, check_pending, check_timeout, "
                       "beyond_frontier, faster_than_clock, duplicate"})
    check = fields.Nested(CheckOut, allow_none=True)


class AnswerArgs(Schema):
    answer = fields.Integer(required=True, validate=validate.Range(min=0, max=999))


class AnswerOut(Schema):
    ok = fields.Boolean()
    wrong_answers = fields.Integer()


class LessonProgressOut(Schema):
    lesson_id = fields.Integer()
    duration = fields.Float(allow_none=True)
    coverage = fields.Float()
    covered_seconds = fields.Float()
    ranges = fields.List(fields.List(fields.Float()))
    furthest = fields.Float()
    last_position = fields.Float()
    credited_seconds = fields.Float()
    completed_at = fields.DateTime(allow_none=True)


class CourseProgressOut(Schema):
    course_id = fields.Integer()
    coverage = fields.Float()
    lessons_completed = fields.Integer()
    lessons = fields.List(fields.Nested(LessonProgressOut))
    credited_seconds = fields.Float()
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)


class StudyTimeArgs(Schema):
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")


class StudyDayOut(Schema):
    day = fields.Date()
    study_seconds = fields.Float()
    online_seconds = fields.Float()


class StudyTimeOut(Schema):
    days = fields.List(fields.Nested(StudyDayOut))
    totals = fields.Dict(metadata={"description": "week / month / year → study_seconds, online_seconds"})


# --- helpers ------------------------------------------------------------------------------

def check_dict(check: StudyCheck | None) -> dict | None:
    if check is None:
        return None
    return {"id": check.key, "prompt": _("请确认您仍在学习:选择图片中显示的数字"),
            "image_url": url_for("learning_api.get_study_check_image", key=check.key),
            "options": check.options, "expires_at": check.expires_at}


def lesson_progress_dict(lesson, lp) -> dict:
    return {"lesson_id": lesson.id, "duration": lesson.video.duration if lesson.video else None,
            "coverage": round(services.coverage_ratio(lp, lesson), 4),
            "covered_seconds": lp.covered_seconds if lp else 0.0, "ranges": lp.ranges if lp else [],
            "furthest": lp.furthest if lp else 0.0, "last_position": lp.last_position if lp else 0.0,
            "credited_seconds": lp.credited_seconds if lp else 0.0, "completed_at": lp.completed_at if lp else None}


def course_coverage(course, cp) -> dict:
    _cp, lps = services.course_progress(current_user, course)
    return {"lessons_completed": cp.lessons_completed if cp else 0, "lessons": len(course.lessons),
            "coverage": round(services.course_ratio(course, lps), 4), "completed_at": cp.completed_at if cp else None}


def _csrf_from_body(token: str | None) -> None:
    try:
        validate_csrf(request.headers.get("X-CSRFToken") or token)
    except (ValidationError, CSRFError):
        raise Invalid(_("缺少或无效的 CSRF 令牌,请重新登录后再试。"), code="csrf")


# --- operations ---------------------------------------------------------------------------

@blp.route("/lessons/<int:lesson_id>/watch-sessions", methods=["POST"])
@blp.response(201, StartOut)
@blp.doc(operationId="startWatchSession")
@login_required
def start_watch_session(lesson_id):
    """开始学习 Open a watch session for a lesson; any other open session of this cadre ends."""
    started = services.start_session(current_user, lesson_id, user_agent=request.headers.get("User-Agent"))
    commit()
    lesson, lp = started.lesson, started.progress
    return {"session_id": started.session.key, "lesson_id": lesson.id, "course_id": lesson.course_id,
            "report_interval": int(services._cfg("LEARNING_REPORT_SECONDS")),
            "resume_position": lp.last_position, "furthest": lp.furthest, "speed_cap": services.speed_cap(),
            "duration": lesson.video.duration, "coverage": round(services.coverage_ratio(lp, lesson), 4),
            "course_coverage": course_coverage(lesson.course, started.course_progress)["coverage"],
            "report_url": url_for("learning_api.report_watch_progress", key=started.session.key)}


@blp.route("/watch-sessions/<key>/reports", methods=["POST"])
@blp.arguments(ReportArgs)
@blp.response(200, ReportOut)
@blp.alt_response(409, description="the session ended (another one started), was paused, or the course is no longer open")
@blp.doc(operationId="reportWatchProgress")
@csrf.exempt
@login_required
def report_watch_progress(args, key):
    """报告进度 Report playing progress; the server credits only what its clock allows."""
    _csrf_from_body(args.pop("csrf_token", None))
    if len(key) > 64:
        raise Invalid(_("学习会话不存在"), field="session")
    result = services.report_progress(current_user, key, services.Report(**args))
    lesson, lp, cp = result.lesson, result.progress, result.course_progress
    lessons, seconds = services.course_size(lesson.course_id)
    body = {"accepted": not result.duplicate, "duplicate": result.duplicate, "credited": result.credited,
            "session_credited": result.session.credited_seconds, "lesson_credited": lp.credited_seconds,
            "coverage": round(services.coverage_ratio(lp, lesson), 4), "covered_seconds": lp.covered_seconds,
            "furthest": lp.furthest, "lesson_completed": lp.completed_at is not None,
            "lesson_completed_now": result.lesson_completed_now,
            "course": {"lessons_completed": cp.lessons_completed, "lessons": lessons,
                       "coverage": round(min(1.0, cp.covered_seconds / seconds), 4) if seconds else 0.0,
                       "completed_at": cp.completed_at},
            "course_completed_now": result.course_completed_now, "state": result.session.state.value,
            "notes": result.notes, "check": check_dict(result.check)}
    commit()  # after the body is built: nothing has to be reloaded
    return body


@blp.route("/study-checks/<key>/answer", methods=["POST"])
@blp.arguments(AnswerArgs)
@blp.response(200, AnswerOut)
@blp.alt_response(409, description="the check expired; start playing again")
@blp.doc(operationId="answerStudyCheck")
@login_required
def answer_study_check(args, key):
    """回答学习确认 Answer a still-studying check; until it is right, nothing is credited."""
    ok = services.answer_check(current_user, key[:64], args["answer"])
    commit()
    return {"ok": ok, "wrong_answers": services.get_check(current_user, key[:64]).wrong_answers}


@blp.route("/study-checks/<key>/image.png", methods=["GET"])
@blp.doc(operationId="getStudyCheckImage", responses={"200": {"description": "PNG",
                                                               "content": {"image/png": {}}}})
@login_required
def get_study_check_image(key):
    """学习确认图片 The picture with the number to pick."""
    check = services.get_check(current_user, key[:64])
    resp = Response(checkimage.render(check.answer, check.key), mimetype="image/png")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@blp.route("/lessons/<int:lesson_id>/progress", methods=["GET"])
@blp.response(200, LessonProgressOut)
@blp.doc(operationId="getLessonProgress")
@login_required
def get_lesson_progress(lesson_id):
    """课时进度 The caller's coverage of a lesson (watched ranges, furthest point, completion)."""
    lesson, lp = services.lesson_progress(current_user, lesson_id)
    return lesson_progress_dict(lesson, lp)


@blp.route("/courses/<int:course_id>/progress", methods=["GET"])
@blp.response(200, CourseProgressOut)
@blp.doc(operationId="getCourseProgress")
@login_required
def get_course_progress(course_id):
    """课程进度 The caller's progress in a course, lesson by lesson."""
    course = get_course(current_user, course_id)
    cp, lps = services.course_progress(current_user, course)
    return {"course_id": course.id, "coverage": round(services.course_ratio(course, lps), 4),
            "lessons_completed": cp.lessons_completed if cp else 0,
            "lessons": [lesson_progress_dict(lesson, lps.get(lesson.id)) for lesson in course.lessons],
            "credited_seconds": cp.credited_seconds if cp else 0.0, "started_at": cp.started_at if cp else None,
            "completed_at": cp.completed_at if cp else None}


@blp.route("/me/study-time", methods=["GET"])
@blp.arguments(StudyTimeArgs, location="query")
@blp.response(200, StudyTimeOut)
@blp.doc(operationId="getMyStudyTime")
@login_required
def get_my_study_time(args):
    """我的学习时长 Study time and time online per day (default: the last 30 days) and this week/month/year."""
    today = services.local_day(services.now())
    end = args.get("end") or today
    start = args.get("start") or end - timedelta(days=29)
    if start > end or (end - start).days > 366:
        raise Invalid(_("日期范围须在一年以内,且开始不晚于结束"), field="from")
    return {"days": services.study_time(current_user, start, end), "totals": services.study_totals(current_user, today)}


@blp.route("/me/activity", methods=["POST"])
@blp.response(204)
@blp.doc(operationId="recordActivity")
@login_required
def record_activity():
    """在线活动 The page is open and in use: counts toward time online (gaps capped)."""
    services.touch_online(current_user)
    commit()
