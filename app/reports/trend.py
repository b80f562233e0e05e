"""The period trend report (学习趋势): study time, active learners, time online, credits and course
completions of a unit subtree (or one cadre) per day, week or month of a period. Read-only; one
aggregate query per measure grouped by bucket in SQL (active learners are distinct cadres per bucket,
which daily counts cannot give), then laid on the full list of buckets so that empty ones show as
zeros. Weeks start on Monday; a week or month cut by the period's first or last day counts only the
days inside the period (the bucket is clipped and marked partial)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Date, DateTime, cast, distinct, func, literal_column, select, type_coerce

from app.accounts.models import Role, Unit, User
from app.accounts.scope import STAFF_ROLES, require_cadre_user, require_role, require_unit
from app.catalogue.models import Category, Course
from app.credits.models import CreditEntry
from app.extensions import db
from app.learning.models import CourseProgress, OnlineDay, StudyDay
from app.reports.filters import ReportFilter, narrow_credits, period_instants
from app.reports.unit import hours, pct

GRANULARITIES = ("day", "week", "month")
AUTO_DAY_MAX = 62  # days in the period: up to two months by day,
AUTO_WEEK_MAX = 183  # up to half a year by week, longer by month
# Ledger entries that belong to a course (source_id is the course's id); their reversals repeat the source.


@dataclass
class Point:
    """One bucket. start/end are clipped to the period; key is the bucket's calendar start."""

    key: date
    start: date
    end: date
    study_seconds: float = 0.0
    learners: int = 0  # distinct cadres with study time in the bucket
    online_seconds: float = 0.0
    credits: int = 0  # by earned_on, reversals deducted
    completions: int = 0  # courses completed (local day of completion)
    partial: bool = False  # the period's start or end cuts the bucket

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass
class Totals:
    cadres: int = 0  # cadres in scope (the denominator of the active share)
    study_seconds: float = 0.0
    learners: int = 0  # distinct over the whole period (not the sum of the buckets)
    online_seconds: float = 0.0
    credits: int = 0
    completions: int = 0


@dataclass
class TrendReport:
    unit: Unit
    start: date
    end: date
    granularity: str
    automatic: bool  # the granularity was chosen from the period's length
    user: User | None
    course: Course | None
    category: Category | None
    points: list[Point]
    totals: Totals = field(default_factory=Totals)

    @property
    def narrowed(self) -> bool:
        """A course or category narrows study time, learners, credits and completions (not time online)."""
        return self.course is not None or self.category is not None


def auto_granularity(start: date, end: date) -> str:
    days = (end - start).days + 1
    return "day" if days <= AUTO_DAY_MAX else "week" if days <= AUTO_WEEK_MAX else "month"


def bucket_key(day: date, granularity: str) -> date:
    """The calendar start of the bucket holding `day` (Monday for weeks)."""
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def _next_key(key: date, granularity: str) -> date:
    if granularity == "week":
        return key + timedelta(days=7)
    if granularity == "month":
        return date(key.year + key.month // 12, key.month % 12 + 1, 1)
    return key + timedelta(days=1)


def buckets(start: date, end: date, granularity: str) -> list[Point]:
    """Every bucket of [start, end], clipped to it."""
    out, key = [], bucket_key(start, granularity)
    while key <= end:
        nxt = _next_key(key, granularity)
        last = nxt - timedelta(days=1)
        out.append(Point(key=key, start=max(key, start), end=min(last, end), partial=key < start or last > end))
        key = nxt
    return out


def _dialect() -> str:
    return db.engine.dialect.name


def bucket_start(day_expr, granularity: str):
    """SQL for the calendar start of the day, week (Monday) or month holding a date expression, as a
    DATE. Constants are literal (not bound) so that PostgreSQL sees the same expression in SELECT and
    GROUP BY."""
    if granularity not in GRANULARITIES:
        raise ValueError(granularity)
    if _dialect() == "postgresql":
        # days are truncated too: grouped by the bare column, the planner walks the day index to feed
        # count(DISTINCT) sorted input (three times slower on the city than a scan and a sort)
        unit = literal_column(f"'{granularity}'")  # ISO weeks start on Monday
        return cast(func.date_trunc(unit, cast(day_expr, DateTime)), Date)
    if granularity == "day":
        return day_expr
    if granularity == "week":  # SQLite: on to Sunday (or stay), back six days
        expr = func.date(day_expr, literal_column("'weekday 0'"), literal_column("'-6 days'"))
    else:
        expr = func.date(day_expr, literal_column("'start of month'"))
    return type_coerce(expr, Date)  # SQLite answers text; the Date type parses it


def local_day(ts_expr, when: date):
    """SQL for the platform's local date of a stored UTC timestamp."""
    tz = current_app.config["BABEL_DEFAULT_TIMEZONE"]
    if _dialect() == "postgresql":
        return cast(func.timezone(literal_column("'" + tz.replace("'", "''") + "'"), ts_expr), Date)
    # SQLite keeps naive UTC text: shift by the zone's offset (Asia/Shanghai has no summer time)
    offset = ZoneInfo(tz).utcoffset(datetime(when.year, when.month, when.day))
    minutes = int(offset.total_seconds() // 60) if offset else 0
    return type_coerce(func.date(ts_expr, literal_column(f"'{minutes:+d} minutes'")), Date)


def _key(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def trend_report(actor: User, flt: ReportFilter, granularity: str | None = None) -> TrendReport:
    """The trend of `flt` (unit subtree, cadre, course or category, period) per day, week or month;
    None or an unknown granularity chooses one from the period's length."""
    require_role(actor, *STAFF_ROLES)
    require_unit(actor, flt.unit)  # resolve_filter checked them for its caller; this is `actor`'s report
    if flt.user is not None:
        require_cadre_user(actor, flt.user)
    automatic = granularity not in GRANULARITIES
    g = auto_granularity(flt.start, flt.end) if automatic else granularity
    start, end = flt.start, flt.end

    subtree = select(Unit.id).where(Unit.path.startswith(flt.unit.path))
    cadre = (User.unit_id.in_(subtree)) & (User.role == Role.CADRE) & User.is_active.is_(True)
    if flt.user is not None:
        cadre = cadre & (User.id == flt.user.id)
    course_id = flt.course.id if flt.course else None
    category_id = flt.category.id if flt.category and course_id is None else None

    def narrow_study(q):
        if course_id is not None:
            return q.where(StudyDay.course_id == course_id)
        if category_id is not None:
            return q.join(Course, Course.id == StudyDay.course_id).where(Course.category_id == category_id)
        return q

    in_period = (StudyDay.day >= start) & (StudyDay.day <= end)
    b = bucket_start(StudyDay.day, g).label("bucket")
    study = narrow_study(select(b, func.sum(StudyDay.seconds), func.count(distinct(StudyDay.user_id)))
                         .join(User, User.id == StudyDay.user_id).where(cadre, in_period)).group_by(b)
    # distinct learners over the period: cadres with a study day in it (an index probe per cadre)
    learners = select(func.count(User.id)).where(
        cadre, narrow_study(select(StudyDay.id).where(StudyDay.user_id == User.id, in_period)).exists())

    b = bucket_start(OnlineDay.day, g).label("bucket")
    online = (select(b, func.sum(OnlineDay.seconds)).join(User, User.id == OnlineDay.user_id)
              .where(cadre, OnlineDay.day >= start, OnlineDay.day <= end).group_by(b))

    b = bucket_start(CreditEntry.earned_on, g).label("bucket")
    earned = (select(b, func.sum(CreditEntry.credits)).join(User, User.id == CreditEntry.user_id)
              .where(cadre, CreditEntry.earned_on >= start, CreditEntry.earned_on <= end))
    earned = narrow_credits(earned, course_id, category_id).group_by(b)

    # completions: the local day of completed_at, looked for between the UTC instants that bound the period
    t0, t1 = period_instants(start, end)
    b = bucket_start(local_day(CourseProgress.completed_at, start), g).label("bucket")
    completed = (select(b, func.count(CourseProgress.id)).join(User, User.id == CourseProgress.user_id)
                 .where(cadre, CourseProgress.completed_at >= t0, CourseProgress.completed_at < t1))
    if course_id is not None:
        completed = completed.where(CourseProgress.course_id == course_id)
    elif category_id is not None:
        completed = (completed.join(Course, Course.id == CourseProgress.course_id)
                     .where(Course.category_id == category_id))
    completed = completed.group_by(b)

    points = buckets(start, end, g)
    by_key = {p.key: p for p in points}
    spare = Point(key=start, start=start, end=end)  # never shown: a bucket SQL and Python disagree on

    def at(key) -> Point:
        return by_key.get(_key(key), spare)

    for key, seconds, n in db.session.execute(study):
        at(key).study_seconds, at(key).learners = float(seconds or 0), int(n or 0)
    for key, seconds in db.session.execute(online):
        at(key).online_seconds = float(seconds or 0)
    for key, total in db.session.execute(earned):
        at(key).credits = int(total or 0)
    for key, n in db.session.execute(completed):
        at(key).completions = int(n or 0)

    totals = Totals(cadres=db.session.scalar(select(func.count(User.id)).where(cadre)) or 0,
                    study_seconds=sum(p.study_seconds for p in points),
                    learners=db.session.scalar(learners) or 0,
                    online_seconds=sum(p.online_seconds for p in points),
                    credits=sum(p.credits for p in points), completions=sum(p.completions for p in points))
    return TrendReport(unit=flt.unit, start=start, end=end, granularity=g, automatic=automatic, user=flt.user,
                       course=flt.course, category=flt.category if course_id is None else None, points=points,
                       totals=totals)


# JSON and files ------------------------------------------------------------------------------

def granularity_label(g: str) -> str:
    return {"day": _("按日"), "week": _("按周"), "month": _("按月")}[g]


def trend_dict(r: TrendReport) -> dict:
    """The report as the trendReport operation answers it (the files carry the same numbers)."""
    t = r.totals
    return {
        "unit": {"id": r.unit.id, "name": r.unit.name}, "start": r.start, "end": r.end,
        "granularity": r.granularity, "automatic": r.automatic,
        "user": {"id": r.user.id, "name": r.user.name} if r.user else None,
        "course": {"id": r.course.id, "name": r.course.title} if r.course else None,
        "category": {"id": r.category.id, "name": r.category.name} if r.category else None,
        "online_narrowed": False,
        "totals": {"cadres": t.cadres, "study_hours": hours(t.study_seconds), "active_learners": t.learners,
                   "active_pct": pct(t.learners, t.cadres), "online_hours": hours(t.online_seconds),
                   "credits": t.credits, "completions": t.completions},
        "points": [{"start": p.start, "end": p.end, "days": p.days, "partial": p.partial,
                    "study_hours": hours(p.study_seconds), "active_learners": p.learners,
                    "online_hours": hours(p.online_seconds), "credits": p.credits, "completions": p.completions}
                   for p in r.points],
    }


def point_headers() -> list[str]:
    return [_("开始日期"), _("结束日期"), _("学习时长(小时)"), _("活跃学员(人)"), _("在线时长(小时)"), _("学分"),
            _("完成课程(门次)")]


def trend_sheets(d: dict) -> list:
    """The trend (from trend_dict) as export sheets: the same numbers as the JSON."""
    t = d["totals"]
    narrowed = d["course"]["name"] if d["course"] else d["category"]["name"] if d["category"] else _("全部")
    rows = [[p["start"], p["end"], p["study_hours"], p["active_learners"], p["online_hours"], p["credits"],
             p["completions"]] for p in d["points"]]
    return [
        (_("趋势"), point_headers(), rows),
        (_("合计"), [_("单位"), _("干部"), _("开始日期"), _("结束日期"), _("统计粒度"), _("课程/分类"), _("学习时长(小时)"),
                   _("活跃学员(人)"), _("活跃率(%)"), _("在线时长(小时)"), _("学分"), _("完成课程(门次)")],
         [[d["unit"]["name"] + (f" · {d['user']['name']}" if d["user"] else ""), t["cadres"], d["start"], d["end"],
           granularity_label(d["granularity"]), narrowed, t["study_hours"], t["active_learners"], t["active_pct"],
           t["online_hours"], t["credits"], t["completions"]]]),
    ]
