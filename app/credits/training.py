"""Offline training (脱产培训, 附件三 第七条(一)): a class recorded by a network administrator for
the cadres of their subtree, one attendance and one ledger entry per cadre, all or nothing."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import exists, func, select
from sqlalchemy.orm import selectinload

from app.accounts.idnumber import mask_id_number
from app.accounts.models import Cadre, Role, StudyCard, Unit, User
from app.accounts.scope import ADMIN_ROLES, STAFF_ROLES, in_scope, require_role
from app.accounts.secrets_gen import looks_like_card_number, normalise_card_number
from app.audit.services import CLI, Origin, record_event
from app.credits import services
from app.credits.evidence import StoredEvidence
from app.credits.models import CreditKind, TrainingAttendance, TrainingClass
from app.errors import Conflict, Invalid, NotFound
from app.extensions import db
from app.notifications.services import notify

SOURCE_TYPE = "offline_training"
MAX_CADRES = 500
MAX_TEXT = 200
MAX_NOTE = 2000
MAX_DAYS = 366  # the table's CHECK constraint
MY_CREDITS_LINK = "/credits/"
_ID_NUMBER = re.compile(r"\d{17}[\dX]")


# --- the cadre list -----------------------------------------------------------------------------

def _split_line(line: str) -> tuple[str, str | None]:
    """'8612 3456 7890 1234 李明' → ('8612 3456 7890 1234', '李明'): a name may follow the identifier
    (the words at the end of the line with a non-ASCII character; identifiers are all ASCII)."""
    tokens = line.split()
    names: list[str] = []
    while len(tokens) > 1 and not tokens[-1].isascii():
        names.insert(0, tokens.pop())
    return " ".join(tokens), " ".join(names) or None


def _classify(ident: str) -> tuple[str, str]:
    """('card' | 'id' | 'username', normalised value)."""
    if looks_like_card_number(ident):
        return "card", normalise_card_number(ident)
    compact = ident.replace(" ", "").upper()
    if _ID_NUMBER.fullmatch(compact):
        return "id", compact
    return "username", ident


def _shown(ident: str) -> str:
    """The identifier as echoed in a message: ID numbers masked, long input cut."""
    kind, value = _classify(ident)
    if kind == "id":
        return mask_id_number(value)
    return ident if len(ident) <= 40 else ident[:40] + "…"


@dataclass
class CadreLine:
    line: int
    text: str  # as typed (ID numbers masked), for display
    user: User


def _nonblank(text: str | None) -> list[tuple[int, str]]:
    return [(n, ln.strip()) for n, ln in enumerate((text or "").splitlines(), start=1) if ln.strip()]


def _resolve(actor: User, lines: list[tuple[int, str]]) -> tuple[list[CadreLine], list[str]]:
    parsed = []
    for n, raw in lines:
        ident, name = _split_line(raw)
        kind, value = _classify(ident)
        parsed.append((n, raw, ident, name, kind, value))

    def lookup(kind: str, column, key_column) -> dict[str, int]:
        values = {p[5] for p in parsed if p[4] == kind and len(p[5]) <= 64}
        if not values:
            return {}
        return dict(db.session.execute(select(key_column, column).where(key_column.in_(values))).all())

    by_card = lookup("card", StudyCard.user_id, StudyCard.number)
    by_id = lookup("id", Cadre.user_id, Cadre.id_number)
    by_username = lookup("username", User.id, User.username)
    found = {"card": by_card, "id": by_id, "username": by_username}
    ids = {uid for d in found.values() for uid in d.values()}
    users = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_(ids)).options(selectinload(User.cadre), selectinload(User.unit),
                                                     selectinload(User.cards)))} if ids else {}

    out: list[CadreLine] = []
    errors: list[str] = []
    first_line: dict[int, int] = {}
    for n, raw, ident, name, kind, value in parsed:
        user = users.get(found[kind].get(value))
        # Someone outside the actor's subtree, or not a cadre, is "not found": nothing is revealed.
        if user is None or user.role != Role.CADRE or user.cadre is None or not in_scope(actor, user.unit):
            errors.append(_("第 %(n)d 行:找不到学员“%(text)s”(请填写本单位学员的学习卡号、身份证号或用户名)",
                            n=n, text=_shown(ident)))
            continue
        if name and name.replace(" ", "") != user.name.replace(" ", ""):
            errors.append(_("第 %(n)d 行:“%(text)s”对应的学员是 %(actual)s,与所填姓名“%(name)s”不符",
                            n=n, text=_shown(ident), actual=user.name, name=name))
            continue
        if user.id in first_line:
            errors.append(_("第 %(n)d 行:与第 %(m)d 行是同一名学员(%(name)s)", n=n, m=first_line[user.id],
                            name=user.name))
            continue
        first_line[user.id] = n
        out.append(CadreLine(n, _shown(ident) + (f" {name}" if name else ""), user))
    return out, errors


def parse_cadre_lines(actor: User, text: str | None) -> tuple[list[User], list[str]]:
    """One cadre per line (card number, ID number or username, optionally followed by the name);
    returns the cadres found in the actor's subtree and one message per line that is not one."""
    lines, errors = _resolve(actor, _nonblank(text))
    return [cl.user for cl in lines], errors


# --- preview -------------------------------------------------------------------------------------

@dataclass
class PreviewRow:
    line: int
    text: str
    user: User
    credits: int
    hours: int
    problems: list[str] = field(default_factory=list)

    @property
    def card_number(self) -> str | None:
        card = self.user.active_card or (self.user.cards[-1] if self.user.cards else None)
        return card.display_number if card else None


@dataclass
class TrainingPreview:
    name: str
    organiser: str
    start_date: date
    end_date: date
    days: int
    credits: int  # per cadre
    hours: int  # per cadre
    min_days: int
    rows: list[PreviewRow]
    line_errors: list[str]
    note: str | None  # why no credits are earned, when so

    @property
    def duplicates(self) -> list[str]:
        return [p for r in self.rows for p in r.problems]

    @property
    def problems(self) -> list[str]:
        """Every reason not to record, in line order."""
        return self.line_errors + self.duplicates

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.rows)

    @property
    def total_credits(self) -> int:
        return self.credits * len(self.rows)


def _norm_name(name: str) -> str:
    return "".join(name.split()).casefold()


def _clean(name, organiser, start_date, end_date, days, note) -> tuple[str, str, str | None, dict[str, list[str]]]:
    """Field checks; returns the cleaned texts and the errors by field."""
    errors: dict[str, list[str]] = {}

    def err(f: str, message: str) -> None:
        errors.setdefault(f, []).append(message)

    name = " ".join((name or "").split())
    organiser = " ".join((organiser or "").split())
    note = (note or "").strip() or None
    if not name:
        err("name", _("请填写培训班名称"))
    elif len(name) > MAX_TEXT:
        err("name", _("培训班名称不能超过 %(n)d 个字", n=MAX_TEXT))
    if not organiser:
        err("organiser", _("请填写主办单位"))
    elif len(organiser) > MAX_TEXT:
        err("organiser", _("主办单位不能超过 %(n)d 个字", n=MAX_TEXT))
    if note and len(note) > MAX_NOTE:
        err("note", _("备注不能超过 %(n)d 个字", n=MAX_NOTE))
    today = services.today()
    if not isinstance(start_date, date):
        err("start_date", _("请填写开始日期"))
    elif start_date.year < 2000:
        err("start_date", _("开始日期无效"))
    if not isinstance(end_date, date):
        err("end_date", _("请填写结束日期"))
    elif end_date > today:
        err("end_date", _("培训尚未结束,不能登记:结束日期不能晚于今天(%(today)s)", today=today.isoformat()))
    span = None
    if isinstance(start_date, date) and isinstance(end_date, date) and "start_date" not in errors:
        if end_date < start_date:
            err("end_date", _("结束日期不能早于开始日期"))
        else:
            span = (end_date - start_date).days + 1
    if isinstance(days, bool) or not isinstance(days, int):
        err("days", _("请填写培训天数(整数)"))
    elif days < 1:
        err("days", _("培训天数至少为 1 天"))
    elif span is not None and days > span:
        err("days", _("培训天数(%(days)d 天)不能超过起止日期之间的天数(%(span)d 天)", days=days, span=span))
    elif days > MAX_DAYS:
        err("days", _("培训天数不能超过 %(n)d 天", n=MAX_DAYS))
    return name, organiser, note, errors


def _raise_field_errors(errors: dict[str, list[str]]) -> None:
    if errors:
        first = next(iter(errors))
        raise Invalid(errors[first][0], field=first, errors=errors)


def _earlier_classes(user_ids: list[int], name: str, start_date: date, end_date: date) -> dict[int, TrainingClass]:
    """For each cadre, a class of the same name (case and spaces ignored) whose dates overlap."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(TrainingAttendance.user_id, TrainingClass)
        .join(TrainingClass, TrainingClass.id == TrainingAttendance.class_id)
        .where(TrainingAttendance.user_id.in_(user_ids), TrainingClass.start_date <= end_date,
               TrainingClass.end_date >= start_date)
        .order_by(TrainingClass.id)).all()
    key = _norm_name(name)
    out: dict[int, TrainingClass] = {}
    for user_id, cls in rows:
        if _norm_name(cls.name) == key:
            out.setdefault(user_id, cls)
    return out


def _lock_cadres(user_ids: list[int]) -> None:
    """Serialise recordings for the same cadres, so that two racing requests cannot both record
    the same class (PostgreSQL; SQLite write transactions are serial already)."""
    if user_ids and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(User.id).where(User.id.in_(user_ids)).order_by(User.id)
                           .with_for_update(key_share=True))


def _build(actor: User, *, name, organiser, start_date, end_date, days, cadre_lines, note=None,
           lock: bool = False) -> tuple[TrainingPreview, str | None]:
    require_role(actor, *ADMIN_ROLES)
    name, organiser, note, errors = _clean(name, organiser, start_date, end_date, days, note)
    lines = _nonblank(cadre_lines)
    if not lines:
        errors.setdefault("cadres", []).append(_("请至少填写一名学员(每行一名)"))
    elif len(lines) > MAX_CADRES:
        errors.setdefault("cadres", []).append(
            _("一次最多登记 %(max)d 名学员,当前 %(n)d 名;请分批登记", max=MAX_CADRES, n=len(lines)))
    _raise_field_errors(errors)

    rules = services.get_rules(end_date.year)
    credits, hours = rules.offline(days)
    resolved, line_errors = _resolve(actor, lines)
    if lock:
        _lock_cadres([cl.user.id for cl in resolved])
    earlier = _earlier_classes([cl.user.id for cl in resolved], name, start_date, end_date)
    rows = []
    for cl in resolved:
        row = PreviewRow(cl.line, cl.text, cl.user, credits, hours)
        prev = earlier.get(cl.user.id)
        if prev is not None:
            row.problems.append(_("第 %(n)d 行:%(name)s 已登记过培训班「%(cls)s」(%(start)s 至 %(end)s),不能重复登记",
                                  n=cl.line, name=cl.user.name, cls=prev.name, start=prev.start_date.isoformat(),
                                  end=prev.end_date.isoformat()))
        rows.append(row)
    message = None
    if days < rules.offline_min_days:
        message = _("不足 %(n)d 天的脱产培训不计学分,只计学时(第七条:%(n)d 天以上(含 %(n)d 天)每天 %(per)d 学分)",
                    n=rules.offline_min_days, per=rules.offline_per_day)
    preview = TrainingPreview(name, organiser, start_date, end_date, days, credits, hours, rules.offline_min_days,
                              rows, line_errors, message)
    return preview, note


def preview_training(actor: User, *, name: str | None, organiser: str | None, start_date: date | None,
                     end_date: date | None, days: int | None, cadre_lines: str | None) -> TrainingPreview:
    """What recording would do, cadre by cadre, without writing anything (field errors raise Invalid)."""
    preview, _note = _build(actor, name=name, organiser=organiser, start_date=start_date, end_date=end_date,
                            days=days, cadre_lines=cadre_lines)
    return preview


def record_training(actor: User, *, name: str | None, organiser: str | None, start_date: date | None,
                    end_date: date | None, days: int | None, cadre_lines: str | None,
                    evidence: StoredEvidence | None = None, note: str | None = None,
                    origin: Origin = CLI) -> TrainingClass:
    """Record a class and credit every cadre on the list (第七条(一)); any problem refuses the whole
    list and writes nothing."""
    preview, note = _build(actor, name=name, organiser=organiser, start_date=start_date, end_date=end_date,
                           days=days, cadre_lines=cadre_lines, note=note, lock=True)
    if preview.line_errors:
        problems = preview.problems
        raise Invalid(_("有 %(n)d 处问题,本次未登记任何学员:%(first)s", n=len(problems), first=problems[0]),
                      field="cadres", errors={"cadres": problems})
    if preview.duplicates:
        problems = preview.duplicates
        raise Conflict(_("有 %(n)d 名学员已登记过同一培训班,本次未登记任何学员:%(first)s", n=len(problems),
                         first=problems[0]), field="cadres", code="duplicate_training", errors={"cadres": problems})

    cls = TrainingClass(name=preview.name, organiser=preview.organiser, start_date=start_date, end_date=end_date,
                        days=days, evidence_path=evidence.path if evidence else None,
                        evidence_name=evidence.name if evidence else None, note=note, unit_id=actor.unit_id,
                        recorded_by_id=actor.id)
    db.session.add(cls)
    db.session.flush()
    attendances = [TrainingAttendance(class_id=cls.id, user_id=r.user.id, credits=r.credits, hours=r.hours)
                   for r in preview.rows]
    db.session.add_all(attendances)
    db.session.flush()
    for att in attendances:
        entry = services.award(att.user_id, kind=CreditKind.OFFLINE_TRAINING, credits=att.credits, hours=att.hours,
                               source_type=SOURCE_TYPE, source_id=att.id, title=cls.name, earned_on=end_date,
                               actor=actor, evidence=evidence.path if evidence else None,
                               details={"class_id": cls.id, "days": days})
        if entry is None:  # a new attendance cannot have earned before; never half-record
            raise Conflict(_("该学员的这次培训已计过学分"), code="already_awarded")
        notify(att.user_id, _("已登记脱产培训「%(name)s」:%(credits)d 学分,%(hours)d 学时", name=cls.name,
                              credits=att.credits, hours=att.hours), MY_CREDITS_LINK)
    record_event(actor, "credits.offline", target=cls, target_type="training_class", target_label=cls.name,
                 unit=actor.unit, origin=origin, class_id=cls.id, organiser=cls.organiser,
                 start_date=start_date.isoformat(), end_date=end_date.isoformat(), days=days,
                 cadres=len(attendances), credits=preview.credits, hours=preview.hours,
                 cadre_ids=[a.user_id for a in attendances], evidence=cls.evidence_name)
    return cls


# --- reading -------------------------------------------------------------------------------------

def _visible(actor: User):
    """Classes recorded in the actor's subtree, or attended by a cadre of it."""
    if actor.role == Role.ORGADMIN:
        return None
    path = actor.unit.path
    recorded_here = TrainingClass.unit_id.in_(select(Unit.id).where(Unit.path.startswith(path)))
    attended_here = exists(select(TrainingAttendance.id)
                           .join(User, User.id == TrainingAttendance.user_id)
                           .join(Unit, Unit.id == User.unit_id)
                           .where(TrainingAttendance.class_id == TrainingClass.id, Unit.path.startswith(path)))
    return recorded_here | attended_here


def list_classes(actor: User, page: int = 1, per_page: int = 50):
    """Classes the actor may see, latest first, paginated."""
    require_role(actor, *STAFF_ROLES)
    q = select(TrainingClass).options(selectinload(TrainingClass.recorded_by), selectinload(TrainingClass.unit))
    cond = _visible(actor)
    if cond is not None:
        q = q.where(cond)
    q = q.order_by(TrainingClass.end_date.desc(), TrainingClass.id.desc())
    return db.paginate(q, page=page, per_page=per_page, error_out=False, max_per_page=500)


@dataclass(frozen=True)
class ClassTotals:
    cadres: int
    credits: int  # per cadre
    hours: int  # per cadre


def class_totals(classes) -> dict[int, ClassTotals]:
    """Cadres counted and credits and hours per cadre, for each of the given classes."""
    ids = [c.id for c in classes]
    if not ids:
        return {}
    rows = db.session.execute(
        select(TrainingAttendance.class_id, func.count(), func.max(TrainingAttendance.credits),
               func.max(TrainingAttendance.hours))
        .where(TrainingAttendance.class_id.in_(ids)).group_by(TrainingAttendance.class_id))
    out = {cid: ClassTotals(int(n), int(c or 0), int(h or 0)) for cid, n, c, h in rows}
    return {i: out.get(i, ClassTotals(0, 0, 0)) for i in ids}


def get_class(actor: User, class_id: int) -> TrainingClass:
    """One class; NotFound when the actor may not see it."""
    if actor.role not in STAFF_ROLES:
        raise NotFound(_("培训班不存在"))
    q = select(TrainingClass).where(TrainingClass.id == class_id)
    cond = _visible(actor)
    if cond is not None:
        q = q.where(cond)
    cls = db.session.scalar(q)
    if cls is None:
        raise NotFound(_("培训班不存在"))
    return cls


def visible_attendances(actor: User, cls: TrainingClass) -> list[TrainingAttendance]:
    """The class's attendances of cadres in the actor's subtree (all of them for the organisation
    department), with their users loaded."""
    q = (select(TrainingAttendance).where(TrainingAttendance.class_id == cls.id)
         .options(selectinload(TrainingAttendance.user).selectinload(User.cards),
                  selectinload(TrainingAttendance.user).selectinload(User.cadre),
                  selectinload(TrainingAttendance.user).selectinload(User.unit))
         .order_by(TrainingAttendance.id))
    return [a for a in db.session.scalars(q) if in_scope(actor, a.user.unit)]
