"""Course exams: settings, attempts with seeded random papers (随机抽题), answers saved as the
cadre goes, server-side deadlines and grading, and the course's credits on the first pass."""
from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _, pgettext
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.accounts.models import Role, User
from app.audit.services import CLI, Origin, record_event
from app.catalogue import services as catalogue
from app.catalogue.models import Course
from app.credits import services as credits
from app.credits.models import CreditEntry
from app.errors import Conflict, Invalid, NotFound, PermissionDenied, RuleViolation
from app.exams.models import AttemptEnd, AttemptItem, ExamAttempt, ExamSetting, Question, QuestionKind
from app.extensions import db
from app.learning import services as learning
from app.learning.models import CourseProgress

KIND_ORDER = (QuestionKind.SINGLE, QuestionKind.MULTIPLE, QuestionKind.TRUEFALSE)
LETTERS = "ABCDEFGH"
TRUEFALSE_LETTERS = ("T", "F")
MAX_QUESTIONS = 100


def now() -> datetime:
    return learning.now()


def grace() -> timedelta:
    """Answers that reach the server this long after the deadline still count (network latency)."""
    return timedelta(seconds=current_app.config["EXAM_GRACE_SECONDS"])


# --- settings -----------------------------------------------------------------------------

def get_setting(course_id: int) -> ExamSetting | None:
    return db.session.get(ExamSetting, course_id)


def active_questions(course_id: int) -> list[Question]:
    return list(db.session.scalars(select(Question).where(
        Question.course_id == course_id, Question.retired_at.is_(None)).order_by(Question.position)))


def pool_of(course_id: int) -> dict[str, list[int]]:
    """The active bank by kind, ids ascending: what an attempt is drawn from."""
    pool: dict[str, list[int]] = {k.value: [] for k in KIND_ORDER}
    for qid, kind in db.session.execute(select(Question.id, Question.kind).where(
            Question.course_id == course_id, Question.retired_at.is_(None)).order_by(Question.id)):
        pool[QuestionKind(kind).value].append(qid)
    return pool


def shortfall(setting: ExamSetting, pool: dict[str, list[int]]) -> str | None:
    """Why the bank cannot supply a paper under these settings, or None."""
    per_type = setting.per_type
    if per_type:
        for kind in KIND_ORDER:
            need, have = per_type[kind.value], len(pool[kind.value])
            if need > have:
                return _("题库中%(kind)s题只有 %(have)d 道,少于每卷所需的 %(need)d 道", kind=kind_label(kind.value),
                         have=have, need=need)
        return None
    have = sum(len(ids) for ids in pool.values())
    if setting.question_count > have:
        return _("题库中只有 %(have)d 道题,少于每卷所需的 %(need)d 道", have=have, need=setting.question_count)
    return None


def kind_label(kind: str) -> str:
    return {"single": _("单选"), "multiple": _("多选"), "truefalse": _("判断")}[kind]


SETTING_LIMITS = {
    "question_count": (1, MAX_QUESTIONS), "time_limit_minutes": (5, 240), "pass_mark": (1, 100),
    "attempts_per_day": (0, 20), "attempts_total": (0, 100),
}


def update_setting(actor: User, course_id: int, values: dict, *, origin: Origin = CLI) -> ExamSetting:
    """Save a course's exam settings (organisation department); open attempts keep theirs."""
    catalogue.require_manager(actor)
    course = catalogue.get_course(actor, course_id)
    setting = get_setting(course.id) or ExamSetting(course_id=course.id)
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    for key, (lo, hi) in SETTING_LIMITS.items():
        if key not in values:
            continue
        v = values[key]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            errors[key] = [_("须为 %(lo)d–%(hi)d 的整数", lo=lo, hi=hi)]
        else:
            clean[key] = v
    for key in ("single_count", "multiple_count", "truefalse_count"):
        if key in values:
            v = values[key]
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_QUESTIONS):
                errors[key] = [_("须为 0–%(hi)d 的整数,或留空", hi=MAX_QUESTIONS)]
            else:
                clean[key] = v
    for key in ("show_answers_after_pass", "multiple_partial", "papers_allowed"):
        if key in values:
            clean[key] = bool(values[key])
    if errors:
        key = next(iter(errors))
        raise Invalid(errors[key][0], field=key, errors=errors)
    before = {k: getattr(setting, k) for k in clean}
    for k, v in clean.items():
        setattr(setting, k, v)
    if setting.per_type is not None:
        total = sum(setting.per_type.values())
        if total < 1:
            raise Invalid(_("按题型抽题时,各题型数量之和至少为 1"), field="single_count")
        if total > MAX_QUESTIONS:  # the sum is the paper's question count, bounded like it
            raise Invalid(_("按题型抽题时,各题型数量之和不能超过 %(hi)d", hi=MAX_QUESTIONS), field="single_count")
        setting.question_count = total
    changed = {k: [before[k], getattr(setting, k)] for k in clean if before[k] != getattr(setting, k)}
    if not changed and setting in db.session:
        return setting
    db.session.add(setting)
    db.session.flush()
    record_event(actor, "exams.settings", target=course, target_label=course.title, origin=origin, changed=changed)
    return setting


# --- drawing a paper --------------------------------------------------------------------------

@dataclass(frozen=True)
class DrawnQuestion:
    question_id: int
    option_order: tuple[int, ...]


def draw_paper(seed: int, pool: dict[str, list[int]], per_type: dict[str, int] | None, count: int,
               option_counts: dict[int, int]) -> list[DrawnQuestion]:
    """The paper for a seed: the same seed, pool and settings always give the same questions in the
    same order with the same option orders. Questions are grouped by kind (单选, 多选, 判断), as a
    paper is printed; true/false options are never shuffled."""
    rng = random.Random(seed)
    if per_type:
        chosen = {k.value: rng.sample(pool[k.value], per_type[k.value]) for k in KIND_ORDER}
    else:
        everything = [(k.value, qid) for k in KIND_ORDER for qid in pool[k.value]]
        picked = rng.sample(everything, count)
        chosen = {k.value: [qid for kind, qid in picked if kind == k.value] for k in KIND_ORDER}
    paper = []
    for k in KIND_ORDER:
        for qid in chosen[k.value]:
            order = list(range(option_counts[qid]))
            if k != QuestionKind.TRUEFALSE:
                rng.shuffle(order)
            paper.append(DrawnQuestion(qid, tuple(order)))
    return paper


def option_counts_for(ids) -> dict[int, int]:
    rows = db.session.execute(select(Question.id, Question.kind, Question.options).where(Question.id.in_(list(ids))))
    return {qid: (2 if QuestionKind(kind) == QuestionKind.TRUEFALSE else len(options)) for qid, kind, options in rows}


def reproduce(attempt: ExamAttempt) -> list[DrawnQuestion]:
    """Draw an attempt's paper again from its stored seed, pool and per-type counts (for an audit)."""
    ids = [qid for ids_ in attempt.pool_ids.values() for qid in ids_]
    return draw_paper(attempt.seed, attempt.pool_ids, attempt.per_type, len(attempt.items), option_counts_for(ids))


# --- status and limits --------------------------------------------------------------------------

def _day_bounds(t: datetime) -> tuple[datetime, datetime]:
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    start = datetime.combine(learning.local_day(t), time.min, tzinfo=tz)
    return start, start + timedelta(days=1)


def course_completed(user: User, course_id: int) -> bool:
    return db.session.scalar(select(CourseProgress.completed_at).where(
        CourseProgress.user_id == user.id, CourseProgress.course_id == course_id)) is not None


@dataclass
class ExamStatus:
    course: Course
    setting: ExamSetting | None
    completed: bool
    attempts_total: int = 0
    attempts_today: int = 0
    open_attempt: ExamAttempt | None = None
    best_score: int | None = None
    passed: bool = False
    credit_entry: CreditEntry | None = None  # the course's credits, however earned
    blocked: str | None = None  # why a new attempt cannot start now (None: it can)
    blocked_code: str | None = None  # no_exam, not_published, not_completed, attempts_exhausted, bank_short
    attempts: list[ExamAttempt] = field(default_factory=list)

    @property
    def remaining_total(self) -> int | None:
        if not self.setting or not self.setting.attempts_total:
            return None
        return max(0, self.setting.attempts_total - self.attempts_total)

    @property
    def remaining_today(self) -> int | None:
        if not self.setting or not self.setting.attempts_per_day:
            return None
        return max(0, self.setting.attempts_per_day - self.attempts_today)


def _require_cadre(user: User) -> None:
    if user.role != Role.CADRE:
        raise PermissionDenied(_("只有学员可以参加考试"))


def _close_overdue(user: User, course_id: int | None = None) -> None:
    """Close the caller's attempts whose time ran out (graded with what was saved)."""
    q = select(ExamAttempt).where(ExamAttempt.user_id == user.id, ExamAttempt.closed_at.is_(None))
    if course_id is not None:
        q = q.where(ExamAttempt.course_id == course_id)
    t = now()
    for attempt in db.session.scalars(q):
        if t > attempt.deadline + grace():
            close_attempt(attempt, AttemptEnd.DEADLINE, attempt.deadline)


def exam_status(user: User, course: Course) -> ExamStatus:
    """What a cadre may do about a course's exam now (the server's answer, shown as is)."""
    setting = get_setting(course.id)
    completed = course_completed(user, course.id)
    st = ExamStatus(course=course, setting=setting, completed=completed)
    _close_overdue(user, course.id)
    st.attempts = list(db.session.scalars(select(ExamAttempt).where(
        ExamAttempt.user_id == user.id, ExamAttempt.course_id == course.id).order_by(ExamAttempt.number.desc())))
    st.attempts_total = len(st.attempts)
    day_start, day_end = _day_bounds(now())
    st.attempts_today = sum(1 for a in st.attempts if day_start <= a.started_at < day_end)
    st.open_attempt = next((a for a in st.attempts if a.closed_at is None), None)
    scores = [a.score for a in st.attempts if a.score is not None]
    st.best_score = max(scores) if scores else None
    st.passed = any(a.passed for a in st.attempts)
    st.credit_entry = credits.source_entry(user.id, "course_credits", course.id)
    if setting is None:
        st.blocked, st.blocked_code = _("本课程没有结业考试"), "no_exam"
    elif not course.published:
        st.blocked, st.blocked_code = _("课程未发布"), "not_published"
    elif not completed:
        st.blocked, st.blocked_code = _("学完本课程全部课时后才能参加考试"), "not_completed"
    elif st.open_attempt is not None:
        pass  # resuming is always possible
    elif setting.attempts_total and st.attempts_total >= setting.attempts_total:
        st.blocked = _("本课程考试最多可参加 %(n)d 次,您已全部用完", n=setting.attempts_total)
        st.blocked_code = "attempts_exhausted"
    elif setting.attempts_per_day and st.attempts_today >= setting.attempts_per_day:
        st.blocked = _("本课程考试每天最多可参加 %(n)d 次,今天的次数已用完,请明天再来", n=setting.attempts_per_day)
        st.blocked_code = "attempts_exhausted"
    else:
        short = shortfall(setting, pool_of(course.id))
        if short:
            st.blocked, st.blocked_code = _("考试暂未开放:%(why)s,请联系组织部", why=short), "bank_short"
    return st


# --- attempts -------------------------------------------------------------------------------

def start_attempt(user: User, course_id: int) -> tuple[ExamAttempt, bool]:
    """Start an attempt, or return the open one (resumed). (attempt, created)."""
    _require_cadre(user)
    course = catalogue.get_course(user, course_id)
    st = exam_status(user, course)
    if st.open_attempt is not None:
        return st.open_attempt, False
    if st.blocked:
        raise RuleViolation(st.blocked, code=st.blocked_code)
    setting = st.setting
    pool = pool_of(course.id)
    seed = secrets.randbits(62)
    ids = [qid for ids_ in pool.values() for qid in ids_]
    drawn = draw_paper(seed, pool, setting.per_type, setting.question_count, option_counts_for(ids))
    t = now()
    attempt = ExamAttempt(
        user_id=user.id, course_id=course.id, number=st.attempts_total + 1, seed=seed, pool_ids=pool,
        per_type=setting.per_type,
        pass_mark=setting.pass_mark, time_limit_minutes=setting.time_limit_minutes,
        multiple_partial=setting.multiple_partial, started_at=t,
        deadline=t + timedelta(minutes=setting.time_limit_minutes),
        items=[AttemptItem(position=i, question_id=d.question_id, option_order=list(d.option_order))
               for i, d in enumerate(drawn, start=1)])
    try:
        with db.session.begin_nested():
            db.session.add(attempt)
    except IntegrityError:
        # Another request of the same cadre started one at the same moment: that one stands.
        existing = db.session.scalar(select(ExamAttempt).where(
            ExamAttempt.user_id == user.id, ExamAttempt.course_id == course.id, ExamAttempt.closed_at.is_(None)))
        if existing is None:
            raise Conflict(_("考试正在开始,请刷新页面")) from None
        return existing, False
    return attempt, True


def seconds_left(attempt: ExamAttempt) -> int:
    """Time left by the server's clock (0 once closed)."""
    if attempt.closed_at is not None:
        return 0
    return max(0, int((attempt.deadline - now()).total_seconds()))


def get_attempt(user: User, attempt_id: int) -> ExamAttempt:
    """An attempt its cadre or an organisation-department admin may see (closed if overdue)."""
    attempt = db.session.get(ExamAttempt, attempt_id, options=[
        selectinload(ExamAttempt.items).selectinload(AttemptItem.question)])
    if attempt is None or (attempt.user_id != user.id and user.role != Role.ORGADMIN):
        raise NotFound(_("考试记录不存在"))
    if attempt.closed_at is None and now() > attempt.deadline + grace():
        close_attempt(attempt, AttemptEnd.DEADLINE, attempt.deadline)
    return attempt


def _to_original(item: AttemptItem, shown: str) -> str:
    """The cadre's answer in displayed letters → the question's own letters (validated)."""
    kind = item.question.kind
    shown = (shown or "").strip().upper()
    if kind == QuestionKind.TRUEFALSE:
        if shown not in TRUEFALSE_LETTERS:
            raise Invalid(_("第 %(n)d 题是判断题,答案只能是 T 或 F", n=item.position), field="answers")
        return shown
    letters = LETTERS[:len(item.option_order)]
    if not shown or any(ch not in letters for ch in shown) or len(set(shown)) != len(shown):
        raise Invalid(_("第 %(n)d 题的答案只能是选项 %(letters)s 中的字母", n=item.position, letters=letters),
                      field="answers")
    if kind == QuestionKind.SINGLE and len(shown) != 1:
        raise Invalid(_("第 %(n)d 题是单选题,只能选一个选项", n=item.position), field="answers")
    return "".join(sorted(LETTERS[item.option_order[LETTERS.index(ch)]] for ch in shown))


def to_shown(item: AttemptItem, original: str | None) -> str | None:
    """A response or answer in the question's letters → the letters the cadre saw."""
    if original is None:
        return None
    if item.question.kind == QuestionKind.TRUEFALSE:
        return original
    return "".join(sorted(LETTERS[item.option_order.index(LETTERS.index(ch))] for ch in original))


def _parse_answers(attempt: ExamAttempt, answers: dict) -> dict[int, str | None]:
    """{position: shown letters or null} → {position: original letters or None}, all or nothing."""
    by_pos = {item.position: item for item in attempt.items}
    out: dict[int, str | None] = {}
    for key, value in answers.items():
        try:
            pos = int(key)
        except (TypeError, ValueError):
            raise Invalid(_("题号无效:%(k)s", k=str(key)[:20]), field="answers") from None
        item = by_pos.get(pos)
        if item is None:
            raise Invalid(_("试卷中没有第 %(n)s 题", n=str(key)[:20]), field="answers")
        if value is not None and not isinstance(value, str):
            raise Invalid(_("第 %(n)d 题的答案格式无效", n=pos), field="answers")
        out[pos] = None if value in (None, "") else _to_original(item, value)
    return out


def _require_own(user: User, attempt: ExamAttempt) -> None:
    """Only the cadre who sits an attempt may answer or hand it in (an admin may only read it)."""
    if attempt.user_id != user.id:
        raise NotFound(_("考试记录不存在"))


def save_answers(user: User, attempt_id: int, answers: dict) -> ExamAttempt:
    """Save some answers of an open attempt (as the cadre goes). After the deadline nothing is saved:
    the attempt is closed with what it had and a 409 says so."""
    attempt = get_attempt(user, attempt_id)
    _require_own(user, attempt)
    if attempt.closed_at is not None:
        if attempt.end == AttemptEnd.DEADLINE:
            raise Conflict(_("考试时间已到,已按截止时保存的答案评分"), code="attempt_closed")
        raise Conflict(_("本次考试已交卷,答案不能再修改"), code="attempt_closed")
    parsed = _parse_answers(attempt, answers)
    t = now()
    for item in attempt.items:
        if item.position in parsed and item.response != parsed[item.position]:
            item.response = parsed[item.position]
            item.saved_at = t
    return attempt


@dataclass
class Submitted:
    attempt: ExamAttempt
    late: bool  # the answers sent with the submission arrived after the deadline and were not counted


def submit_attempt(user: User, attempt_id: int, answers: dict | None = None) -> Submitted:
    """Hand in. Answers sent with it count if they arrive in time; a retried submission returns the
    same result; a late one is graded only with what was saved before the deadline."""
    attempt = get_attempt(user, attempt_id)
    _require_own(user, attempt)
    if attempt.closed_at is not None:
        return Submitted(attempt, late=attempt.end == AttemptEnd.DEADLINE and bool(answers))
    if answers:
        save_answers(user, attempt_id, answers)
    close_attempt(attempt, AttemptEnd.SUBMITTED, now())
    return Submitted(attempt, late=False)


def grade_item(item: AttemptItem, partial: bool) -> float:
    answer, response = item.question.answer, item.response
    if not response:
        return 0.0
    if response == answer:
        return 1.0
    if partial and item.question.kind == QuestionKind.MULTIPLE and set(response) < set(answer):
        return 0.5
    return 0.0


def close_attempt(attempt: ExamAttempt, end: AttemptEnd, t: datetime) -> bool:
    """Close and grade an attempt exactly once (the database decides between racing closers);
    the first pass of the course earns its credits. False when it was closed already."""
    won = db.session.execute(update(ExamAttempt).where(
        ExamAttempt.id == attempt.id, ExamAttempt.closed_at.is_(None)).values(closed_at=t, end=end)
        .execution_options(synchronize_session=False)).rowcount
    if not won:
        db.session.refresh(attempt)
        return False
    attempt.closed_at, attempt.end = t, end
    total = 0.0
    correct = 0
    for item in attempt.items:
        item.points = grade_item(item, attempt.multiple_partial)
        total += item.points
        correct += item.points == 1.0
    n = len(attempt.items)
    attempt.score = int(total * 100 / n + 0.5) if n else 0
    attempt.correct_count = correct
    attempt.passed = attempt.score >= attempt.pass_mark
    db.session.flush()
    if attempt.passed:
        entry = credits.award_course_credits(attempt.user_id, attempt.course, via="exam", via_id=attempt.id,
                                             earned_at=t)
        if entry is not None:
            attempt.entry_id = entry.id
            db.session.flush()
    return True


def close_overdue_attempts(limit: int = 500) -> int:
    """Close every attempt past its deadline (the worker's periodic sweep); how many."""
    cutoff = now() - grace()
    attempts = list(db.session.scalars(select(ExamAttempt).where(
        ExamAttempt.closed_at.is_(None), ExamAttempt.deadline < cutoff).order_by(ExamAttempt.deadline).limit(limit)))
    return sum(close_attempt(a, AttemptEnd.DEADLINE, a.deadline) for a in attempts)


def list_attempts(user: User, *, course_id: int | None = None, page: int = 1, per_page: int = 20):
    _close_overdue(user, course_id)
    q = select(ExamAttempt).where(ExamAttempt.user_id == user.id).options(
        selectinload(ExamAttempt.course), selectinload(ExamAttempt.entry))
    if course_id is not None:
        q = q.where(ExamAttempt.course_id == course_id)
    return db.paginate(q.order_by(ExamAttempt.started_at.desc(), ExamAttempt.id.desc()), page=page,
                       per_page=per_page, error_out=False)


# --- what the cadre sees ----------------------------------------------------------------------------

def paper_questions(attempt: ExamAttempt) -> list[dict]:
    """The paper as shown: stems and options in the shown order, and the saved responses. Never the
    answers or explanations (see `result_questions`)."""
    out = []
    for item in attempt.items:
        q = item.question
        if q.kind == QuestionKind.TRUEFALSE:
            options = [{"key": "T", "text": pgettext("truefalse", "正确")}, {"key": "F", "text": pgettext("truefalse", "错误")}]
        else:
            options = [{"key": LETTERS[i], "text": q.options[j]} for i, j in enumerate(item.option_order)]
        out.append({"position": item.position, "kind": q.kind.value, "kind_label": kind_label(q.kind.value),
                    "stem": q.stem, "options": options, "response": to_shown(item, item.response)})
    return out


def answers_visible(attempt: ExamAttempt) -> bool:
    """Correct answers and explanations appear after a pass, if the course's settings allow."""
    setting = get_setting(attempt.course_id)
    return bool(attempt.closed_at is not None and attempt.passed and (setting is None or setting.show_answers_after_pass))


def result_questions(attempt: ExamAttempt) -> list[dict]:
    """The closed paper with each question's outcome; answers and explanations only when visible."""
    if attempt.closed_at is None:
        raise Conflict(_("考试尚未交卷"), code="attempt_open")
    show = answers_visible(attempt)
    out = paper_questions(attempt)
    for row, item in zip(out, attempt.items, strict=True):
        row["points"] = item.points
        row["correct"] = item.points == 1.0
        if show:
            row["answer"] = to_shown(item, item.question.answer)
            row["explanation"] = item.question.explanation
    return out


@dataclass
class Earned:
    credits: int  # what this attempt earned (0 when it earned nothing)
    message: str


def earned(attempt: ExamAttempt) -> Earned:
    """What the result page says about credits."""
    if attempt.closed_at is None:
        return Earned(0, "")
    if attempt.entry_id is not None:
        return Earned(attempt.entry.credits, _("考试合格,获得本课程 %(n)d 学分,已记入学分档案", n=attempt.entry.credits))
    if not attempt.passed:
        return Earned(0, _("未达到 %(p)d 分合格线,本次不计学分", p=attempt.pass_mark))
    prior = credits.source_entry(attempt.user_id, "course_credits", attempt.course_id)
    if prior is not None and prior.details.get("via") == "paper":
        return Earned(0, _("考试合格。本课程学分已于 %(d)s 通过论文获得,不重复计分", d=prior.earned_on.isoformat()))
    if prior is not None:
        return Earned(0, _("考试合格。本课程学分已于 %(d)s 获得,不重复计分", d=prior.earned_on.isoformat()))
    return Earned(0, _("考试合格"))
