"""Account rules: units, cadres, study cards, staff, authentication and login sessions.

Services take the acting user and the request origin as arguments, flush, and never commit.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload, selectinload

from app.accounts.idnumber import mask_id_number, parse_id_number
from app.accounts.models import (
    Cadre, CardState, LoginSession, LoginThrottle, Rank, RegistrationKind, Role, StudyCard, Unit,
    UnitLevel, UnitTransfer, User,
)
from app.accounts.passwords import check_policy, hash_password, verify_password
from app.accounts.scope import ADMIN_ROLES, STAFF_ROLES, require_cadre_user, require_role, require_unit
from app.accounts.secrets_gen import (
    looks_like_card_number, new_card_number, new_initial_password, normalise_card_number,
)
from app.audit.services import CLI, Origin, record_event
from app.db import utcnow, dialect_insert
from app.errors import Conflict, Invalid, NotFound, PermissionDenied, RateLimited, RuleViolation
from app.extensions import db

RANK_LABELS = {Rank.COUNTY: "县处级及以上", Rank.TOWNSHIP: "乡科级", Rank.OTHER: "其他"}
_RANK_ALIASES = {
    "县处级及以上": Rank.COUNTY, "县处级以上": Rank.COUNTY, "县处级": Rank.COUNTY, "county": Rank.COUNTY,
    "乡科级": Rank.TOWNSHIP, "township": Rank.TOWNSHIP,
    "其他": Rank.OTHER, "其它": Rank.OTHER, "other": Rank.OTHER, "": Rank.OTHER,
}
_PHONE = re.compile(r"^1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")
_CHILD_LEVEL = {UnitLevel.CITY: UnitLevel.DISTRICT, UnitLevel.DISTRICT: UnitLevel.BUREAU,
                UnitLevel.BUREAU: UnitLevel.SECTION}


def parse_rank(raw: str | Rank | None, field: str = "rank") -> Rank:
    if isinstance(raw, Rank):
        return raw
    key = (raw or "").strip()
    if key in _RANK_ALIASES:
        return _RANK_ALIASES[key]
    raise Invalid(_("职级应为“县处级及以上”“乡科级”或“其他”"), field=field)


def clean_phone(raw: str | None, field: str = "phone") -> str | None:
    phone = (raw or "").strip().replace(" ", "")
    if not phone:
        return None
    if not _PHONE.match(phone):
        raise Invalid(_("手机号格式不正确"), field=field)
    return phone


def clean_name(raw: str | None, field: str = "name") -> str:
    name = (raw or "").strip()
    if not name:
        raise Invalid(_("姓名不能为空"), field=field)
    if len(name) > 50:
        raise Invalid(_("姓名不能超过 50 个字"), field=field)
    return name


# --- units -------------------------------------------------------------------------------

def root_unit() -> Unit | None:
    return db.session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))


def create_unit(actor: User | None, name: str, *, parent: Unit | None, code: str | None = None,
                level: UnitLevel | None = None, origin: Origin = CLI) -> Unit:
    """Create a unit under parent (or the city root when parent is None and none exists yet)."""
    name = (name or "").strip()
    if not name:
        raise Invalid(_("单位名称不能为空"), field="name")
    if parent is None:
        if root_unit() is not None:
            raise Invalid(_("请选择上级单位"), field="parent_id")
        level = UnitLevel.CITY
    else:
        if actor is not None:
            require_role(actor, *ADMIN_ROLES)
            require_unit(actor, parent)
        if parent.level == UnitLevel.SECTION:
            raise RuleViolation(_("科室下不能再设下级单位"), field="parent_id")
        level = level or _CHILD_LEVEL[parent.level]
    if db.session.scalar(select(Unit.id).where(Unit.parent_id == (parent.id if parent else None),
                                               Unit.name == name)):
        raise Conflict(_("同一上级单位下已有同名单位"), field="name")
    code = (code or "").strip() or None
    if code and db.session.scalar(select(Unit.id).where(Unit.code == code)):
        raise Conflict(_("单位编码已被使用"), field="code")
    unit = Unit(name=name, level=level, parent=parent, code=code or secrets.token_hex(6),
                sort_order=len(parent.children) if parent else 0)
    db.session.add(unit)
    db.session.flush()
    unit.path = (parent.path if parent else "/") + f"{unit.id}/"
    if not code:
        unit.code = f"U{unit.id:05d}"
    db.session.flush()
    if actor is not None:
        record_event(actor, "unit.create", target=unit, target_label=name, unit=unit, origin=origin)
    return unit


def units_in_scope(actor: User) -> list[Unit]:
    q = select(Unit).order_by(Unit.path)
    if actor.role != Role.ORGADMIN:
        q = q.where(Unit.path.startswith(actor.unit.path))
    units = list(db.session.scalars(q))
    # Tree order: by path of sort keys, so children follow their parent.
    by_id = {u.id: u for u in units}

    def key(u: Unit):
        ids = [int(x) for x in u.path.strip("/").split("/")]
        return [(by_id[i].sort_order, i) if i in by_id else (0, i) for i in ids]

    return sorted(units, key=key)


def unit_choices(actor: User, units: list[Unit] | None = None) -> list[tuple[int, str]]:
    """(id, label) of the actor's units in tree order, each label indented by its depth (for selects)."""
    units = units if units is not None else units_in_scope(actor)
    base = actor.unit.depth
    return [(u.id, "\u3000" * max(0, u.depth - base) + u.name) for u in units]


def get_unit(actor: User, unit_id: int) -> Unit:
    return require_unit(actor, db.session.get(Unit, unit_id))


# --- cadres ------------------------------------------------------------------------------

@dataclass
class CadreInfo:
    name: str
    id_number: str
    unit_id: int
    rank: str | Rank = Rank.OTHER
    position: str | None = None
    phone: str | None = None
    username: str | None = None
    supplementary: bool = False
    supplementary_reason: str | None = None
    supplementary_date: date | None = None


def _check_username(username: str | None, *, exclude_user_id: int | None = None) -> str | None:
    username = (username or "").strip() or None
    if username is None:
        return None
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{2,31}", username):
        raise Invalid(_("用户名须以字母开头,3–32 位字母、数字、下划线、点或短横线"), field="username")
    q = select(User.id).where(User.username == username)
    if exclude_user_id:
        q = q.where(User.id != exclude_user_id)
    if db.session.scalar(q):
        raise Conflict(_("用户名已被使用"), field="username")
    return username


def register_cadre(actor: User, info: CadreInfo, *, origin: Origin = CLI,
                   kind: RegistrationKind | None = None) -> User:
    """Register a real-name cadre (登记), or a supplementary registration (补录) with its reason."""
    require_role(actor, *ADMIN_ROLES)
    unit = get_unit(actor, info.unit_id)
    name = clean_name(info.name)
    facts = parse_id_number(info.id_number)
    rank = parse_rank(info.rank)
    phone = clean_phone(info.phone)
    username = _check_username(info.username)
    if info.supplementary:
        kind = RegistrationKind.SUPPLEMENTARY
        if not (info.supplementary_reason or "").strip():
            raise Invalid(_("补录须填写原因"), field="supplementary_reason")
        if info.supplementary_date is None:
            raise Invalid(_("补录须填写补录日期"), field="supplementary_date")
    kind = kind or RegistrationKind.REGULAR
    if db.session.scalar(select(Cadre.user_id).where(Cadre.id_number == facts.number)):
        raise Conflict(_("该身份证号已登记,一名学员只能有一个账户"), field="id_number")
    user = User(name=name, role=Role.CADRE, unit=unit, username=username, must_change_password=True)
    user.cadre = Cadre(
        id_number=facts.number, gender=facts.gender, birth_date=facts.birth_date, rank=rank,
        position=(info.position or "").strip() or None, phone=phone, registration_kind=kind,
        supplementary_reason=(info.supplementary_reason or "").strip() or None if info.supplementary else None,
        supplementary_date=info.supplementary_date if info.supplementary else None,
        registered_by_id=actor.id,
    )
    db.session.add(user)
    db.session.flush()
    action = "cadre.supplement" if kind == RegistrationKind.SUPPLEMENTARY else "cadre.register"
    record_event(actor, action, target=user, target_type="cadre", target_label=name, unit=unit,
                 origin=origin, id_number=mask_id_number(facts.number),
                 reason=user.cadre.supplementary_reason)
    return user


def get_cadre(actor: User, user_id: int) -> User:
    user = db.session.get(User, user_id)
    return require_cadre_user(actor, user)


_EDITABLE = ("name", "rank", "position", "phone", "username")


def update_cadre(actor: User, user: User, changes: dict, *, origin: Origin = CLI) -> User:
    """Edit a cadre's profile; the ID number can be corrected (with the same checks)."""
    require_role(actor, *ADMIN_ROLES)
    require_cadre_user(actor, user)
    cadre = user.cadre
    before: dict = {}
    after: dict = {}

    def note(key, old, new):
        if old != new:
            before[key], after[key] = old, new

    if "name" in changes:
        new = clean_name(changes["name"])
        note("name", user.name, new)
        user.name = new
    if "rank" in changes:
        new = parse_rank(changes["rank"])
        note("rank", cadre.rank.value, new.value)
        cadre.rank = new
    if "position" in changes:
        new = (changes["position"] or "").strip() or None
        note("position", cadre.position, new)
        cadre.position = new
    if "phone" in changes:
        new = clean_phone(changes["phone"])
        note("phone", cadre.phone, new)
        cadre.phone = new
    if "username" in changes:
        new = _check_username(changes["username"], exclude_user_id=user.id)
        note("username", user.username, new)
        user.username = new
    if "id_number" in changes and changes["id_number"]:
        facts = parse_id_number(changes["id_number"])
        if facts.number != cadre.id_number:
            if db.session.scalar(select(Cadre.user_id).where(Cadre.id_number == facts.number)):
                raise Conflict(_("该身份证号已登记,一名学员只能有一个账户"), field="id_number")
            note("id_number", mask_id_number(cadre.id_number), mask_id_number(facts.number))
            cadre.id_number, cadre.gender, cadre.birth_date = facts.number, facts.gender, facts.birth_date
    if "unit_id" in changes and changes["unit_id"] and int(changes["unit_id"]) != user.unit_id:
        transfer_cadre(actor, user, int(changes["unit_id"]), reason=changes.get("transfer_reason"), origin=origin)
    db.session.flush()
    if after:
        record_event(actor, "cadre.update", target=user, target_type="cadre", target_label=user.name,
                     unit=user.unit, origin=origin, before=before, after=after)
    return user


def transfer_cadre(actor: User, user: User, to_unit_id: int, *, reason: str | None = None,
                   origin: Origin = CLI) -> UnitTransfer:
    """Move a cadre to another unit in the actor's scope; the history is kept."""
    require_role(actor, *ADMIN_ROLES)
    require_cadre_user(actor, user)
    to_unit = db.session.get(Unit, to_unit_id)
    if to_unit is None or not (actor.role == Role.ORGADMIN or to_unit.path.startswith(actor.unit.path)):
        raise Invalid(_("调入单位不存在或不在您的管理范围内"), field="unit_id")
    if to_unit.id == user.unit_id:
        raise Invalid(_("调入单位与当前单位相同"), field="unit_id")
    from_unit = user.unit
    t = UnitTransfer(cadre_id=user.id, from_unit_id=from_unit.id, to_unit_id=to_unit.id,
                     reason=(reason or "").strip() or None, by_id=actor.id)
    db.session.add(t)
    user.unit = to_unit
    db.session.flush()
    record_event(actor, "cadre.transfer", target=user, target_type="cadre", target_label=user.name,
                 unit=from_unit, origin=origin, from_unit=from_unit.name, to_unit=to_unit.name,
                 reason=t.reason)
    return t


@dataclass
class CadreFilter:
    unit_id: int | None = None
    q: str | None = None
    card_state: str | None = None  # active / lost / cancelled / none
    rank: str | None = None
    page: int = 1
    per_page: int = 50


def list_cadres(actor: User, f: CadreFilter):
    """Cadres in the actor's scope (optionally one unit's subtree), paginated."""
    require_role(actor, *STAFF_ROLES)
    base = get_unit(actor, f.unit_id) if f.unit_id else actor.unit
    q = (select(User).join(Cadre, Cadre.user_id == User.id).join(Unit, Unit.id == User.unit_id)
         .where(User.role == Role.CADRE))
    if not (actor.role == Role.ORGADMIN and f.unit_id is None):
        q = q.where(Unit.path.startswith(base.path))
    if f.q:
        term = f.q.strip()
        conds = [User.name.contains(term), User.username == term]
        if looks_like_card_number(term):
            conds.append(User.id.in_(select(StudyCard.user_id).where(
                StudyCard.number == normalise_card_number(term))))
        if len(term) == 18:
            conds.append(Cadre.id_number == term.upper())
        from sqlalchemy import or_
        q = q.where(or_(*conds))
    if f.rank:
        q = q.where(Cadre.rank == parse_rank(f.rank))
    if f.card_state:
        active = select(StudyCard.user_id).where(StudyCard.state == CardState.ACTIVE)
        if f.card_state == "none":
            q = q.where(User.id.not_in(select(StudyCard.user_id)))
        elif f.card_state == "active":
            q = q.where(User.id.in_(active))
        elif f.card_state in ("lost", "cancelled"):
            latest_state = CardState(f.card_state)
            q = q.where(User.id.not_in(active), User.id.in_(
                select(StudyCard.user_id).where(StudyCard.state == latest_state)))
    q = q.options(selectinload(User.cards), selectinload(User.cadre), selectinload(User.unit))
    q = q.order_by(Unit.path, User.name, User.id)
    return db.paginate(q, page=f.page, per_page=f.per_page, error_out=False, max_per_page=500)


# --- study cards -------------------------------------------------------------------------

@dataclass
class IssuedCard:
    card: StudyCard
    password: str  # shown once, never stored


def _new_unique_card_number() -> str:
    for _attempt in range(20):
        number = new_card_number()
        if not db.session.scalar(select(StudyCard.id).where(StudyCard.number == number)):
            return number
    raise RuntimeError("could not draw a unique card number")


def _give_card(actor: User, user: User, *, replaces: StudyCard | None = None,
               batch: str | None = None) -> IssuedCard:
    password = new_initial_password()
    card = StudyCard(number=_new_unique_card_number(), user=user, issued_by_id=actor.id,
                     replaces=replaces, batch=batch, state=CardState.ACTIVE)
    db.session.add(card)
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    db.session.flush()
    return IssuedCard(card=card, password=password)


def _check_card_admin(actor: User, user: User) -> None:
    require_role(actor, *ADMIN_ROLES)
    require_cadre_user(actor, user)


def issue_card(actor: User, user: User, *, origin: Origin = CLI, batch: str | None = None) -> IssuedCard:
    """Issue a study card (发卡) to a cadre who has no active card; returns the initial password."""
    _check_card_admin(actor, user)
    if user.active_card is not None:
        raise Conflict(_("该学员已有有效学习卡(%(n)s),一名学员只能有一张有效卡",
                         n=user.active_card.display_number), code="card_exists")
    if any(c.state == CardState.LOST and not _is_replaced(c, user) for c in user.cards):
        raise Conflict(_("该学员的学习卡已挂失,请使用“补卡”"), code="card_lost")
    issued = _give_card(actor, user, batch=batch)
    record_event(actor, "card.issue", target=issued.card, target_type="card",
                 target_label=f"{user.name} {issued.card.display_number}", unit=user.unit,
                 origin=origin, cadre_id=user.id, card_number=issued.card.number)
    return issued


def _is_replaced(card: StudyCard, user: User) -> bool:
    return any(c.replaces_id == card.id for c in user.cards)


def issue_cards_for_unit(actor: User, unit_id: int, *, origin: Origin = CLI,
                         limit: int = 1000) -> list[IssuedCard]:
    """Batch issue: a card for every cadre in the subtree with no card history at all."""
    require_role(actor, *ADMIN_ROLES)
    unit = get_unit(actor, unit_id)
    users = db.session.scalars(
        select(User).join(Unit, Unit.id == User.unit_id)
        .where(User.role == Role.CADRE, User.is_active.is_(True), Unit.path.startswith(unit.path),
               User.id.not_in(select(StudyCard.user_id)))
        .options(selectinload(User.cards), selectinload(User.unit))
        .order_by(Unit.path, User.name, User.id).limit(limit)
    ).all()
    batch = utcnow().strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
    return [issue_card(actor, u, origin=origin, batch=batch) for u in users]


def get_card(actor: User, card_id: int) -> StudyCard:
    card = db.session.get(StudyCard, card_id)
    if card is None:
        raise NotFound(_("学习卡不存在"))
    require_cadre_user(actor, card.user)
    return card


def revoke_sessions(*, user_id: int, reason: str) -> int:
    """End every open login session of a user on the server; returns how many."""
    result = db.session.execute(
        update(LoginSession).where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return result.rowcount or 0


def report_card_lost(actor: User, card: StudyCard, *, origin: Origin = CLI) -> StudyCard:
    """Report a card lost (挂失): it stops working at once, open sessions included."""
    _check_card_admin(actor, card.user)
    if card.state != CardState.ACTIVE:
        raise Conflict(_("只有有效的学习卡才能挂失"), code="card_not_active")
    card.state = CardState.LOST
    card.lost_at = utcnow()
    db.session.flush()
    ended = revoke_sessions(user_id=card.user_id, reason="card_lost")
    record_event(actor, "card.lost", target=card, target_type="card",
                 target_label=f"{card.user.name} {card.display_number}", unit=card.user.unit,
                 origin=origin, cadre_id=card.user_id, card_number=card.number, sessions_ended=ended)
    return card


def reissue_card(actor: User, card: StudyCard, *, origin: Origin = CLI) -> IssuedCard:
    """Reissue (补卡): a new number and password for a lost card; the account and records stay."""
    _check_card_admin(actor, card.user)
    if card.state != CardState.LOST:
        raise Conflict(_("只有已挂失的学习卡才能补卡"), code="card_not_lost")
    if _is_replaced(card, card.user):
        raise Conflict(_("这张学习卡已经补办过"), code="card_replaced")
    if card.user.active_card is not None:
        raise Conflict(_("该学员已有有效学习卡"), code="card_exists")
    issued = _give_card(actor, card.user, replaces=card)
    record_event(actor, "card.reissue", target=issued.card, target_type="card",
                 target_label=f"{card.user.name} {issued.card.display_number}", unit=card.user.unit,
                 origin=origin, cadre_id=card.user_id, card_number=issued.card.number,
                 replaces=card.number)
    return issued


def cancel_card(actor: User, card: StudyCard, *, reason: str | None = None,
                origin: Origin = CLI) -> StudyCard:
    """Cancel (注销) a card, e.g. when the cadre leaves; records are kept."""
    _check_card_admin(actor, card.user)
    if card.state == CardState.CANCELLED:
        raise Conflict(_("这张学习卡已注销"), code="card_cancelled")
    if not (reason or "").strip():
        raise Invalid(_("注销学习卡须填写原因"), field="reason")
    previous = card.state
    card.state = CardState.CANCELLED
    card.cancelled_at = utcnow()
    db.session.flush()
    ended = revoke_sessions(user_id=card.user_id, reason="card_cancelled")
    record_event(actor, "card.cancel", target=card, target_type="card",
                 target_label=f"{card.user.name} {card.display_number}", unit=card.user.unit,
                 origin=origin, cadre_id=card.user_id, card_number=card.number,
                 previous_state=previous.value, reason=reason.strip(), sessions_ended=ended)
    return card


def reset_password(actor: User, user: User, *, origin: Origin = CLI) -> str:
    """Reset a cadre's password to a new initial one (shown once); the cadre must change it."""
    _check_card_admin(actor, user)
    password = new_initial_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    revoke_sessions(user_id=user.id, reason="password_reset")
    db.session.flush()
    record_event(actor, "account.reset_password", target=user, target_type="cadre",
                 target_label=user.name, unit=user.unit, origin=origin)
    return password


# --- staff -------------------------------------------------------------------------------

def create_staff(actor: User | None, *, username: str, name: str, role: Role, unit: Unit,
                 password: str, origin: Origin = CLI, must_change_password: bool = False) -> User:
    """Create an administrator or viewer account (the first org admin has actor None)."""
    if role == Role.CADRE:
        raise Invalid(_("学员请通过登记造册创建"), field="role")
    if actor is not None:
        require_role(actor, Role.ORGADMIN)
    username = _check_username(username)
    if username is None:
        raise Invalid(_("用户名不能为空"), field="username")
    check_policy(password, forbidden=(username,), field="password")
    user = User(username=username, name=clean_name(name), role=role, unit=unit,
                password_hash=hash_password(password), must_change_password=must_change_password)
    db.session.add(user)
    db.session.flush()
    record_event(actor, "staff.create", target=user, target_type="user", target_label=username,
                 unit=unit, origin=origin, role=role.value)
    return user


# --- authentication ----------------------------------------------------------------------

class LoginFailed(Invalid):
    code = "login_failed"
    status = 401


@dataclass
class LoginResult:
    user: User
    session: LoginSession
    card: StudyCard | None = None
    notices: list[str] = field(default_factory=list)


def _minutes_until(moment: datetime) -> int:
    return max(1, int((moment - utcnow()).total_seconds() + 59) // 60)


def _ip_throttle(ip: str | None) -> LoginThrottle | None:
    if not ip:
        return None
    key = f"ip:{ip}"
    row = db.session.scalar(select(LoginThrottle).where(LoginThrottle.key == key))
    if row is None:
        # Several first logins from one address (a training room) may race to create the row.
        db.session.execute(dialect_insert(LoginThrottle).values(key=key, failures=0, window_started_at=utcnow())
                           .on_conflict_do_nothing())
        row = db.session.scalar(select(LoginThrottle).where(LoginThrottle.key == key))
    return row


def _locked_message(until: datetime) -> str:
    local = until.astimezone(_tz()).strftime("%H:%M")
    return _("登录失败次数过多,已暂时锁定,请在 %(minutes)d 分钟后(%(time)s 之后)再试",
             minutes=_minutes_until(until), time=local)


def _tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))


def authenticate(login: str, password: str, *, origin: Origin = CLI) -> LoginResult:
    """Check a card number or username and password; opens a server-side session on success.

    Failures are counted per account and per client address; the caller commits even when this
    raises, so that the counters persist.
    """
    cfg = current_app.config
    now = utcnow()
    ip_row = _ip_throttle(origin.ip)
    if ip_row is not None:
        if ip_row.locked_until and ip_row.locked_until > now:
            raise RateLimited(_locked_message(ip_row.locked_until),
                              retry_after=int((ip_row.locked_until - now).total_seconds()) + 1)
        if now - ip_row.window_started_at > timedelta(minutes=cfg["LOGIN_IP_WINDOW_MINUTES"]):
            ip_row.failures, ip_row.window_started_at, ip_row.locked_until = 0, now, None

    login = (login or "").strip()
    if not login or not password:
        raise Invalid(_("请输入学习卡号或用户名,以及密码"), field="login")
    card = None
    if looks_like_card_number(login):
        card = db.session.scalar(select(StudyCard).where(StudyCard.number == normalise_card_number(login)))
        user = card.user if card else None
    else:
        user = db.session.scalar(select(User).where(User.username == login))

    def fail(message: str, *, count: bool = True):
        if ip_row is not None and count:
            ip_row.failures += 1
            if ip_row.failures >= cfg["LOGIN_IP_MAX_FAILURES"]:
                ip_row.locked_until = now + timedelta(minutes=cfg["LOGIN_LOCK_MINUTES"])
        db.session.flush()
        raise LoginFailed(message, field="password")

    if user is not None and user.locked_until and user.locked_until > now:
        raise RateLimited(_locked_message(user.locked_until),
                          retry_after=int((user.locked_until - now).total_seconds()) + 1)
    if user is None or not verify_password(user.password_hash, password):
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= cfg["LOGIN_MAX_FAILURES"]:
                user.locked_until = now + timedelta(minutes=cfg["LOGIN_LOCK_MINUTES"])
                user.failed_logins = 0
                record_event(None, "auth.lockout", target=user, target_type="user",
                             target_label=user.name, unit=user.unit, origin=origin)
                if ip_row is not None:
                    ip_row.failures += 1
                db.session.flush()
                raise RateLimited(_locked_message(user.locked_until),
                                  retry_after=int((user.locked_until - now).total_seconds()) + 1)
            left = cfg["LOGIN_MAX_FAILURES"] - user.failed_logins
            if left <= 3:
                fail(_("账号或密码错误;再错 %(n)d 次账户将被暂时锁定", n=left))
        fail(_("账号或密码错误"))

    # The password is right; now the state of the account and card.
    if card is not None and card.state != CardState.ACTIVE:
        if card.state == CardState.CANCELLED:
            message = _("这张学习卡已注销,不能再登录")
        elif _is_replaced(card, user):  # the cadre already holds the replacement: no "ask for one"
            message = _("这张学习卡已挂失并已补办新卡,不能再登录;请使用新卡登录")
        else:
            message = _("这张学习卡已挂失,不能再登录;请联系网络管理员补卡")
        fail(message, count=False)
    if not user.is_active:
        fail(_("账户已停用,请联系网络管理员"), count=False)
    if user.role == Role.CADRE:
        active = user.active_card
        if active is None:
            fail(_("您没有有效的学习卡(可能已挂失或注销),请联系网络管理员"), count=False)
        card = active
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session = LoginSession(token=secrets.token_urlsafe(32), user=user, card_id=card.id if card else None,
                           ip=origin.ip, user_agent=(origin.user_agent or "")[:255] or None)
    db.session.add(session)
    db.session.flush()
    user.login_token = session.token
    return LoginResult(user=user, session=session, card=card)


def load_session_user(token: str | None) -> User | None:
    """The user of a live server-side session, or None (revoked, lost card, inactive)."""
    if not token:
        return None
    # One round trip for the session, its user and its card: this runs on every request.
    row = db.session.execute(select(LoginSession, StudyCard.state)
                             .outerjoin(StudyCard, StudyCard.id == LoginSession.card_id)
                             .where(LoginSession.token == token)
                             .options(joinedload(LoginSession.user))).first()
    if row is None:
        return None
    s, card_state = row
    if s.revoked_at is not None:
        return None
    user = s.user
    if not user.is_active:
        return None
    if s.card_id is not None and card_state != CardState.ACTIVE:
        return None
    now = utcnow()
    idle = current_app.config["PERMANENT_SESSION_LIFETIME"]
    if now - s.last_seen_at > idle:
        return None
    if now - s.last_seen_at > timedelta(minutes=1):
        s.last_seen_at = now  # committed with the request's unit of work, at most once a minute
    user.login_token = token
    return user


def end_session(user: User) -> None:
    """Log out: the session is revoked on the server, so a copied cookie stops working too."""
    if user.login_token:
        db.session.execute(update(LoginSession).where(LoginSession.token == user.login_token,
                                                      LoginSession.revoked_at.is_(None))
                           .values(revoked_at=utcnow(), revoked_reason="logout"))


def change_password(user: User, old_password: str, new_password: str, *, origin: Origin = CLI) -> None:
    """Change one's own password; ends the user's other sessions."""
    if not verify_password(user.password_hash, old_password):
        raise Invalid(_("当前密码不正确"), field="old_password")
    if old_password == new_password:
        raise Invalid(_("新密码不能与当前密码相同"), field="new_password")
    forbidden = tuple(x for x in (user.username, user.cadre.id_number if user.cadre else None,
                                  *(c.number for c in user.cards)) if x)
    check_policy(new_password, forbidden=forbidden)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    db.session.execute(update(LoginSession).where(LoginSession.user_id == user.id,
                                                  LoginSession.token != (user.login_token or ""),
                                                  LoginSession.revoked_at.is_(None))
                       .values(revoked_at=utcnow(), revoked_reason="password_changed"))
    db.session.flush()
    record_event(user, "account.change_password", target=user, target_type="user",
                 target_label=user.name, unit=user.unit, origin=origin)
