"""Study-time rules: watch sessions, server-checked progress reports, still-studying checks,
completion, and the daily roll-ups of study time and time online. The browser's claims are
bounded by the server's clock; nothing is credited that the clock does not allow."""
from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from app.accounts.models import Role, User
from app.catalogue.models import Course, Lesson, VideoAsset
from app.catalogue.services import can_view_course, get_lesson
from app.db import dialect_insert, utcnow
from app.errors import Conflict, Invalid, NotFound, PermissionDenied, RuleViolation
from app.extensions import db
from app.learning import ranges as R
from app.learning.models import (
    CourseProgress, LessonProgress, OnlineDay, SessionState, StudyCheck, StudyDay, WatchSession,
)

# Called once per course completion: fn(user_id, course_id, completed_at). The credits domain
# subscribes to turn completions into class hours and open the exam.
COURSE_COMPLETED: list[Callable[[int, int, datetime], None]] = []


def now() -> datetime:
    """The server's clock (tests replace it; nothing here reads the browser's time)."""
    return utcnow()


def local_day(t: datetime) -> date:
    return t.astimezone(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).date()


def _cfg(key: str):
    return current_app.config[key]


def speed_cap() -> float:
    return max(0.25, min(2.0, float(_cfg("LEARNING_SPEED_CAP"))))


_insert = dialect_insert


def _locked(q):
    return q.with_for_update() if db.session.get_bind().dialect.name == "postgresql" else q


# --- sessions -----------------------------------------------------------------------------

def require_learner(user: User) -> None:
    if user.role != Role.CADRE:
        raise PermissionDenied(_("只有学员的学习时长会被记录"), code="not_a_learner")


def _progress_rows(user: User, lesson: Lesson, t: datetime) -> tuple[LessonProgress, CourseProgress]:
    db.session.execute(_insert(LessonProgress).values(
        user_id=user.id, lesson_id=lesson.id, course_id=lesson.course_id, ranges=[], covered_seconds=0,
        furthest=0, last_position=0, credited_seconds=0, started_at=t, updated_at=t).on_conflict_do_nothing())
    db.session.execute(_insert(CourseProgress).values(
        user_id=user.id, course_id=lesson.course_id, lessons_completed=0, credited_seconds=0,
        started_at=t, updated_at=t).on_conflict_do_nothing())
    lp = db.session.scalar(_locked(select(LessonProgress).where(LessonProgress.user_id == user.id,
                                                                LessonProgress.lesson_id == lesson.id)))
    cp = db.session.scalar(_locked(select(CourseProgress).where(CourseProgress.user_id == user.id,
                                                                CourseProgress.course_id == lesson.course_id)))
    return lp, cp


def _check_interval() -> float:
    lo, hi = float(_cfg("LEARNING_CHECK_MIN_MINUTES")), float(_cfg("LEARNING_CHECK_MAX_MINUTES"))
    return random.uniform(min(lo, hi), max(lo, hi)) * 60


@dataclass
class Started:
    session: WatchSession
    lesson: Lesson
    progress: LessonProgress
    course_progress: CourseProgress


def start_session(user: User, lesson_id: int, *, user_agent: str | None = None) -> Started:
    """Open a watch session; any other open session of this cadre ends (one stream at a time)."""
    require_learner(user)
    lesson = get_lesson(user, lesson_id)
    if lesson.video is None:
        raise RuleViolation(_("本课时视频尚未上传"), code="no_video")
    t = now()
    db.session.execute(update(WatchSession).where(WatchSession.user_id == user.id,
                                                  WatchSession.state != SessionState.ENDED)
                       .values(state=SessionState.ENDED, end_reason="superseded", ended_at=t)
                       .execution_options(synchronize_session=False))
    lp, cp = _progress_rows(user, lesson, t)
    s = WatchSession(key=secrets.token_hex(16), user_id=user.id, lesson_id=lesson.id, course_id=lesson.course_id,
                     state=SessionState.ACTIVE, last_seq=0, last_report_at=t, last_position=lp.last_position,
                     credited_seconds=0, next_check_at=_check_interval(), user_agent=(user_agent or "")[:255] or None)
    db.session.add(s)
    touch_online(user, t)
    db.session.flush()
    return Started(s, lesson, lp, cp)


def _get_session(user: User, key: str) -> WatchSession:
    s = db.session.scalar(select(WatchSession).where(WatchSession.key == key, WatchSession.user_id == user.id))
    if s is None:
        raise NotFound(_("学习会话不存在"))
    return s


# --- progress reports ---------------------------------------------------------------------

@dataclass
class Report:
    seq: int
    position: float
    playing: bool
    ranges: list = field(default_factory=list)  # [[start, end], ...] watched since the last report
    event: str = "tick"  # tick | pause | end | close


@dataclass
class ReportResult:
    session: WatchSession
    progress: LessonProgress
    course_progress: CourseProgress
    lesson: Lesson
    credited: float = 0.0
    duplicate: bool = False
    notes: list[str] = field(default_factory=list)
    check: StudyCheck | None = None
    lesson_completed_now: bool = False
    course_completed_now: bool = False


def _lesson_with_video(lesson_id: int) -> Lesson:
    return db.session.get(Lesson, lesson_id, options=[joinedload(Lesson.course), joinedload(Lesson.video)])


def _existing_rows(user: User, lesson: Lesson, t: datetime) -> tuple[LessonProgress, CourseProgress]:
    lp = db.session.scalar(_locked(select(LessonProgress).where(LessonProgress.user_id == user.id,
                                                                LessonProgress.lesson_id == lesson.id)))
    cp = db.session.scalar(_locked(select(CourseProgress).where(CourseProgress.user_id == user.id,
                                                                CourseProgress.course_id == lesson.course_id)))
    if lp is None or cp is None:  # only if the rows were never made (start_session makes them)
        return _progress_rows(user, lesson, t)
    return lp, cp


def report_progress(user: User, key: str, rep: Report) -> ReportResult:
    """Apply one progress report. Every check runs on every report; credit is the part of the
    claimed ranges that the server's clock allows, within the video, not past the frontier."""
    require_learner(user)
    if rep.seq < 1:
        raise Invalid(_("序号须为正整数"), field="seq")
    t = now()
    # Claim the sequence number with a write: a repeated (or crossing) report finds it taken.
    claimed = db.session.execute(
        update(WatchSession).where(WatchSession.key == key, WatchSession.user_id == user.id,
                                   WatchSession.state == SessionState.ACTIVE, WatchSession.last_seq < rep.seq)
        .values(last_seq=rep.seq).execution_options(synchronize_session=False)).rowcount
    s = _get_session(user, key)
    lesson = _lesson_with_video(s.lesson_id)
    if not claimed:
        if s.state == SessionState.ENDED:
            raise Conflict(_("该学习会话已结束(可能在其他窗口或设备上开始了学习),本次不计时"),
                           code="session_ended", reason=s.end_reason)
        if s.state == SessionState.PAUSED:
            raise Conflict(_("学习确认超时,会话已暂停;请重新开始播放"), code="session_paused", reason=s.end_reason)
        lp, cp = _existing_rows(user, lesson, t)
        return ReportResult(s, lp, cp, lesson, duplicate=True, notes=["duplicate"], check=_pending_check(s))
    if not can_view_course(user, lesson.course) or lesson.video is None:
        raise Conflict(_("您已不能学习该课程,本次不计时"), code="no_access")

    lp, cp = _existing_rows(user, lesson, t)
    duration = float(lesson.video.duration)
    elapsed = max(0.0, (t - s.last_report_at).total_seconds())
    budget = elapsed * speed_cap() + float(_cfg("LEARNING_TOLERANCE_SECONDS"))
    result = ReportResult(s, lp, cp, lesson)
    pending = _pending_check(s)

    with db.session.no_autoflush:
        if pending is not None and t > pending.expires_at:
            s.state = SessionState.PAUSED
            s.end_reason = "check_timeout"
            result.notes.append("check_timeout")
        elif pending is not None:
            result.notes.append("check_pending")
        elif not rep.playing:
            result.notes.append("not_playing")
        else:
            claimed_ranges = R.merge((a, b) for a, b in rep.ranges)
            frontier = min(duration, lp.furthest + budget)
            valid = R.clip(claimed_ranges, 0.0, frontier)
            if R.measure(claimed_ranges) - R.measure(valid) > 0.5:
                result.notes.append("beyond_frontier")
            if R.measure(valid) > budget + 0.01:
                result.notes.append("faster_than_clock")
            valid = R.truncate(valid, budget)
            result.credited = round(R.measure(valid), 2)
            if result.credited > 0:
                before = lp.covered_seconds
                lp.ranges = R.rounded(R.merge([*lp.ranges, *valid]))
                lp.covered_seconds = round(min(duration, R.measure(lp.ranges)), 2)
                lp.furthest = round(max(lp.furthest, max(b for _a, b in valid)), 2)
                lp.credited_seconds = round(lp.credited_seconds + result.credited, 2)
                cp.covered_seconds = round(cp.covered_seconds + lp.covered_seconds - before, 2)
                cp.credited_seconds = round(cp.credited_seconds + result.credited, 2)
                s.credited_seconds = round(s.credited_seconds + result.credited, 2)
        # Resume point: where the player is, but never past what was watched.
        position = max(0.0, min(float(rep.position), lp.furthest, duration))
        s.last_position = lp.last_position = round(position, 2)
        s.last_report_at = t  # time while paused or waiting for a check is never banked
        lp.updated_at = cp.updated_at = t
        if rep.event == "close" and s.state == SessionState.ACTIVE:
            s.state, s.end_reason, s.ended_at = SessionState.ENDED, "closed", t

    if result.credited > 0:
        _add_study_time(user.id, local_day(t), s.course_id, result.credited)
    if s.state == SessionState.ACTIVE and pending is None and s.credited_seconds >= s.next_check_at:
        result.check = _issue_check(s, t)
        s.next_check_at = s.credited_seconds + _check_interval()
    elif pending is not None and s.state == SessionState.ACTIVE:
        result.check = pending

    _complete(user, lesson, lp, cp, t, result)
    touch_online(user, t)
    db.session.flush()
    return result


def _complete(user: User, lesson: Lesson, lp: LessonProgress, cp: CourseProgress, t: datetime,
              result: ReportResult) -> None:
    """Record completion times exactly once (conditional writes: two crossing reports cannot both)."""
    duration = float(lesson.video.duration)
    if lp.completed_at is None and lp.covered_seconds >= float(_cfg("LEARNING_COMPLETE_RATIO")) * duration - 0.01:
        db.session.flush()
        done = db.session.execute(update(LessonProgress).where(LessonProgress.id == lp.id,
                                                               LessonProgress.completed_at.is_(None))
                                  .values(completed_at=t).execution_options(synchronize_session=False)).rowcount
        db.session.refresh(lp)
        result.lesson_completed_now = bool(done)
    if not result.lesson_completed_now:
        return
    lessons, _seconds = course_size(lesson.course_id)
    completed = db.session.scalar(select(func.count(LessonProgress.id)).where(
        LessonProgress.user_id == user.id, LessonProgress.course_id == lesson.course_id,
        LessonProgress.completed_at.is_not(None)))
    cp.lessons_completed = completed
    if completed >= lessons and cp.completed_at is None:
        db.session.flush()
        done = db.session.execute(update(CourseProgress).where(CourseProgress.id == cp.id,
                                                               CourseProgress.completed_at.is_(None))
                                  .values(completed_at=t).execution_options(synchronize_session=False)).rowcount
        db.session.refresh(cp)
        if done:
            result.course_completed_now = True
            for handler in COURSE_COMPLETED:
                handler(user.id, lesson.course_id, t)


# --- still-studying checks ----------------------------------------------------------------

def _pending_check(s: WatchSession) -> StudyCheck | None:
    if s.pending_check_id is None:
        return None
    check = db.session.get(StudyCheck, s.pending_check_id)
    return check if check is not None and check.answered_at is None else None


def _issue_check(s: WatchSession, t: datetime) -> StudyCheck:
    rng = random.SystemRandom()
    answer = rng.randint(10, 99)
    options = {answer}
    while len(options) < 4:
        options.add(rng.randint(10, 99))
    options = sorted(options)
    check = StudyCheck(key=secrets.token_hex(16), session_id=s.id, user_id=s.user_id, answer=answer,
                       options=options, expires_at=t + timedelta(seconds=int(_cfg("LEARNING_CHECK_TIMEOUT_SECONDS"))))
    db.session.add(check)
    db.session.flush()
    s.pending_check_id = check.id
    return check


def get_check(user: User, key: str) -> StudyCheck:
    check = db.session.scalar(select(StudyCheck).where(StudyCheck.key == key, StudyCheck.user_id == user.id))
    if check is None:
        raise NotFound(_("学习确认不存在"))
    return check


def answer_check(user: User, key: str, value: int) -> bool:
    """True when right: the session resumes (from now: the time spent on the question earns nothing)."""
    require_learner(user)
    check = get_check(user, key)
    t = now()
    if check.answered_at is not None:
        return True
    s = check.session
    if t > check.expires_at or s.state != SessionState.ACTIVE:
        raise Conflict(_("学习确认已超时,请重新开始播放"), code="check_expired")
    if int(value) != check.answer:
        check.wrong_answers += 1
        return False
    check.answered_at = t
    s.last_report_at = t
    s.pending_check_id = None
    touch_online(user, t)
    return True


# --- roll-ups -----------------------------------------------------------------------------

def _add_study_time(user_id: int, day: date, course_id: int, seconds: float) -> None:
    # A relative UPDATE (compiled once, cached) on all but the first report of a day.
    where = (StudyDay.user_id == user_id, StudyDay.day == day, StudyDay.course_id == course_id)
    if db.session.execute(update(StudyDay).where(*where).values(seconds=StudyDay.seconds + seconds)
                          .execution_options(synchronize_session=False)).rowcount:
        return
    stmt = _insert(StudyDay).values(user_id=user_id, day=day, course_id=course_id, seconds=seconds)
    db.session.execute(stmt.on_conflict_do_update(index_elements=["user_id", "day", "course_id"],
                                                  set_={"seconds": StudyDay.seconds + seconds}))


def touch_online(user: User, t: datetime | None = None) -> None:
    """Count time online: the gap since the last activity today, capped (an idle tab earns little)."""
    t = t or now()
    day = local_day(t)
    query = _locked(select(OnlineDay).where(OnlineDay.user_id == user.id, OnlineDay.day == day))
    row = db.session.scalar(query)
    if row is None:
        db.session.execute(_insert(OnlineDay).values(user_id=user.id, day=day, seconds=0, last_activity_at=t)
                           .on_conflict_do_nothing())
        row = db.session.scalar(query)
    gap = (t - row.last_activity_at).total_seconds()
    if gap > 0:
        row.seconds = round(row.seconds + min(gap, float(_cfg("LEARNING_ONLINE_GAP_CAP_SECONDS"))), 2)
        row.last_activity_at = t


def course_size(course_id: int) -> tuple[int, float]:
    """(lessons, seconds of video) of a course."""
    n, total = db.session.execute(select(func.count(Lesson.id), func.coalesce(func.sum(VideoAsset.duration), 0))
                                  .select_from(Lesson).outerjoin(VideoAsset, VideoAsset.id == Lesson.video_id)
                                  .where(Lesson.course_id == course_id)).one()
    return int(n), float(total)


# --- reading ------------------------------------------------------------------------------

def lesson_progress(user: User, lesson_id: int) -> tuple[Lesson, LessonProgress | None]:
    lesson = get_lesson(user, lesson_id)
    lp = db.session.scalar(select(LessonProgress).where(LessonProgress.user_id == user.id,
                                                        LessonProgress.lesson_id == lesson.id))
    return lesson, lp


def course_progress(user: User, course: Course) -> tuple[CourseProgress | None, dict[int, LessonProgress]]:
    cp = db.session.scalar(select(CourseProgress).where(CourseProgress.user_id == user.id,
                                                        CourseProgress.course_id == course.id))
    lps = {lp.lesson_id: lp for lp in db.session.scalars(select(LessonProgress).where(
        LessonProgress.user_id == user.id, LessonProgress.course_id == course.id))}
    return cp, lps


def coverage_ratio(lp: LessonProgress | None, lesson: Lesson) -> float:
    if lp is None or lesson.video is None or not lesson.video.duration:
        return 0.0
    return min(1.0, lp.covered_seconds / float(lesson.video.duration))


def course_ratio(course: Course, lps: dict[int, LessonProgress]) -> float:
    total = sum(float(lesson.video.duration) for lesson in course.lessons if lesson.video)
    if not total:
        return 0.0
    return min(1.0, sum(lps[lesson.id].covered_seconds for lesson in course.lessons if lesson.id in lps) / total)


def study_time(user: User, start: date, end: date) -> list[dict]:
    """Per day from start to end inclusive: study seconds (all courses) and seconds online."""
    study = dict(db.session.execute(select(StudyDay.day, func.sum(StudyDay.seconds)).where(
        StudyDay.user_id == user.id, StudyDay.day >= start, StudyDay.day <= end).group_by(StudyDay.day)).all())
    online = dict(db.session.execute(select(OnlineDay.day, OnlineDay.seconds).where(
        OnlineDay.user_id == user.id, OnlineDay.day >= start, OnlineDay.day <= end)).all())
    days = []
    d = start
    while d <= end:
        days.append({"day": d, "study_seconds": round(float(study.get(d, 0)), 1),
                     "online_seconds": round(float(online.get(d, 0)), 1)})
        d += timedelta(days=1)
    return days


def study_totals(user: User, today: date | None = None) -> dict:
    today = today or local_day(now())
    starts = {"week": today - timedelta(days=today.weekday()), "month": today.replace(day=1),
              "year": today.replace(month=1, day=1)}
    out = {}
    for name, start in starts.items():
        s = db.session.scalar(select(func.coalesce(func.sum(StudyDay.seconds), 0)).where(
            StudyDay.user_id == user.id, StudyDay.day >= start, StudyDay.day <= today))
        o = db.session.scalar(select(func.coalesce(func.sum(OnlineDay.seconds), 0)).where(
            OnlineDay.user_id == user.id, OnlineDay.day >= start, OnlineDay.day <= today))
        out[name] = {"study_seconds": round(float(s), 1), "online_seconds": round(float(o), 1)}
    return out
