"""A cadre's learning archive (学习档案) for one assessment year: courses completed with their class
hours, exam results, papers, offline training, credit applications, the ledger with credits by kind,
the assessment (carried in from the previous year included), study time and time online by month;
and the verification codes (验证码) that a printed archive carries.

Read-only across the domains, except for issuing a certificate. Activities belong to a year by:
  courses       the local day they were completed;
  exam attempts the local day they were closed (open attempts have no result yet);
  papers        approved: the day of approval; else the day the current version was handed in
                (withdrawn papers are left out);
  training      the year its ledger entry counts in (its end date without an entry);
  applications  the year their entry counts in once approved, else the year the rules of which
                set the amount (withdrawn applications are left out).
Credits and hours are always the ledger's, reversals deducted."""
from __future__ import annotations

import base64
import re
import secrets
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.accounts.models import Role, User
from app.accounts.scope import require_cadre_user
from app.audit.services import CLI, Origin, record_event
from app.catalogue.models import Course
from app.credits import services as credits
from app.credits.applications import counting_year
from app.credits.labels import (
    APPLICATION_STATE_LABELS, CATEGORY_LABELS, CYCLE_STATUS_LABELS, KIND_LABELS, RANK_LABELS, SOURCE_LABELS,
    STATUS_LABELS,
)
from app.credits.models import (
    CATEGORY_OF, ApplicationState, CreditApplication, CreditEntry, CreditKind, TrainingAttendance,
)
from app.credits.rules import LEVEL_LABELS
from app.db import utcnow
from app.errors import NotFound, PermissionDenied
from app.exams.models import ExamAttempt, Paper, PaperState
from app.extensions import db
from app.learning import services as learning
from app.learning.models import CourseProgress, OnlineDay, StudyDay
from app.reports.models import ArchiveCertificate

KINDS = ("online_course", "offline", "degree", "book", "article", "award", "adjustment")
CATEGORIES = ("basic", "additional", "reward", "adjustment")
CODE_BYTES = 10  # 80 random bits: 16 base32 characters
MIN_YEAR, MAX_YEAR = 2000, 2100


@dataclass
class CourseRow:
    course_id: int
    title: str
    completed_on: date
    class_hours: int  # the ledger's hours for completing it (reversals deducted)
    credits: int  # the ledger's credits for passing its exam or paper (reversals deducted)
    credits_via: str | None  # "exam" / "paper" / None
    best_score: int | None  # the best exam score so far
    study_seconds: float  # credited study time on this course in the year


@dataclass
class ExamRow:
    attempt_id: int
    course_id: int
    course_title: str
    number: int
    closed_on: date
    score: int | None
    pass_mark: int
    passed: bool
    credits: int  # what this attempt put in the ledger (0 but for the course's first pass)


@dataclass
class PaperRow:
    paper_id: int
    title: str
    course_title: str | None
    state: str
    versions: int
    on: date
    score: int | None
    credits: int  # the ledger's, reversals deducted (0 unless approved)


@dataclass
class TrainingRow:
    attendance_id: int
    name: str
    organiser: str
    start_date: date
    end_date: date
    days: int
    credits: int
    hours: int
    reversed: bool


@dataclass
class ApplicationRow:
    application_id: int
    kind: str
    level: str
    title: str
    event_date: date
    state: str
    credits: int  # approved: the ledger's (reversals deducted); else the amount applied for
    reversed: bool


@dataclass
class EntryRow:
    entry_id: int
    earned_on: date
    kind: str
    category: str
    source_type: str
    title: str
    credits: int
    hours: int
    reverses_id: int | None
    reversed: bool


@dataclass
class MonthRow:
    month: int
    study_seconds: float
    online_seconds: float


@dataclass
class Totals:
    courses_completed: int = 0
    course_hours: int = 0
    exams_taken: int = 0
    exams_passed: int = 0
    papers: int = 0
    papers_approved: int = 0
    trainings: int = 0
    training_days: int = 0
    applications: int = 0
    applications_approved: int = 0
    study_seconds: float = 0.0
    online_seconds: float = 0.0

    @property
    def study_hours(self) -> float:
        return round(self.study_seconds / 3600, 2)

    @property
    def online_hours(self) -> float:
        return round(self.online_seconds / 3600, 2)


@dataclass
class Archive:
    user: User
    year: int
    today: date
    unit_name: str
    rank: str
    assessment: credits.Assessment
    courses: list[CourseRow] = field(default_factory=list)
    exams: list[ExamRow] = field(default_factory=list)
    papers: list[PaperRow] = field(default_factory=list)
    trainings: list[TrainingRow] = field(default_factory=list)
    applications: list[ApplicationRow] = field(default_factory=list)
    entries: list[EntryRow] = field(default_factory=list)
    months: list[MonthRow] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)

    @property
    def result(self) -> credits.YearResult:
        return self.assessment.result

    @property
    def by_kind(self) -> dict[str, dict[str, int]]:
        """Credits and hours of every kind (zeros included), reversals deducted."""
        return {k: dict(self.assessment.by_kind.get(k, {"credits": 0, "hours": 0})) for k in KINDS}

    @property
    def by_category(self) -> dict[str, int]:
        r = self.result
        return {"basic": r.basic, "additional": r.additional, "reward": r.reward, "adjustment": r.adjustment}

    @property
    def status(self) -> str:
        return "qualified" if self.result.qualified else "unqualified"

    @property
    def in_progress(self) -> bool:
        """The year is not over and not closed: the status is only 'so far'."""
        return not self.result.closed and self.year >= self.today.year


def _local(t: datetime | None) -> date | None:
    return learning.local_day(t) if t is not None else None


def _net_by_source(user_id: int, source_type: str) -> dict[int, tuple[int, int]]:
    """Net credits and hours per source id of one type (a reversal repeats its original's source)."""
    rows = db.session.execute(
        select(CreditEntry.source_id, func.sum(CreditEntry.credits), func.sum(CreditEntry.hours))
        .where(CreditEntry.user_id == user_id, CreditEntry.source_type == source_type,
               CreditEntry.source_id.is_not(None))
        .group_by(CreditEntry.source_id))
    return {sid: (int(c or 0), int(h or 0)) for sid, c, h in rows}


def _originals(user_id: int, source_type: str) -> dict[int, CreditEntry]:
    """The (unreversed-or-not) original entry of each source of one type. Reversals are left out here
    rather than in SQL: with "reverses_id IS NULL" SQLite's planner picks the reverses_id index, which
    every original matches (200 ms on a city instead of the cadre's own handful of rows)."""
    return {e.source_id: e for e in db.session.scalars(select(CreditEntry).where(
        CreditEntry.user_id == user_id, CreditEntry.source_type == source_type,
        CreditEntry.source_id.is_not(None))) if e.reverses_id is None}


def _reversed_ids(user_id: int) -> set[int]:
    return set(db.session.scalars(select(CreditEntry.reverses_id).where(
        CreditEntry.user_id == user_id, CreditEntry.reverses_id.is_not(None))))


def _courses(user: User, year: int, study_by_course: dict[int, float]) -> list[CourseRow]:
    hours = _net_by_source(user.id, "course_hours")
    earned = _net_by_source(user.id, "course_credits")
    via = {sid: (e.details or {}).get("via") for sid, e in _originals(user.id, "course_credits").items()}
    best = dict(db.session.execute(
        select(ExamAttempt.course_id, func.max(ExamAttempt.score))
        .where(ExamAttempt.user_id == user.id, ExamAttempt.closed_at.is_not(None))
        .group_by(ExamAttempt.course_id)).tuples().all())
    rows = []
    for cp, title in db.session.execute(
            select(CourseProgress, Course.title).join(Course, Course.id == CourseProgress.course_id)
            .where(CourseProgress.user_id == user.id, CourseProgress.completed_at.is_not(None))
            .order_by(CourseProgress.completed_at, CourseProgress.id)).tuples():
        on = _local(cp.completed_at)
        if on.year != year:
            continue
        rows.append(CourseRow(cp.course_id, title, on, hours.get(cp.course_id, (0, 0))[1],
                              earned.get(cp.course_id, (0, 0))[0], via.get(cp.course_id), best.get(cp.course_id),
                              round(study_by_course.get(cp.course_id, 0.0), 1)))
    return rows


def _exams(user: User, year: int) -> list[ExamRow]:
    rows = []
    reversed_ids = _reversed_ids(user.id)
    for a in db.session.scalars(
            select(ExamAttempt).where(ExamAttempt.user_id == user.id, ExamAttempt.closed_at.is_not(None))
            .options(selectinload(ExamAttempt.course), selectinload(ExamAttempt.entry))
            .order_by(ExamAttempt.closed_at, ExamAttempt.id)):
        on = _local(a.closed_at)
        if on.year != year:
            continue
        earned = a.entry.credits if a.entry is not None and a.entry.id not in reversed_ids else 0
        rows.append(ExamRow(a.id, a.course_id, a.course.title, a.number, on, a.score, a.pass_mark,
                            bool(a.passed), earned))
    return rows


def _papers(user: User, year: int) -> list[PaperRow]:
    reversed_ids = _reversed_ids(user.id)
    rows = []
    for p in db.session.scalars(
            select(Paper).where(Paper.user_id == user.id, Paper.state != PaperState.WITHDRAWN)
            .options(selectinload(Paper.course), selectinload(Paper.versions), selectinload(Paper.entry))
            .order_by(Paper.submitted_at, Paper.id)):
        on = _local(p.decided_at if p.state == PaperState.APPROVED and p.decided_at else p.submitted_at)
        if on.year != year:
            continue
        # the entry is set only when the paper itself earned (a course's credits are earned once)
        earned = p.entry.credits if p.entry is not None and p.entry.id not in reversed_ids else 0
        rows.append(PaperRow(p.id, p.title, p.course.title if p.course else None, p.state.value,
                             len(p.versions), on, p.score, earned))
    return rows


def _trainings(user: User, year: int) -> list[TrainingRow]:
    net = _net_by_source(user.id, "offline_training")
    originals = _originals(user.id, "offline_training")
    reversed_ids = _reversed_ids(user.id)
    rows = []
    for att in db.session.scalars(
            select(TrainingAttendance).where(TrainingAttendance.user_id == user.id)
            .options(selectinload(TrainingAttendance.training_class)).order_by(TrainingAttendance.id)):
        cls = att.training_class
        entry = originals.get(att.id)
        counts_in = entry.year if entry is not None else cls.end_date.year
        if counts_in != year:
            continue
        c, h = net.get(att.id, (0, 0))
        rows.append(TrainingRow(att.id, cls.name, cls.organiser, cls.start_date, cls.end_date, cls.days, c, h,
                                entry is not None and entry.id in reversed_ids))
    rows.sort(key=lambda r: (r.start_date, r.attendance_id))
    return rows


def _applications(user: User, year: int) -> list[ApplicationRow]:
    net = _net_by_source(user.id, "application")
    reversed_ids = _reversed_ids(user.id)
    rows = []
    for app_ in db.session.scalars(
            select(CreditApplication).where(CreditApplication.user_id == user.id,
                                            CreditApplication.state != ApplicationState.WITHDRAWN)
            .options(selectinload(CreditApplication.entry)).order_by(CreditApplication.submitted_at,
                                                                     CreditApplication.id)):
        entry = app_.entry
        counts_in = entry.year if entry is not None else counting_year(app_.kind, app_.event_date, app_.study_year)
        if counts_in != year:
            continue
        amount = net.get(app_.id, (0, 0))[0] if entry is not None else app_.amount
        rows.append(ApplicationRow(app_.id, app_.kind.value, app_.level, app_.title, app_.event_date,
                                   app_.state.value, amount, entry is not None and entry.id in reversed_ids))
    return rows


def _entries(user: User, year: int) -> list[EntryRow]:
    entries = list(db.session.scalars(select(CreditEntry).where(CreditEntry.user_id == user.id,
                                                                CreditEntry.year == year)
                                      .order_by(CreditEntry.earned_on, CreditEntry.id)))
    reversed_ids = credits.reversed_among(entries)
    return [EntryRow(e.id, e.earned_on, e.kind.value, e.category.value, e.source_type, e.title, e.credits, e.hours,
                     e.reverses_id, e.id in reversed_ids) for e in entries]


def _study(user: User, year: int) -> tuple[list[MonthRow], dict[int, float]]:
    start, end = date(year, 1, 1), date(year, 12, 31)
    study: dict[int, float] = defaultdict(float)
    by_course: dict[int, float] = defaultdict(float)
    for day, course_id, seconds in db.session.execute(
            select(StudyDay.day, StudyDay.course_id, StudyDay.seconds)
            .where(StudyDay.user_id == user.id, StudyDay.day >= start, StudyDay.day <= end)):
        study[day.month] += float(seconds or 0)
        by_course[course_id] += float(seconds or 0)
    online: dict[int, float] = defaultdict(float)
    for day, seconds in db.session.execute(
            select(OnlineDay.day, OnlineDay.seconds)
            .where(OnlineDay.user_id == user.id, OnlineDay.day >= start, OnlineDay.day <= end)):
        online[day.month] += float(seconds or 0)
    months = [MonthRow(m, round(study[m], 1), round(online[m], 1)) for m in range(1, 13)]
    return months, by_course


def person_archive(actor: User, user: User | None, year: int) -> Archive:
    """A cadre's archive of one year; the cadre's own, or one in the actor's unit subtree (else NotFound)."""
    user = require_cadre_user(actor, user)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise NotFound(_("年份无效"))
    assessment = credits.assess_cadre(actor, user, year)
    months, by_course = _study(user, year)
    a = Archive(user=user, year=year, today=credits.today(), unit_name=user.unit.name,
                rank=assessment.result.rank, assessment=assessment,
                courses=_courses(user, year, by_course), exams=_exams(user, year), papers=_papers(user, year),
                trainings=_trainings(user, year), applications=_applications(user, year),
                entries=_entries(user, year), months=months)
    t = a.totals
    t.courses_completed = len(a.courses)
    t.course_hours = sum(c.class_hours for c in a.courses)
    t.exams_taken = len(a.exams)
    t.exams_passed = sum(1 for e in a.exams if e.passed)
    t.papers = len(a.papers)
    t.papers_approved = sum(1 for p in a.papers if p.state == PaperState.APPROVED.value)
    t.trainings = len(a.trainings)
    t.training_days = sum(r.days for r in a.trainings if not r.reversed)
    t.applications = len(a.applications)
    t.applications_approved = sum(1 for r in a.applications if r.state == ApplicationState.APPROVED.value)
    t.study_seconds = round(sum(m.study_seconds for m in months), 1)
    t.online_seconds = round(sum(m.online_seconds for m in months), 1)
    return a


def archive_years(user: User) -> list[int]:
    """Years worth offering for a cadre's archive, newest first: this year back to the earliest of the
    current cycle's first year and the first year with a ledger entry."""
    this = credits.today().year
    first, _last = credits.get_rules(this).cycle_of(this)
    earliest = db.session.scalar(select(func.min(CreditEntry.year)).where(CreditEntry.user_id == user.id))
    start = max(MIN_YEAR, min(first, earliest or first))
    return list(range(this, start - 1, -1))


# --- certificates --------------------------------------------------------------------------------

def summary_of(a: Archive) -> dict:
    """The key totals a certificate keeps (what /verify shows)."""
    r, t = a.result, a.totals
    return {"name": a.user.name, "unit": a.unit_name, "rank": a.rank, "year": a.year,
            "requirement": r.requirement, "earned": r.earned, "carried_in": r.carried_in, "total": r.total,
            "qualified": r.qualified, "closed": r.closed, "in_progress": a.in_progress, "hours": r.hours,
            "by_category": a.by_category,
            "courses_completed": t.courses_completed, "course_hours": t.course_hours,
            "exams_passed": t.exams_passed, "papers_approved": t.papers_approved, "trainings": t.trainings,
            "study_seconds": t.study_seconds, "online_seconds": t.online_seconds,
            "as_of": a.today.isoformat()}


def _new_code() -> str:
    return base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode("ascii").rstrip("=")


def normalize_code(raw: str | None) -> str | None:
    """Upper case without separators; letters a reader may mistake for digits put right (base32 has no
    0, 1 or 8). None for something that cannot be a code."""
    s = re.sub(r"[\s\-–—]", "", (raw or "")).upper().translate(str.maketrans("018", "OIB"))
    return s if re.fullmatch(r"[A-Z2-7]{16,32}", s) else None


def display_code(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def issue_certificate(actor: User, user: User | None, year: int, *, origin: Origin = CLI) -> ArchiveCertificate:
    """Issue a verification code for the archive of a year: by the cadre, or by an administrator of the
    cadre's unit subtree (viewers only read). Keeps a snapshot of the key totals."""
    archive = person_archive(actor, user, year)
    if actor.id != archive.user.id and actor.role not in (Role.NETADMIN, Role.ORGADMIN):
        raise PermissionDenied(_("您没有执行此操作的权限"))
    for _attempt in range(5):
        cert = ArchiveCertificate(code=_new_code(), user_id=archive.user.id, year=year, issued_at=utcnow(),
                                  issued_by_id=actor.id, summary=summary_of(archive))
        try:
            with db.session.begin_nested():
                db.session.add(cert)
            break
        except IntegrityError:  # 80 random bits: practically never
            continue
    else:  # pragma: no cover
        raise RuntimeError("could not draw a unique certificate code")
    target = archive.user
    record_event(actor, "archive.certificate", target=target, target_type="user", target_label=target.name,
                 unit=target.unit, origin=origin, year=year, certificate=cert.id)
    return cert


def get_certificate(actor: User, user: User, code: str | None) -> ArchiveCertificate | None:
    """A certificate of this cadre by its code, if the actor may see the cadre's archive."""
    require_cadre_user(actor, user)
    code = normalize_code(code)
    if code is None:
        return None
    return db.session.scalar(select(ArchiveCertificate).where(ArchiveCertificate.code == code,
                                                              ArchiveCertificate.user_id == user.id))


def certificates_of(actor: User, user: User, year: int) -> list[ArchiveCertificate]:
    require_cadre_user(actor, user)
    return list(db.session.scalars(select(ArchiveCertificate).where(
        ArchiveCertificate.user_id == user.id, ArchiveCertificate.year == year)
        .options(selectinload(ArchiveCertificate.issued_by)).order_by(ArchiveCertificate.id.desc())))


@dataclass
class Verified:
    code: str
    year: int
    issued_at: datetime
    masked_name: str
    unit: str
    summary: dict


def mask_name(name: str) -> str:
    """The family name (first character) and one * for each other character: 李明 → 李*."""
    name = (name or "").strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else "*"


def verify(code: str | None) -> Verified | None:
    """What a printed archive's code confirms, or None for a code never issued. Public: the name is
    masked and the ID number never shown."""
    code = normalize_code(code)
    if code is None:
        return None
    cert = db.session.scalar(select(ArchiveCertificate).where(ArchiveCertificate.code == code))
    if cert is None:
        return None
    s = dict(cert.summary or {})
    return Verified(code=cert.code, year=cert.year, issued_at=cert.issued_at, masked_name=mask_name(s.pop("name", "")),
                    unit=s.get("unit", ""), summary=s)


# --- flat forms (the API's JSON and the exports) -------------------------------------------------

def archive_dict(a: Archive) -> dict:
    """The archive as plain data (dates as ISO strings by the JSON encoder)."""
    r, c = a.result, a.assessment.cycle
    return {
        "user": {"id": a.user.id, "name": a.user.name}, "unit": {"id": a.user.unit_id, "name": a.unit_name},
        "rank": a.rank, "year": a.year, "as_of": a.today,
        "assessment": {"requirement": r.requirement, "earned": r.earned, "carried_in": r.carried_in,
                       "total": r.total, "missing": r.missing, "carried_out": r.carried_out,
                       "qualified": r.qualified, "status": a.status, "closed": r.closed,
                       "in_progress": a.in_progress, "hours": r.hours},
        "by_category": a.by_category, "by_kind": a.by_kind,
        "cycle": {"first": c.first, "last": c.last, "credits": c.credits, "credits_required": c.credits_required,
                  "hours": c.hours, "hours_required": c.hours_required, "status": c.status},
        "totals": {**asdict(a.totals), "study_hours": a.totals.study_hours, "online_hours": a.totals.online_hours},
        "courses": [asdict(x) for x in a.courses], "exams": [asdict(x) for x in a.exams],
        "papers": [asdict(x) for x in a.papers], "trainings": [asdict(x) for x in a.trainings],
        "applications": [asdict(x) for x in a.applications], "entries": [asdict(x) for x in a.entries],
        "months": [asdict(x) for x in a.months],
    }


PAPER_STATE_LABELS = {"submitted": _l("待评审"), "returned": _l("退回修改"), "approved": _l("已通过"),
                      "withdrawn": _l("已撤回")}
VIA_LABELS = {"exam": _l("考试"), "paper": _l("论文")}


def status_label(a: Archive) -> str:
    """合格/不合格 for a closed or past year; 已达标/未达标 (so far) for the year under way."""
    if a.in_progress:
        return str(_l("已达标")) if a.result.qualified else str(_l("未达标"))
    return str(STATUS_LABELS[a.result.qualified])


def hours(seconds: float) -> float:
    return round((seconds or 0) / 3600, 2)


def archive_sheets(a: Archive) -> list:
    """The archive as tables (title, headers, rows) for XLSX and CSV: the same numbers as the JSON."""
    r, t, c = a.result, a.totals, a.assessment.cycle
    s = lambda x: str(x)  # noqa: E731 — lazy labels to text
    summary = [
        (s(_l("姓名")), a.user.name), (s(_l("单位")), a.unit_name), (s(_l("职级")), s(RANK_LABELS[a.rank])),
        (s(_l("考核年度")), a.year), (s(_l("统计截至")), a.today),
        (s(_l("年度学分要求")), r.requirement), (s(_l("本年获得学分")), r.earned),
        (s(_l("上年结转学分")), r.carried_in), (s(_l("合计学分")), r.total), (s(_l("考核状态")), status_label(a)),
        (s(_l("本年学时")), r.hours),
        *[(s(CATEGORY_LABELS[k]), v) for k, v in a.by_category.items()],
        (s(_l("完成课程(门)")), t.courses_completed), (s(_l("课程学时")), t.course_hours),
        (s(_l("参加考试(次)")), t.exams_taken), (s(_l("考试合格(次)")), t.exams_passed),
        (s(_l("提交论文(篇)")), t.papers), (s(_l("论文通过(篇)")), t.papers_approved),
        (s(_l("脱产培训(次)")), t.trainings), (s(_l("脱产培训天数")), t.training_days),
        (s(_l("学分申请(项)")), t.applications), (s(_l("申请批准(项)")), t.applications_approved),
        (s(_l("学习时长(小时)")), t.study_hours), (s(_l("在线时长(小时)")), t.online_hours),
        (s(_l("五年周期")), f"{c.first}–{c.last}"), (s(_l("周期累计学分")), c.credits),
        (s(_l("周期学分要求")), c.credits_required), (s(_l("周期累计学时")), c.hours),
        (s(_l("周期学时要求")), c.hours_required), (s(_l("周期状态")), s(CYCLE_STATUS_LABELS[c.status])),
    ]
    by_kind = [(s(CATEGORY_LABELS[CATEGORY_OF[CreditKind(k)].value]), s(KIND_LABELS[k]), v["credits"], v["hours"])
               for k, v in a.by_kind.items()]
    by_kind.append((s(_l("本年合计")), "", r.earned, r.hours))
    reversed_note = s(_l("已撤销"))
    return [
        (s(_l("概要")), [s(_l("项目")), s(_l("数值"))], summary),
        (s(_l("学分构成")), [s(_l("类别")), s(_l("来源")), s(_l("学分")), s(_l("学时"))], by_kind),
        (s(_l("课程学习")), [s(_l("课程")), s(_l("完成日期")), s(_l("学时")), s(_l("学分")), s(_l("取得方式")),
                          s(_l("最高成绩")), s(_l("本年学习时长(小时)"))],
         [(x.title, x.completed_on, x.class_hours, x.credits, s(VIA_LABELS[x.credits_via]) if x.credits_via else "",
           x.best_score, hours(x.study_seconds)) for x in a.courses]),
        (s(_l("考试")), [s(_l("课程")), s(_l("次数")), s(_l("交卷日期")), s(_l("成绩")), s(_l("合格线")),
                       s(_l("结果")), s(_l("学分"))],
         [(x.course_title, x.number, x.closed_on, x.score, x.pass_mark,
           s(_l("合格")) if x.passed else s(_l("不合格")), x.credits) for x in a.exams]),
        (s(_l("论文")), [s(_l("题目")), s(_l("课程")), s(_l("状态")), s(_l("版本")), s(_l("日期")), s(_l("评分")),
                       s(_l("学分"))],
         [(x.title, x.course_title or s(_l("自选题目")), s(PAPER_STATE_LABELS.get(x.state, x.state)), x.versions,
           x.on, x.score, x.credits) for x in a.papers]),
        (s(_l("脱产培训")), [s(_l("培训班")), s(_l("主办单位")), s(_l("开始日期")), s(_l("结束日期")), s(_l("天数")),
                         s(_l("学分")), s(_l("学时")), s(_l("备注"))],
         [(x.name, x.organiser, x.start_date, x.end_date, x.days, x.credits, x.hours,
           reversed_note if x.reversed else "") for x in a.trainings]),
        (s(_l("学分申请")), [s(_l("类别")), s(_l("级别")), s(_l("名称")), s(_l("日期")), s(_l("状态")), s(_l("学分")),
                         s(_l("备注"))],
         [(s(KIND_LABELS[x.kind]), s(LEVEL_LABELS.get(x.level, x.level)), x.title, x.event_date,
           s(APPLICATION_STATE_LABELS.get(x.state, x.state)), x.credits, reversed_note if x.reversed else "")
          for x in a.applications]),
        (s(_l("学分记录")), [s(_l("日期")), s(_l("内容")), s(_l("类别")), s(_l("来源")), s(_l("学分")), s(_l("学时")),
                         s(_l("备注"))],
         [(x.earned_on, x.title, s(KIND_LABELS[x.kind]), s(SOURCE_LABELS.get(x.source_type, x.source_type)),
           x.credits, x.hours, reversed_note if x.reversed else "") for x in a.entries]),
        (s(_l("学习时长")), [s(_l("月份")), s(_l("学习时长(小时)")), s(_l("在线时长(小时)"))],
         [*[(s(_l("%(m)d 月", m=m.month)), hours(m.study_seconds), hours(m.online_seconds)) for m in a.months],
          (s(_l("全年")), t.study_hours, t.online_hours)]),
    ]
