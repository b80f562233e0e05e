"""Credit applications (第十二条): a cadre applies for additional (第八条, degree study) or reward
(第九条: books, articles, awards) credits with evidence; the unit's network administrator reviews,
the organisation department decides; an approval is one ledger entry, however often it is clicked."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import force_locale, gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.accounts.models import Role, Unit, User
from app.accounts.scope import STAFF_ROLES, in_scope, require_role
from app.audit.services import CLI, Origin, record_event
from app.credits import services as ledger
from app.credits.evidence import StoredEvidence, discard_evidence
from app.credits.models import ApplicationKind, ApplicationState, CreditApplication, CreditKind
from app.credits.rules import LEVELS
from app.db import utcnow
from app.errors import Conflict, DomainError, Invalid, NotFound, PermissionDenied
from app.extensions import db
from app.notifications.services import notify

SOURCE_TYPE = "application"
EARLIEST = date(2000, 1, 1)
TITLE_MIN, TITLE_MAX = 2, 200
TEXT_MAX = 2000
# States in which an application is still open, and those that may be withdrawn.
OPEN_STATES = (ApplicationState.SUBMITTED, ApplicationState.REVIEWED)
LIVE_STATES = OPEN_STATES + (ApplicationState.APPROVED,)  # as the partial unique index counts them


def _state_changed() -> Conflict:
    return Conflict(_("申请状态已变化,请刷新页面后再看"), code="state_changed")


def counting_year(kind: ApplicationKind, event_date: date, study_year: int | None) -> int:
    """The year whose rules set the amount: the year of study for a degree, else the event's year."""
    return study_year if kind == ApplicationKind.DEGREE and study_year else event_date.year


def amount_for(kind: ApplicationKind | str, level: str, year: int) -> int:
    """Credits an application of this kind and level earns under the rules of `year`."""
    return ledger.get_rules(year).application_amount(kind, level)


# --- applying ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Clean:
    kind: ApplicationKind
    level: str
    title: str
    details: str | None
    event_date: date
    study_year: int | None
    admission_date: date | None


def _check(kind, level, title, details, event_date, study_year, admission_date) -> _Clean:
    try:
        kind = ApplicationKind(kind)
    except ValueError:
        raise Invalid(_("请选择申请类别"), field="kind") from None
    level = (level or "").strip()
    if level not in LEVELS[kind]:
        raise Invalid(_("所选级别不属于该申请类别"), field="level")
    title = " ".join((title or "").split())
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        raise Invalid(_("名称须为 %(min)d 到 %(max)d 个字", min=TITLE_MIN, max=TITLE_MAX), field="title")
    details = (details or "").strip() or None
    if details and len(details) > TEXT_MAX:
        raise Invalid(_("说明不能超过 %(max)d 个字", max=TEXT_MAX), field="details")
    today = ledger.today()
    if kind == ApplicationKind.DEGREE:
        if admission_date is None:
            raise Invalid(_("请填写入学日期(入学通知书上的日期)"), field="admission_date")
        if admission_date > today:
            raise Invalid(_("入学日期不能晚于今天"), field="admission_date")
        if admission_date < date(1980, 1, 1):
            raise Invalid(_("入学日期无效"), field="admission_date")
        if study_year is None:
            raise Invalid(_("请填写申请的学习年度"), field="study_year")
        if not max(admission_date.year, EARLIEST.year) <= study_year <= today.year:
            raise Invalid(_("学习年度须在入学年份(%(first)d)与今年(%(last)d)之间",
                            first=max(admission_date.year, EARLIEST.year), last=today.year), field="study_year")
        if event_date is None:
            # Without a date of its own (a year of study), the claim is dated at the year's end.
            event_date = min(date(study_year, 12, 31), today)
        elif event_date.year != study_year or event_date < admission_date:
            raise Invalid(_("日期须在所申请的学习年度内,且不早于入学日期"), field="event_date")
    else:
        study_year = admission_date = None
        if event_date is None:
            raise Invalid(_("请填写日期(出版、发表或获奖的日期)"), field="event_date")
    if event_date > today:
        raise Invalid(_("日期不能晚于今天"), field="event_date")
    if event_date < EARLIEST:
        raise Invalid(_("日期不能早于 2000 年"), field="event_date")
    return _Clean(kind, level, title, details, event_date, study_year, admission_date)


def _live_degree_year(user_id: int, study_year: int) -> CreditApplication | None:
    return db.session.scalar(select(CreditApplication).where(
        CreditApplication.user_id == user_id, CreditApplication.kind == ApplicationKind.DEGREE,
        CreditApplication.study_year == study_year,
        CreditApplication.state.in_(LIVE_STATES)).limit(1))


def _degree_conflict(study_year: int) -> Conflict:
    return Conflict(_("%(year)d 学习年度已有学历进修学分申请(待审或已批准),同一年度只能申请一次", year=study_year),
                    field="study_year", code="duplicate_study_year")


def apply(actor: User, *, kind: ApplicationKind | str, level: str, title: str, details: str | None = None,
          event_date: date | None, study_year: int | None = None, admission_date: date | None = None,
          evidence: StoredEvidence | None, origin: Origin = CLI) -> CreditApplication:
    """A cadre applies for credits for themselves; the evidence file (stored by the caller) is
    removed again if the application is refused."""
    try:
        if actor.role != Role.CADRE or actor.cadre is None:
            raise PermissionDenied(_("只有学员本人可以申请学分"))
        clean = _check(kind, level, title, details, event_date, study_year, admission_date)
        if evidence is None:
            raise Invalid(_("请上传证明材料(证书、出版物、获奖文件等的扫描件或照片)"), field="evidence")
        if clean.kind == ApplicationKind.DEGREE and _live_degree_year(actor.id, clean.study_year):
            raise _degree_conflict(clean.study_year)
        if clean.kind != ApplicationKind.DEGREE and db.session.scalar(select(CreditApplication.id).where(
                CreditApplication.user_id == actor.id, CreditApplication.kind == clean.kind,
                CreditApplication.title == clean.title, CreditApplication.event_date == clean.event_date,
                CreditApplication.state.in_(LIVE_STATES)).limit(1)):
            raise Conflict(_("同一成果已经申请过"), field="title", code="duplicate_application")
        application = CreditApplication(
            user_id=actor.id, kind=clean.kind, level=clean.level, title=clean.title, details=clean.details,
            event_date=clean.event_date, study_year=clean.study_year, admission_date=clean.admission_date,
            evidence_path=evidence.path, evidence_name=evidence.name,
            amount=amount_for(clean.kind, clean.level, counting_year(clean.kind, clean.event_date, clean.study_year)),
            state=ApplicationState.SUBMITTED, submitted_at=utcnow())
        try:
            # The partial unique index decides when two degree applications for a year race.
            with db.session.begin_nested():
                db.session.add(application)
                db.session.flush()
        except IntegrityError:
            raise _degree_conflict(clean.study_year) from None
        return application
    except DomainError:
        discard_evidence(evidence)
        raise


# --- reading ------------------------------------------------------------------------------------

def get_application(actor: User, application_id: int) -> CreditApplication:
    """An application its owner, or staff whose subtree holds the cadre, may see; else NotFound."""
    application = db.session.get(CreditApplication, application_id)
    if application is None:
        raise NotFound(_("学分申请不存在"))
    if application.user_id == actor.id:
        return application
    if actor.role in STAFF_ROLES and in_scope(actor, application.user.unit):
        return application
    raise NotFound(_("学分申请不存在"))


def _scoped(actor: User):
    q = select(CreditApplication)
    if actor.role == Role.CADRE:
        return q.where(CreditApplication.user_id == actor.id)
    if actor.role not in STAFF_ROLES:
        raise PermissionDenied(_("您没有执行此操作的权限"))
    if actor.role == Role.ORGADMIN:
        return q
    return (q.join(User, User.id == CreditApplication.user_id).join(Unit, Unit.id == User.unit_id)
            .where(Unit.path.startswith(actor.unit.path)))


def _state(value) -> ApplicationState | None:
    if value in (None, ""):
        return None
    try:
        return ApplicationState(value)
    except ValueError:
        raise Invalid(_("状态无效"), field="state") from None


def list_applications(actor: User, *, state: ApplicationState | str | None = None,
                      kind: ApplicationKind | str | None = None, page: int = 1, per_page: int = 50):
    """A cadre's own applications; staff see those of the cadres in their subtree. Newest first."""
    q = _scoped(actor)
    state = _state(state)
    if state is not None:
        q = q.where(CreditApplication.state == state)
    if kind not in (None, ""):
        try:
            q = q.where(CreditApplication.kind == ApplicationKind(kind))
        except ValueError:
            raise Invalid(_("申请类别无效"), field="kind") from None
    q = q.options(selectinload(CreditApplication.user).selectinload(User.unit),
                  selectinload(CreditApplication.reviewed_by), selectinload(CreditApplication.decided_by),
                  selectinload(CreditApplication.entry))
    return db.paginate(q.order_by(CreditApplication.id.desc()), page=page, per_page=per_page, error_out=False,
                       max_per_page=500)


def count_by_state(actor: User) -> dict[str, int]:
    """How many applications in the actor's view are in each state (for the queue's tabs)."""
    sub = _scoped(actor).subquery()
    rows = db.session.execute(select(sub.c.state, func.count()).group_by(sub.c.state))
    counts = {s.value: 0 for s in ApplicationState}
    for state, n in rows:
        counts[ApplicationState(state).value] = n
    return counts


def allowed_actions(actor: User, application: CreditApplication) -> set[str]:
    """What the actor may do with the application now: withdraw, review, decide."""
    actions = set()
    state = application.state
    if application.user_id == actor.id and state in OPEN_STATES:
        actions.add("withdraw")
    if actor.role in (Role.NETADMIN, Role.ORGADMIN) and state == ApplicationState.SUBMITTED \
            and application.user_id != actor.id:
        actions.add("review")
    if actor.role == Role.ORGADMIN and state in OPEN_STATES and application.user_id != actor.id:
        actions.add("decide")
    return actions


# --- transitions ------------------------------------------------------------------------------

def _transition(application: CreditApplication, from_states, **values) -> None:
    """Move the application on only if it is still in one of `from_states`: of two people acting
    at once, one wins and the other gets a Conflict (the row is locked by the first UPDATE)."""
    result = db.session.execute(
        update(CreditApplication)
        .where(CreditApplication.id == application.id, CreditApplication.state.in_(from_states))
        .values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.expire(application)
        raise _state_changed()
    db.session.refresh(application)


def _link(application_id: int) -> str:
    from flask import url_for

    try:
        return url_for("credits_applications.detail", application_id=application_id)
    except RuntimeError:  # no request (a command): the path the blueprint serves
        return f"/credits/applications/{application_id}"


def _in_locale_of(user: User, message_factory) -> str:
    """A message in the cadre's language, not the acting administrator's."""
    config = current_app.config
    locale = user.locale if user.locale in config["LANGUAGES"] else config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        return str(message_factory())


def _comment(value: str | None, *, required: bool, field: str, message: str) -> str | None:
    value = (value or "").strip()
    if required and len(value) < 2:
        raise Invalid(message, field=field)
    if len(value) > TEXT_MAX:
        raise Invalid(_("不能超过 %(max)d 个字", max=TEXT_MAX), field=field)
    return value or None


def withdraw(actor: User, application_id: int, *, origin: Origin = CLI) -> CreditApplication:
    """The applicant takes back an application not yet decided."""
    application = get_application(actor, application_id)
    if application.user_id != actor.id:
        raise PermissionDenied(_("只有申请人本人可以撤回申请"))
    if application.state not in OPEN_STATES:
        raise Conflict(_("申请已处理,不能撤回"), code="not_withdrawable")
    # The withdrawal closes the application: who and when are kept in the decision columns.
    _transition(application, OPEN_STATES, state=ApplicationState.WITHDRAWN, decided_by_id=actor.id,
                decided_at=utcnow())
    return application


def review(actor: User, application_id: int, *, forward: bool, comment: str | None = None,
           origin: Origin = CLI) -> CreditApplication:
    """The unit's review: forward to the organisation department, or return with a comment."""
    require_role(actor, Role.NETADMIN, Role.ORGADMIN)
    application = get_application(actor, application_id)
    if application.user_id == actor.id:
        raise PermissionDenied(_("不能审核自己的申请"))
    comment = _comment(comment, required=not forward, field="comment", message=_("退回申请须填写理由"))
    if application.state != ApplicationState.SUBMITTED:
        raise _state_changed()
    now = utcnow()
    _transition(application, (ApplicationState.SUBMITTED,),
                state=ApplicationState.REVIEWED if forward else ApplicationState.REJECTED,
                reviewed_by_id=actor.id, reviewed_at=now, review_comment=comment)
    cadre = application.user
    title = application.title
    if forward:
        message = _in_locale_of(cadre, lambda: _("您的学分申请《%(title)s》已通过单位审核,等待组织部审批", title=title))
    else:
        message = _in_locale_of(cadre, lambda: _("您的学分申请《%(title)s》未通过单位审核:%(reason)s", title=title,
                                            reason=comment))
    notify(cadre.id, message, _link(application.id))
    record_event(actor, "credits.application_review", target=application, target_type="credit_application",
                 target_label=f"{cadre.name}:{title}"[:200], unit=cadre.unit, origin=origin,
                 application=application.id, cadre=cadre.id, outcome="forward" if forward else "reject",
                 comment=comment)
    return application


def decide(actor: User, application_id: int, *, approve: bool, reason: str | None = None,
           origin: Origin = CLI) -> CreditApplication:
    """The organisation department's decision. An approval puts the amount of the rules in force
    for the year it counts in into the ledger, once."""
    require_role(actor, Role.ORGADMIN)
    application = get_application(actor, application_id)
    if application.user_id == actor.id:
        raise PermissionDenied(_("不能审批自己的申请"))
    reason = _comment(reason, required=not approve, field="reason", message=_("不予批准须填写理由"))
    if application.state not in OPEN_STATES:
        raise _state_changed()
    cadre = application.user
    title = application.title
    values = {"decided_by_id": actor.id, "decided_at": utcnow(), "decision_reason": reason}
    if not approve:
        _transition(application, OPEN_STATES, state=ApplicationState.REJECTED, **values)
        message = _in_locale_of(cadre, lambda: _("您的学分申请《%(title)s》未获批准:%(reason)s", title=title, reason=reason))
        notify(cadre.id, message, _link(application.id))
        record_event(actor, "credits.application_decide", target=application, target_type="credit_application",
                     target_label=f"{cadre.name}:{title}"[:200], unit=cadre.unit, origin=origin,
                     application=application.id, cadre=cadre.id, outcome="reject", reason=reason)
        return application

    kind = application.kind
    amount = amount_for(kind, application.level, counting_year(kind, application.event_date, application.study_year))
    if kind == ApplicationKind.DEGREE:
        earned_on = min(date(application.study_year, 12, 31), ledger.today())
    else:
        earned_on = application.event_date
    # The state moves first: a second approval racing this one stops here, before the ledger.
    _transition(application, OPEN_STATES, state=ApplicationState.APPROVED, amount=amount, **values)
    entry = ledger.award(cadre.id, kind=CreditKind(kind.value), credits=amount, source_type=SOURCE_TYPE,
                         source_id=application.id, title=title, earned_on=earned_on, actor=actor,
                         evidence=application.evidence_name,
                         details={"application_id": application.id, "kind": kind.value, "level": application.level,
                                  "study_year": application.study_year, "evidence_path": application.evidence_path})
    if entry is None:  # this source had earned already: link that entry, add nothing
        entry = ledger.source_entry(cadre.id, SOURCE_TYPE, application.id)
    application.entry_id = entry.id
    db.session.flush()
    message = _in_locale_of(cadre, lambda: _("您的学分申请《%(title)s》已批准:记入 %(year)d 年度 %(credits)d 学分",
                                        title=title, year=entry.year, credits=entry.credits))
    notify(cadre.id, message, _link(application.id))
    record_event(actor, "credits.application_decide", target=application, target_type="credit_application",
                 target_label=f"{cadre.name}:{title}"[:200], unit=cadre.unit, origin=origin,
                 application=application.id, cadre=cadre.id, outcome="approve", credits=entry.credits,
                 year=entry.year, entry=entry.id, reason=reason)
    return application
