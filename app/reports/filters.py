"""The filters every report takes, in any combination: unit (a subtree), cadre, course, category and
period (this year so far by default). Resolved once, with the caller's scope checked: a unit, cadre or
course outside it is 'not found', never shown."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _

from app.accounts.models import Unit, User
from app.accounts.scope import STAFF_ROLES, require_cadre_user, require_role, require_unit
from app.catalogue.models import Category, Course
from app.credits import services as credits
from app.errors import NotFound, Invalid
from app.extensions import db

MAX_PERIOD_DAYS = 3 * 366 + 1
EARLIEST = date(2000, 1, 1)  # no report reaches before the platform's records could
MAX_ID = 2**31 - 1
# ledger entries that belong to a course: source_id is the course's id (reversals repeat the source)
COURSE_SOURCES = ("course_credits", "course_hours")


@dataclass(frozen=True)
class ReportFilter:
    unit: Unit  # the subtree reported on (the cadre's unit when a cadre is chosen)
    start: date
    end: date
    user: User | None = None
    course: Course | None = None
    category: Category | None = None  # ignored when a course is chosen (the course decides)

    @property
    def year(self) -> int:
        return self.end.year

    def args(self) -> dict:
        """The filter as query arguments (for links and exports)."""
        out = {"unit": self.unit.id, "start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.user is not None:
            out["cadre"] = self.user.id
        if self.course is not None:
            out["course"] = self.course.id
        elif self.category is not None:
            out["category"] = self.category.id
        return out


def default_period() -> tuple[date, date]:
    today = credits.today()
    return date(today.year, 1, 1), today


def resolve_filter(actor: User, *, unit_id: int | None = None, user_id: int | None = None,
                   course_id: int | None = None, category_id: int | None = None,
                   start: date | None = None, end: date | None = None, strict: bool = True) -> ReportFilter:
    """The filter for `actor`. strict (the API): end before start or a period over three years is a
    Invalid; not strict (the pages): the dates are swapped or the start moved."""
    require_role(actor, *STAFF_ROLES)
    for name, value in (("unit_id", unit_id), ("user_id", user_id), ("course_id", course_id),
                        ("category_id", category_id)):
        if value is not None and not 1 <= value <= MAX_ID:
            raise NotFound(_("筛选条件无效"), field=name)
    d_start, d_end = default_period()
    latest = d_end + timedelta(days=366)
    for name, value in (("start", start), ("end", end)):
        if value is not None and not EARLIEST <= value <= latest:
            if strict:
                raise Invalid(_("日期应在 %(a)s 至 %(b)s 之间", a=EARLIEST.isoformat(), b=latest.isoformat()), field=name)
            start, end = (None, end) if name == "start" else (start, None)
    start, end = start or (date(end.year, 1, 1) if end else d_start), end or max(d_end, start or d_end)
    if end < start:
        if strict:
            raise Invalid(_("结束日期不能早于开始日期"), field="end")
        start, end = end, start
    if (end - start).days > MAX_PERIOD_DAYS:
        if strict:
            raise Invalid(_("统计期间最长三年"), field="start")
        start = date(end.year - 2, 1, 1)
    user = None
    if user_id is not None:
        user = require_cadre_user(actor, db.session.get(User, user_id))
    unit = require_unit(actor, db.session.get(Unit, unit_id) if unit_id is not None else (
        user.unit if user is not None else actor.unit))
    if user is not None and not user.unit.path.startswith(unit.path):
        raise NotFound(_("学员不存在"))
    course = category = None
    if course_id is not None:
        course = db.session.get(Course, course_id)
        if course is None:
            raise NotFound(_("课程不存在"))
    elif category_id is not None:
        category = db.session.get(Category, category_id)
        if category is None:
            raise NotFound(_("分类不存在"))
    return ReportFilter(unit=unit, start=start, end=end, user=user, course=course, category=category)


def period_instants(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants [from, to) of the platform's local days start … end (for datetime columns)."""
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    lo = datetime.combine(start, time.min, tzinfo=tz)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    return lo.astimezone(timezone.utc), hi.astimezone(timezone.utc)


def narrow_credits(q, course_id: int | None, category_id: int | None):
    """A query over credit_entries narrowed to a course's (or a category's courses') credits and hours;
    other sources (training, papers on free topics, rewards, adjustments) drop out."""
    from app.credits.models import CreditEntry

    if course_id is not None:
        return q.where(CreditEntry.source_type.in_(COURSE_SOURCES), CreditEntry.source_id == course_id)
    if category_id is not None:
        return (q.join(Course, Course.id == CreditEntry.source_id)
                .where(CreditEntry.source_type.in_(COURSE_SOURCES), Course.category_id == category_id))
    return q
