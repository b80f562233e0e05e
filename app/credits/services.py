"""Credits: the append-only ledger (award, reverse, adjust), the rules of each year, assessments
of a cadre and of a unit, and year-end closing."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from app.accounts.models import Cadre, Rank, Role, Unit, User
from app.accounts.scope import STAFF_ROLES, in_scope, require_cadre_user, require_role
from app.audit.services import CLI, Origin, record_event
from app.credits.models import (
    CATEGORY_OF, AssessmentRecord, CreditCategory, CreditEntry, CreditKind, CreditRuleVersion, CreditYear,
)
from app.credits.rules import DEFAULTS, FIELD_BY_KEY, Rules, rank_value, validate_values
from app.db import dialect_insert, utcnow
from app.errors import Conflict, Invalid, NotFound, RuleViolation
from app.extensions import db
from app.learning import services as learning

MAX_ADJUSTMENT = 100
CATEGORIES = (CreditCategory.BASIC, CreditCategory.ADDITIONAL, CreditCategory.REWARD, CreditCategory.ADJUSTMENT)


def today() -> date:
    """The platform's local date (by the learning domain's clock, which tests set)."""
    return learning.local_day(learning.now())


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


# --- rules --------------------------------------------------------------------------------------

def get_rules(year: int) -> Rules:
    """The rules for `year`: frozen at closing for a closed year, else the latest version in force."""
    cy = db.session.get(CreditYear, year)
    if cy is not None and cy.closed_at is not None and cy.rules:
        return Rules({**DEFAULTS, **cy.rules})
    version = db.session.scalar(select(CreditRuleVersion).where(CreditRuleVersion.effective_year <= year)
                                .order_by(CreditRuleVersion.effective_year.desc(), CreditRuleVersion.id.desc())
                                .limit(1))
    return Rules({**DEFAULTS, **(version.values if version else {})})


def rule_history() -> list[CreditRuleVersion]:
    return list(db.session.scalars(select(CreditRuleVersion).order_by(CreditRuleVersion.id.desc())))


def set_rules(actor: User, effective_year: int, raw: dict, *, reason: str | None = None,
              origin: Origin = CLI) -> CreditRuleVersion:
    """Save a new version of the rules in force from `effective_year` on (a closed year keeps its own)."""
    require_role(actor, Role.ORGADMIN)
    if not 2000 <= effective_year <= 2100:
        raise Invalid(_("年份无效"), field="effective_year")
    if is_closed(effective_year):
        raise RuleViolation(_("%(year)d 年度已结转,规则不能再改", year=effective_year), field="effective_year",
                            code="year_closed")
    values, errors = validate_values(raw)
    if errors:
        key, message = next(iter(errors.items()))
        label = FIELD_BY_KEY[key].label if key in FIELD_BY_KEY else key
        raise Invalid(f"{label}: {message}", field=key, errors=errors)
    before = get_rules(effective_year).values
    changed = {k: [before.get(k), v] for k, v in values.items() if before.get(k) != v}
    if not changed:
        raise Invalid(_("规则没有变化"))
    version = CreditRuleVersion(effective_year=effective_year, values=values, reason=(reason or "").strip() or None,
                                created_by_id=actor.id)
    db.session.add(version)
    db.session.flush()
    record_event(actor, "credits.rules", target=version, target_label=str(effective_year), origin=origin,
                 effective_year=effective_year, changed=changed)
    return version


# --- years ----------------------------------------------------------------------------------------

def is_closed(year: int) -> bool:
    cy = db.session.get(CreditYear, year)
    return cy is not None and cy.closed_at is not None


def closed_years() -> set[int]:
    return set(db.session.scalars(select(CreditYear.year).where(CreditYear.closed_at.is_not(None))))


def _lock_year(year: int, *, exclusive: bool = False) -> CreditYear:
    """The year's row, created if missing and locked: shared by writers of entries, exclusive by the
    closing, so that no entry slips into a year while it is being closed (PostgreSQL; SQLite
    write transactions are serial already)."""
    db.session.execute(dialect_insert(CreditYear).values(year=year).on_conflict_do_nothing())
    q = select(CreditYear).where(CreditYear.year == year).execution_options(populate_existing=True)
    if _is_postgres():
        q = q.with_for_update(read=not exclusive)
    return db.session.scalar(q)


def accounting_year(year: int) -> int:
    """The year an entry made now for `year` counts in: that year, or the first open one after it."""
    while _lock_year(year).closed_at is not None:
        year += 1
    return year


# --- the ledger -------------------------------------------------------------------------------

def award(user_id: int, *, kind: CreditKind, credits: int, hours: int = 0, source_type: str,
          source_id: int | None, title: str, earned_on: date, actor: User | None = None,
          evidence: str | None = None, details: dict | None = None, reason: str | None = None) -> CreditEntry | None:
    """Append an entry; None when this source has already earned (the database decides, so that
    two racing requests cannot both award)."""
    year = accounting_year(earned_on.year)
    stmt = (dialect_insert(CreditEntry).values(
        user_id=user_id, year=year, kind=kind, category=CATEGORY_OF[kind], credits=credits, hours=hours,
        source_type=source_type, source_id=source_id, title=title[:200], reason=reason, evidence=evidence,
        details=details or {}, earned_on=earned_on, recorded_by_id=getattr(actor, "id", None),
        recorded_at=utcnow()).on_conflict_do_nothing().returning(CreditEntry.id))
    entry_id = db.session.execute(stmt).scalar()
    return db.session.get(CreditEntry, entry_id) if entry_id is not None else None


def source_entry(user_id: int, source_type: str, source_id: int) -> CreditEntry | None:
    """The entry a source earned, if any (its reversal, if reversed, is a separate row)."""
    return db.session.scalar(select(CreditEntry).where(
        CreditEntry.user_id == user_id, CreditEntry.source_type == source_type,
        CreditEntry.source_id == source_id, CreditEntry.reverses_id.is_(None)))


def on_course_completed(user_id: int, course_id: int, completed_at: datetime) -> None:
    """A completed course earns its declared class hours (学时), once."""
    from app.catalogue.models import Course

    course = db.session.get(Course, course_id)
    award(user_id, kind=CreditKind.ONLINE_COURSE, credits=0, hours=course.class_hours,
          source_type="course_hours", source_id=course_id, title=course.title,
          earned_on=learning.local_day(completed_at), details={"course_id": course_id})


def award_course_credits(user_id: int, course, *, via: str, via_id: int, earned_at: datetime,
                         amount: int | None = None, actor: User | None = None) -> CreditEntry | None:
    """A course's credits (第七条(二)), earned once per cadre and course whether by its exam or by
    a paper: the second way earns nothing more. `amount` defaults to the course's credits (a paper
    reviewer may grant fewer)."""
    return award(user_id, kind=CreditKind.ONLINE_COURSE, credits=course.credits if amount is None else amount,
                 actor=actor, source_type="course_credits",
                 source_id=course.id, title=course.title, earned_on=learning.local_day(earned_at),
                 details={"course_id": course.id, "via": via, "via_id": via_id})


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise Invalid(_("请填写原因"), field="reason")
    return reason[:500]


def reverse_entry(actor: User, entry_id: int, *, reason: str | None, origin: Origin = CLI) -> CreditEntry:
    """Cancel an entry by a new one of the opposite amount (the original stays in the history)."""
    entry = db.session.get(CreditEntry, entry_id)
    if entry is None:
        raise NotFound(_("学分记录不存在"))
    require_cadre_user(actor, db.session.get(User, entry.user_id))  # 404 outside the actor's subtree
    require_role(actor, Role.ORGADMIN)
    reason = _reason(reason)
    if entry.reverses_id is not None:
        raise RuleViolation(_("撤销记录本身不能再撤销"), code="is_reversal")
    year = accounting_year(entry.year)
    stmt = (dialect_insert(CreditEntry).values(
        user_id=entry.user_id, year=year, kind=entry.kind, category=entry.category, credits=-entry.credits,
        hours=-entry.hours, source_type=entry.source_type, source_id=entry.source_id, reverses_id=entry.id,
        title=_("撤销:%(title)s", title=entry.title)[:200], reason=reason, details={"reverses": entry.id},
        earned_on=today(), recorded_by_id=actor.id, recorded_at=utcnow())
        .on_conflict_do_nothing().returning(CreditEntry.id))
    new_id = db.session.execute(stmt).scalar()
    if new_id is None:
        raise Conflict(_("该记录已经撤销过"), code="already_reversed")
    user = db.session.get(User, entry.user_id)
    record_event(actor, "credits.reverse", target=user, target_type="user", target_label=user.name,
                 unit=user.unit, origin=origin, entry=entry.id, reversal=new_id, credits=-entry.credits,
                 hours=-entry.hours, year=year, reason=reason)
    return db.session.get(CreditEntry, new_id)


def adjust_credits(actor: User, user: User, *, credits: int, hours: int = 0, reason: str | None,
                   year: int | None = None, origin: Origin = CLI) -> CreditEntry:
    """An administrator's correction (reason required), as its own ledger entry."""
    require_role(actor, Role.ORGADMIN)
    user = require_cadre_user(actor, user)
    reason = _reason(reason)
    for name, value in (("credits", credits), ("hours", hours)):
        if not -MAX_ADJUSTMENT * 10 <= value <= MAX_ADJUSTMENT * 10 or (name == "credits" and abs(value) > MAX_ADJUSTMENT):
            raise Invalid(_("调整数值超出范围"), field=name)
    if credits == 0 and hours == 0:
        raise Invalid(_("学分和学时不能都为 0"), field="credits")
    on = today()
    if year is not None:
        if not 2000 <= year <= on.year:
            raise Invalid(_("年份无效"), field="year")
        on = date(year, 12, 31) if year < on.year else on
    entry = award(user.id, kind=CreditKind.ADJUSTMENT, credits=credits, hours=hours, source_type="adjustment",
                  source_id=None, title=_("学分调整"), earned_on=on, actor=actor, reason=reason)
    record_event(actor, "credits.adjust", target=user, target_type="user", target_label=user.name, unit=user.unit,
                 origin=origin, entry=entry.id, credits=credits, hours=hours, year=entry.year, reason=reason)
    return entry


def list_entries(actor: User, user: User, *, year: int | None = None, page: int = 1, per_page: int = 50):
    user = require_cadre_user(actor, user)
    q = select(CreditEntry).where(CreditEntry.user_id == user.id).options(selectinload(CreditEntry.recorded_by))
    if year is not None:
        q = q.where(CreditEntry.year == year)
    return db.paginate(q.order_by(CreditEntry.year.desc(), CreditEntry.earned_on.desc(), CreditEntry.id.desc()),
                       page=page, per_page=per_page,
                       error_out=False)


def reversed_among(entries) -> set[int]:
    """Which of these entries a later entry reverses (for showing 已撤销 beside them)."""
    ids = [e.id for e in entries]
    if not ids:
        return set()
    return set(db.session.scalars(select(CreditEntry.reverses_id).where(CreditEntry.reverses_id.in_(ids))))


# --- assessment ---------------------------------------------------------------------------------

@dataclass(slots=True)
class YearResult:
    year: int
    rank: str
    requirement: int
    basic: int = 0
    additional: int = 0
    reward: int = 0
    adjustment: int = 0
    hours: int = 0
    carried_in: int = 0
    closed: bool = False

    @property
    def earned(self) -> int:
        return self.basic + self.additional + self.reward + self.adjustment

    @property
    def total(self) -> int:
        return self.earned + self.carried_in

    @property
    def qualified(self) -> bool:
        return self.total >= self.requirement  # 第十七条

    @property
    def missing(self) -> int:
        return max(0, self.requirement - self.total)

    @property
    def carried_out(self) -> int:
        return max(0, self.total - self.requirement)  # 第十五条

    @classmethod
    def from_record(cls, rec: AssessmentRecord) -> YearResult:
        r = cls(rec.year, rec.rank, rec.requirement, rec.basic, rec.additional, rec.reward, rec.adjustment,
                rec.hours, rec.carried_in, closed=True)
        return r


@dataclass(slots=True)
class CycleResult:
    first: int
    last: int
    years: list[YearResult]
    credits_required: int
    hours_required: int

    @property
    def credits(self) -> int:
        return sum(y.earned for y in self.years)

    @property
    def hours(self) -> int:
        return sum(y.hours for y in self.years)

    @property
    def complete(self) -> bool:
        return self.years[-1].year == self.last

    @property
    def credits_met(self) -> bool:
        return self.credits >= self.credits_required

    @property
    def hours_met(self) -> bool:
        return self.hours >= self.hours_required

    @property
    def status(self) -> str:
        """qualified / unqualified once the cycle's last year is assessed, else in_progress."""
        if self.credits_met and self.hours_met:
            return "qualified"
        return "unqualified" if self.complete else "in_progress"


@dataclass
class Assessment:
    user: User
    year: int
    result: YearResult
    cycle: CycleResult
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)


def _cadre_rank(user: User) -> str:
    return user.cadre.rank.value if user.cadre else Rank.OTHER.value


_SUM_CATEGORIES = (CreditCategory.BASIC, CreditCategory.ADDITIONAL, CreditCategory.REWARD, CreditCategory.ADJUSTMENT)


def _sums(user_filter, first: int, last: int) -> dict[tuple[int, int], tuple[int, int, int, int, int]]:
    """(basic, additional, reward, adjustment, hours) per (user, year) for the years first..last, summed
    by the database (one row per cadre and year: a city's assessment reads 50,000 rows, not 100,000)."""
    rows = db.session.execute(
        select(CreditEntry.user_id, CreditEntry.year,
               *[func.sum(case((CreditEntry.category == c, CreditEntry.credits), else_=0)) for c in _SUM_CATEGORIES],
               func.sum(CreditEntry.hours))
        .where(user_filter, CreditEntry.year >= first, CreditEntry.year <= last)
        .group_by(CreditEntry.user_id, CreditEntry.year))
    return {(uid, year): (int(b or 0), int(a or 0), int(r or 0), int(j or 0), int(h or 0))
            for uid, year, b, a, r, j, h in rows}


def _records(user_filter, first: int, last: int) -> dict[tuple[int, int], AssessmentRecord]:
    return {(r.user_id, r.year): r for r in db.session.scalars(
        select(AssessmentRecord).where(user_filter, AssessmentRecord.year >= first, AssessmentRecord.year <= last))}


_NOTHING = (0, 0, 0, 0, 0)


def _chain(user_id: int, rank: str, first: int, year: int, rules: dict[int, Rules],
           sums: dict, records: dict) -> list[YearResult]:
    """The cycle's years up to `year`, each year's excess carried into the next (第十五条); a
    closed year is read as it was frozen. A cycle starts with nothing carried in."""
    out, carry = [], 0
    for y in range(first, year + 1):
        rec = records.get((user_id, y))
        if rec is not None:
            r = YearResult.from_record(rec)
        else:
            r = YearResult(y, rank, rules[y].annual(rank), *sums.get((user_id, y), _NOTHING), carry)
        out.append(r)
        carry = r.carried_out
    return out


def _cycle(rules: Rules, year: int, chain: list[YearResult], first: int, last: int) -> CycleResult:
    rank = chain[-1].rank
    return CycleResult(first, last, chain, rules.cycle(rank), rules.cycle_hours(rank))


def assess_cadre(actor: User, user: User, year: int) -> Assessment:
    """A cadre's year: earned by kind, carried in, total against the requirement and the status,
    and the five-year cycle so far."""
    user = require_cadre_user(actor, user)
    rules = get_rules(year)
    first, last = rules.cycle_of(year)
    by_year = {y: get_rules(y) for y in range(first, year + 1)}
    flt = CreditEntry.user_id == user.id
    chain = _chain(user.id, _cadre_rank(user), first, year, by_year, _sums(flt, first, year),
                   _records(AssessmentRecord.user_id == user.id, first, year))
    by_kind: dict[str, dict[str, int]] = {}
    for kind, credits, hours in db.session.execute(
            select(CreditEntry.kind, func.sum(CreditEntry.credits), func.sum(CreditEntry.hours))
            .where(flt, CreditEntry.year == year).group_by(CreditEntry.kind)):
        by_kind[CreditKind(kind).value] = {"credits": int(credits or 0), "hours": int(hours or 0)}
    return Assessment(user, year, chain[-1], _cycle(rules, year, chain, first, last), by_kind)


@dataclass(slots=True)
class UnitRow:
    user_id: int
    name: str
    unit_id: int
    unit_name: str
    result: YearResult
    cycle: CycleResult


@dataclass
class UnitAssessment:
    unit: Unit
    year: int
    rows: list[UnitRow]
    closed: bool

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def qualified(self) -> int:
        return sum(1 for r in self.rows if r.result.qualified)

    @property
    def unqualified(self) -> list[UnitRow]:
        return [r for r in self.rows if not r.result.qualified]

    @property
    def qualified_rate(self) -> float:
        return self.qualified / self.total if self.total else 0.0

    @property
    def flagged(self) -> bool:
        """第十八条: one third or more of the unit's cadres unqualified."""
        return self.total > 0 and len(self.unqualified) * 3 >= self.total


def _members(unit: Unit, year: int, closed: bool) -> list[tuple[int, str, int, str, str]]:
    """(user id, name, unit id, unit name, rank) of the cadres assessed in the unit's subtree: as
    frozen at closing for a closed year, else the cadres there now (their rank now decides)."""
    if closed:
        q = (select(User.id, User.name, Unit.id, Unit.name, AssessmentRecord.rank)
             .join(AssessmentRecord, AssessmentRecord.user_id == User.id).join(Unit, Unit.id == AssessmentRecord.unit_id)
             .where(AssessmentRecord.year == year, Unit.path.startswith(unit.path)))
    else:
        q = (select(User.id, User.name, Unit.id, Unit.name, Cadre.rank)
             .join(Cadre, Cadre.user_id == User.id).join(Unit, Unit.id == User.unit_id)
             .where(User.role == Role.CADRE, User.is_active.is_(True), Cadre.left_at.is_(None),
                    Unit.path.startswith(unit.path)))
    return [(uid, name, unit_id, unit_name, rank_value(rank))
            for uid, name, unit_id, unit_name, rank in db.session.execute(q.order_by(Unit.path, User.name, User.id))]


def _assess_members(unit: Unit, year: int) -> tuple[list[UnitRow], bool]:
    closed = is_closed(year)
    rules = get_rules(year)
    first, last = rules.cycle_of(year)
    by_year = {y: get_rules(y) for y in range(first, year + 1)}
    members = _members(unit, year, closed)
    ids = select(User.id).join(Unit, Unit.id == User.unit_id).where(Unit.path.startswith(unit.path)) \
        if not closed else select(AssessmentRecord.user_id).join(Unit, Unit.id == AssessmentRecord.unit_id) \
        .where(AssessmentRecord.year == year, Unit.path.startswith(unit.path))
    sums = _sums(CreditEntry.user_id.in_(ids), first, year)
    records = _records(AssessmentRecord.user_id.in_(ids), first, year)
    rows = []
    for uid, name, unit_id, unit_name, rank in members:
        chain = _chain(uid, rank, first, year, by_year, sums, records)
        rows.append(UnitRow(uid, name, unit_id, unit_name, chain[-1], _cycle(rules, year, chain, first, last)))
    return rows, closed


def assess_unit(actor: User, unit: Unit, year: int) -> UnitAssessment:
    """Every cadre of a unit subtree for a year, the qualified rate and the one-third flag."""
    if actor.role not in STAFF_ROLES or not in_scope(actor, unit):
        raise NotFound(_("单位不存在"))
    rows, closed = _assess_members(unit, year)
    return UnitAssessment(unit, year, rows, closed)


def sub_unit_assessments(ua: UnitAssessment) -> list[UnitAssessment]:
    """The assessment of each direct sub-unit of `ua.unit`, from the rows already computed."""
    children = list(db.session.scalars(select(Unit).where(Unit.parent_id == ua.unit.id)
                                       .order_by(Unit.sort_order, Unit.id)))
    paths = dict(db.session.execute(select(Unit.id, Unit.path).where(
        Unit.id.in_({r.unit_id for r in ua.rows}))).tuples().all()) if ua.rows else {}
    rows: dict[int, list[UnitRow]] = {c.id: [] for c in children}
    for r in ua.rows:
        child = next((c for c in children if paths.get(r.unit_id, "").startswith(c.path)), None)
        if child is not None:
            rows[child.id].append(r)
    return [UnitAssessment(c, ua.year, rows[c.id], ua.closed) for c in children]


def close_year(actor: User, year: int, *, origin: Origin = CLI) -> int:
    """Year-end closing (第十四条): freeze the year's rules and every cadre's result; entries made
    later for the year count in the next one. Returns the number of cadres assessed."""
    require_role(actor, Role.ORGADMIN)
    if year > today().year:
        raise RuleViolation(_("%(year)d 年度尚未开始,不能结转", year=year), code="year_not_started")
    earlier_open = db.session.scalar(
        select(func.min(CreditEntry.year)).where(CreditEntry.year < year,
                                                 CreditEntry.year.not_in(select(CreditYear.year).where(
                                                     CreditYear.closed_at.is_not(None)))))
    if earlier_open is not None:
        raise RuleViolation(_("请先结转 %(year)d 年度", year=earlier_open), code="earlier_year_open")
    cy = _lock_year(year, exclusive=True)
    if cy.closed_at is not None:
        raise Conflict(_("%(year)d 年度已经结转", year=year), code="year_closed")
    rows = [r for root in db.session.scalars(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
            for r in _assess_members(root, year)[0]]
    db.session.add_all([AssessmentRecord(
        year=year, user_id=r.user_id, unit_id=r.unit_id, rank=r.result.rank, basic=r.result.basic,
        additional=r.result.additional, reward=r.result.reward, adjustment=r.result.adjustment,
        hours=r.result.hours, carried_in=r.result.carried_in, requirement=r.result.requirement,
        qualified=r.result.qualified, carried_out=r.result.carried_out) for r in rows])
    cy.rules = dict(get_rules(year).values)
    cy.closed_at = utcnow()
    cy.closed_by_id = actor.id
    db.session.flush()
    record_event(actor, "credits.close_year", target_type="credit_year", target_label=str(year), origin=origin,
                 year=year, cadres=len(rows), qualified=sum(1 for r in rows if r.result.qualified))
    return len(rows)


def register_handlers() -> None:
    if on_course_completed not in learning.COURSE_COMPLETED:
        learning.COURSE_COMPLETED.append(on_course_completed)
