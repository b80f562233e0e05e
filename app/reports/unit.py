"""The unit report (单位学习情况): for a unit subtree and a period, how many cadres took part, their
study time and time online, credits earned, the qualified rate and the one-third flag (第十八条),
the distribution of credits, a ranking of the sub-units and the unqualified cadres. Read-only; the
numbers come from the daily roll-ups and the ledger by aggregate queries grouped per unit, then
rolled up the unit tree in memory (a city has a few hundred units)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import distinct, func, select

from app.accounts.models import Role, Unit, User
from app.accounts.scope import STAFF_ROLES, require_role, require_unit
from app.catalogue.models import Category, Course
from app.credits import services as credits
from app.credits.labels import RANK_LABELS
from app.credits.models import CreditEntry
from app.extensions import db
from app.learning.models import OnlineDay, StudyDay
from app.reports.filters import ReportFilter, narrow_credits

HISTOGRAM_STEP = 10
HISTOGRAM_TOP = 100  # the last bin is "100 and more"


@dataclass
class Figures:
    """The numbers of one unit subtree (or of the whole report)."""

    cadres: int = 0
    participants: int = 0  # cadres who studied at all in the period
    study_seconds: float = 0.0
    online_seconds: float = 0.0
    credits: int = 0  # earned in the period (reversals deducted)
    qualified: int = 0  # by the assessment of the period's year

    @property
    def participation_rate(self) -> float:
        return self.participants / self.cadres if self.cadres else 0.0

    @property
    def qualified_rate(self) -> float:
        return self.qualified / self.cadres if self.cadres else 0.0

    @property
    def unqualified(self) -> int:
        return self.cadres - self.qualified

    @property
    def flagged(self) -> bool:
        """第十八条: one third or more unqualified."""
        return self.cadres > 0 and self.unqualified * 3 >= self.cadres

    def add(self, other: Figures) -> None:
        for k in ("cadres", "participants", "study_seconds", "online_seconds", "credits", "qualified"):
            setattr(self, k, getattr(self, k) + getattr(other, k))


@dataclass
class SubUnit:
    unit: Unit
    figures: Figures


@dataclass
class Unqualified:
    user_id: int
    name: str
    unit_id: int
    unit_name: str
    rank: str
    credits: int  # counted towards the year (carried in included)
    required: int


@dataclass
class UnitReport:
    unit: Unit
    start: date
    end: date
    year: int
    course: Course | None
    figures: Figures
    sub_units: list[SubUnit]  # direct children, best qualified rate first
    histogram: list[tuple[str, int]]  # (label, cadres) by credits counted towards the year
    unqualified: list[Unqualified] = field(default_factory=list)
    category: Category | None = None
    user: User | None = None


def report_for(actor: User, flt: ReportFilter) -> UnitReport:
    """The unit report for a resolved filter (see app.reports.filters)."""
    return unit_report(actor, flt.unit, flt.start, flt.end, course_id=flt.course.id if flt.course else None,
                       category_id=flt.category.id if flt.category else None,
                       user_id=flt.user.id if flt.user else None)


def subtree_totals(units: list[Unit], own: dict, zero=None) -> dict:
    """Each unit's figures added up its subtree: unit id → the totals of the unit and every unit below
    it among `units`. `own` maps a unit id to its own figures (anything with .add, or numbers);
    one walk up each unit's materialised path, O(units × depth)."""
    zero = zero or Figures
    totals = {u.id: zero() for u in units}
    for u in units:
        mine = own.get(u.id)
        if mine is None:
            continue
        for ancestor in (int(x) for x in u.path.strip("/").split("/") if x):
            if ancestor in totals:
                if isinstance(mine, (int, float)):
                    totals[ancestor] += mine
                else:
                    totals[ancestor].add(mine)
    return totals


def _subtree(unit: Unit) -> list[Unit]:
    return list(db.session.scalars(select(Unit).where(Unit.path.startswith(unit.path)).order_by(Unit.path)))


def _per_unit(q) -> dict[int, tuple]:
    return {row[0]: tuple(row[1:]) for row in db.session.execute(q)}


def unit_report(actor: User, unit: Unit | None, start: date, end: date, *, course_id: int | None = None,
                category_id: int | None = None, user_id: int | None = None) -> UnitReport:
    """The report of `unit`'s subtree for [start, end]; qualification by the assessment of
    end's year. A course or category narrows participation, study time and credits (those earned by
    its courses) to it; time online belongs to no course. A cadre narrows everything to that one
    cadre (the caller checks the cadre is in the subtree: app.reports.filters)."""
    require_role(actor, *STAFF_ROLES)
    unit = require_unit(actor, unit)
    units = _subtree(unit)
    by_id = {u.id: u for u in units}
    in_tree = User.unit_id.in_(list(by_id))
    if user_id is not None:
        in_tree = in_tree & (User.id == user_id)
    cadre = (User.role == Role.CADRE) & User.is_active.is_(True)

    cadres = _per_unit(select(User.unit_id, func.count(User.id)).where(in_tree, cadre).group_by(User.unit_id))
    study = (select(User.unit_id, func.count(distinct(StudyDay.user_id)), func.sum(StudyDay.seconds))
             .join(User, User.id == StudyDay.user_id)
             .where(in_tree, cadre, StudyDay.day >= start, StudyDay.day <= end))
    course = None
    if course_id is not None:
        course = db.session.get(Course, course_id)
        study = study.where(StudyDay.course_id == course_id)
    elif category_id is not None:
        study = study.join(Course, Course.id == StudyDay.course_id).where(Course.category_id == category_id)
    studied = _per_unit(study.group_by(User.unit_id))
    online = _per_unit(select(User.unit_id, func.sum(OnlineDay.seconds)).join(User, User.id == OnlineDay.user_id)
                       .where(in_tree, cadre, OnlineDay.day >= start, OnlineDay.day <= end).group_by(User.unit_id))
    earned = select(User.unit_id, func.sum(CreditEntry.credits)).join(User, User.id == CreditEntry.user_id) \
        .where(in_tree, cadre, CreditEntry.earned_on >= start, CreditEntry.earned_on <= end)
    earned = _per_unit(narrow_credits(earned, course_id, None if course_id else category_id).group_by(User.unit_id))

    year = end.year
    one = db.session.get(User, user_id) if user_id is not None else None
    # one cadre: assessing their own unit is enough (not the whole city around them)
    assessment = credits.assess_unit(actor, one.unit if one is not None and one.unit.path.startswith(unit.path)
                                     else unit, year)
    qualified: dict[int, int] = defaultdict(int)
    histogram = [0] * (HISTOGRAM_TOP // HISTOGRAM_STEP + 1)
    unqualified = []
    for row in assessment.rows:
        if user_id is not None and row.user_id != user_id:
            continue
        counted = row.result.total
        histogram[min(max(counted, 0) // HISTOGRAM_STEP, len(histogram) - 1)] += 1
        if row.result.qualified:
            qualified[row.unit_id] += 1
        else:
            unqualified.append(Unqualified(row.user_id, row.name, row.unit_id, row.unit_name, row.result.rank,
                                           counted, row.result.requirement))
    unqualified.sort(key=lambda r: (r.unit_name, r.credits, r.name))
    labels = [f"{i * HISTOGRAM_STEP}–{i * HISTOGRAM_STEP + HISTOGRAM_STEP - 1}" for i in range(len(histogram) - 1)]
    labels.append(f"≥{HISTOGRAM_TOP}")

    own: dict[int, Figures] = {}
    for uid in by_id:
        p, s = studied.get(uid, (0, 0.0))
        own[uid] = Figures(cadres=cadres.get(uid, (0,))[0], participants=p or 0, study_seconds=float(s or 0),
                           online_seconds=float(online.get(uid, (0.0,))[0] or 0), credits=int(earned.get(uid, (0,))[0] or 0),
                           qualified=qualified.get(uid, 0))
    total = Figures()
    for f in own.values():
        total.add(f)
    rolled = subtree_totals(units, own)
    subs = [SubUnit(child, rolled[child.id]) for child in units if child.parent_id == unit.id]
    subs.sort(key=lambda s: (-s.figures.qualified_rate, -s.figures.participation_rate, s.unit.name))
    return UnitReport(unit=unit, start=start, end=end, year=year, course=course, figures=total, sub_units=subs,
                      histogram=list(zip(labels, histogram, strict=True)), unqualified=unqualified,
                      category=db.session.get(Category, category_id) if category_id and not course else None, user=one)


def pct(part: float, whole: float) -> float:
    """A share as a percentage with one decimal (what the pages, the JSON and the files show)."""
    return round(100 * part / whole, 1) if whole else 0.0


def hours(seconds: float) -> float:
    return round(seconds / 3600, 1)


def figures_dict(f: Figures) -> dict:
    return {"cadres": f.cadres, "participants": f.participants, "participation_pct": pct(f.participants, f.cadres),
            "study_hours": hours(f.study_seconds), "online_hours": hours(f.online_seconds), "credits": f.credits,
            "qualified": f.qualified, "unqualified": f.unqualified, "qualified_pct": pct(f.qualified, f.cadres),
            "flagged": f.flagged}


def unit_dict(r: UnitReport) -> dict:
    """The report as the unitReport operation answers it (the files carry the same numbers)."""
    return {
        "unit": {"id": r.unit.id, "name": r.unit.name}, "start": r.start, "end": r.end, "year": r.year,
        "course": {"id": r.course.id, "name": r.course.title} if r.course else None,
        "category": {"id": r.category.id, "name": r.category.name} if r.category else None,
        "user": {"id": r.user.id, "name": r.user.name} if r.user else None,
        "figures": figures_dict(r.figures),
        "sub_units": [{"unit": {"id": s.unit.id, "name": s.unit.name}, **figures_dict(s.figures)} for s in r.sub_units],
        "histogram": [{"credits": label, "cadres": n} for label, n in r.histogram],
        "unqualified": [{"user_id": u.user_id, "name": u.name, "unit": {"id": u.unit_id, "name": u.unit_name},
                         "rank": u.rank, "credits": u.credits, "required": u.required,
                         "missing": max(0, u.required - u.credits)} for u in r.unqualified],
    }


def figure_headers() -> list[str]:
    return [_("干部"), _("参学人数"), _("参学率(%)"), _("学习时长(小时)"), _("在线时长(小时)"), _("期间学分"), _("合格"),
            _("不合格"), _("合格率(%)"), _("不合格达三分之一")]


def figure_cells(d: dict) -> list:
    return [d["cadres"], d["participants"], d["participation_pct"], d["study_hours"], d["online_hours"], d["credits"],
            d["qualified"], d["unqualified"], d["qualified_pct"], d["flagged"]]


def unqualified_headers() -> list[str]:
    return [_("姓名"), _("单位"), _("职级"), _("计入学分"), _("要求"), _("还差")]


def unit_sheets(d: dict) -> list:
    """The unit report's tables (from unit_dict) as export sheets: the same numbers as the JSON."""
    period = f"{d['start']} – {d['end']}"
    return [
        (_("概况"), [_("单位"), _("期间"), _("考核年度"), _("干部姓名"), _("课程"), _("课程分类"), *figure_headers()],
         [[d["unit"]["name"], period, d["year"], (d["user"] or {}).get("name", ""), (d["course"] or {}).get("name", ""),
           (d["category"] or {}).get("name", ""), *figure_cells(d["figures"])]]),
        (_("下级单位"), [_("排名"), _("单位"), *figure_headers()],
         [[i, s["unit"]["name"], *figure_cells(s)] for i, s in enumerate(d["sub_units"], start=1)]),
        (_("学分分布"), [_("计入学分"), _("人数")], [[h["credits"], h["cadres"]] for h in d["histogram"]]),
        (_("不合格名单"), unqualified_headers(),
         [[u["name"], u["unit"]["name"], str(RANK_LABELS.get(u["rank"], u["rank"])), u["credits"], u["required"],
           u["missing"]] for u in d["unqualified"]]),
    ]
