"""Papers (论文): a cadre submits one for a course (or a free topic where allowed), reviewers approve
it with a score and credits or return it with comments, the cadre revises; every version and
decision is kept, and an approved course paper earns the course's credits once."""
from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.accounts.models import Role, Unit, User
from app.accounts.scope import STAFF_ROLES, in_scope, require_role
from app.audit.services import CLI, Origin, record_event
from app.catalogue import services as catalogue
from app.credits import services as credits
from app.credits.evidence import remove_private, safe_name, send_private, write_private
from app.credits.models import CreditEntry, CreditKind
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound, PermissionDenied, RuleViolation
from app.exams.models import Paper, PaperDecision, PaperPolicy, PaperReview, PaperReviewer, PaperState, PaperVersion
from app.exams.services import get_setting
from app.extensions import db
from app.learning import services as learning
from app.notifications.services import notify

FOLDER = "papers"
MIME = {".pdf": "application/pdf", ".txt": "text/plain; charset=utf-8",
        ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
MIN_BODY = 200  # characters of text when no file is attached
MAX_BODY = 50_000
MAX_CREDITS = 20


# --- files ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredPaper:
    path: str
    name: str
    size: int


def _is_docx(data: bytes) -> bool:
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return False
    return "word/document.xml" in names and "[Content_Types].xml" in names


# Text that a browser would render as a page or run as a script is not a paper.
_MARKUP = ("<!doctype", "<html", "<script", "<svg", "<?xml", "<iframe", "<body", "<head")


def _decode_text(data: bytes) -> str | None:
    """The text of a plain-text file (UTF-8 or GB18030); None for binary data or markup."""
    for encoding in ("utf-8", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if any(ord(ch) < 32 and ch not in "\t\r\n\f" for ch in text):
            return None
        head = text.lstrip("\ufeff \t\r\n").lower()
        if head.startswith(_MARKUP) or "<script" in text[:4096].lower():
            return None
        return text
    return None


def sniff_paper(data: bytes) -> str | None:
    """The file's kind by its content: .pdf, .docx or .txt; None for anything else."""
    if data.startswith(b"%PDF-"):
        return ".pdf"
    if _is_docx(data):
        return ".docx"
    if _decode_text(data) is not None:
        return ".txt"
    return None


KIND_NAMES = {".pdf": "PDF", ".docx": "Word(.docx)", ".txt": _l("纯文本(.txt)")}


def store_paper_file(filename: str | None, data: bytes) -> StoredPaper:
    """Check an uploaded paper (PDF, DOCX or TXT by its content, and a name that says the same;
    size-limited) and store it under a random name outside the web root. A GB18030 text file is
    stored as UTF-8, so that it reads the same wherever it is opened."""
    if not data:
        raise Invalid(_("上传的论文文件是空的"), field="file")
    limit = current_app.config["PAPER_MAX_BYTES"]
    if len(data) > limit:
        raise Invalid(_("论文文件不能超过 %(mb)d MB", mb=limit // (1024 * 1024)), field="file")
    declared = os.path.splitext((filename or "").strip().lower())[1]
    ext = sniff_paper(data)
    if ext is None or declared not in MIME:
        raise Invalid(_("论文文件只能是 PDF、Word(.docx)或纯文本(.txt)文件(按文件内容判断,不看扩展名)"),
                      field="file")
    if declared != ext:
        raise Invalid(_("文件名是 %(declared)s,内容却是 %(kind)s 文件,请检查后重新上传", declared=declared,
                        kind=str(KIND_NAMES[ext])), field="file")
    if ext == ".txt":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            data = data.decode("gb18030").encode("utf-8")
    return StoredPaper(write_private(FOLDER, ext, data), safe_name(filename, ext, default="paper"), len(data))


@contextmanager
def paper_upload(upload) -> Iterator[StoredPaper | None]:
    """Store an uploaded paper file for the work in the block; removed again if the block fails."""
    if upload is None or not upload.filename:
        yield None
        return
    stored = store_paper_file(upload.filename, upload.read())
    try:
        yield stored
    except BaseException:
        remove_private(FOLDER, stored.path)
        raise


def send_paper_file(version: PaperVersion):
    ext = os.path.splitext(version.file_path)[1]
    return send_private(FOLDER, version.file_path, version.file_name, MIME.get(ext, "application/octet-stream"))


# --- policy and reviewers ------------------------------------------------------------------------

def policy() -> PaperPolicy:
    return db.session.get(PaperPolicy, 1) or PaperPolicy(id=1, free_topic=False, free_topic_credits=5)


def set_policy(actor: User, *, free_topic: bool, free_topic_credits: int, origin: Origin = CLI) -> PaperPolicy:
    require_role(actor, Role.ORGADMIN)
    if not isinstance(free_topic_credits, int) or not 1 <= free_topic_credits <= MAX_CREDITS:
        raise Invalid(_("自选题目论文的默认学分须为 1–%(n)d", n=MAX_CREDITS), field="free_topic_credits")
    p = policy()
    changed = {k: [getattr(p, k), v] for k, v in (("free_topic", free_topic), ("free_topic_credits", free_topic_credits))
               if getattr(p, k) != v}
    p.free_topic, p.free_topic_credits, p.updated_by_id, p.updated_at = free_topic, free_topic_credits, actor.id, utcnow()
    db.session.add(p)
    db.session.flush()
    if changed:
        record_event(actor, "papers.policy", target_type="paper_policy", target_label=_("论文设置"), origin=origin,
                     changed=changed)
    return p


def can_review(user: User) -> bool:
    if user.role == Role.ORGADMIN:
        return True
    return user.role in STAFF_ROLES and db.session.get(PaperReviewer, user.id) is not None


def reviewers() -> list[PaperReviewer]:
    return list(db.session.scalars(select(PaperReviewer).options(selectinload(PaperReviewer.user))
                                   .order_by(PaperReviewer.appointed_at)))


def appoint_reviewer(actor: User, user: User | None, *, origin: Origin = CLI) -> PaperReviewer:
    require_role(actor, Role.ORGADMIN)
    if user is None or user.role not in STAFF_ROLES or not user.is_active:
        raise Invalid(_("只能指定在用的管理人员账号为论文评审人"), field="username")
    if user.role == Role.ORGADMIN:
        raise Conflict(_("组织部管理员本来就可以评审论文"), field="username")
    existing = db.session.get(PaperReviewer, user.id)
    if existing is not None:
        raise Conflict(_("%(name)s 已是论文评审人", name=user.name), field="username")
    r = PaperReviewer(user_id=user.id, appointed_by_id=actor.id)
    db.session.add(r)
    db.session.flush()
    record_event(actor, "papers.reviewer_appoint", target=user, target_label=user.name, origin=origin)
    return r


def staff_by_username(username: str | None) -> User | None:
    """The account to appoint as a reviewer, by its username (None when there is none)."""
    username = (username or "").strip()
    if not username:
        return None
    return db.session.scalar(select(User).where(User.username == username))


def remove_reviewer(actor: User, user_id: int, *, origin: Origin = CLI) -> None:
    require_role(actor, Role.ORGADMIN)
    r = db.session.get(PaperReviewer, user_id)
    if r is None:
        raise NotFound(_("该评审人不存在"))
    name = r.user.name
    db.session.delete(r)
    db.session.flush()
    record_event(actor, "papers.reviewer_remove", target_type="user", target_label=name, origin=origin)


# --- reading ------------------------------------------------------------------------------------

def _may_see(actor: User, paper: Paper) -> bool:
    if paper.user_id == actor.id or can_review(actor):
        return True
    return actor.role in STAFF_ROLES and in_scope(actor, paper.user.unit)


def get_paper(actor: User, paper_id: int) -> Paper:
    paper = db.session.get(Paper, paper_id, options=[selectinload(Paper.versions), selectinload(Paper.reviews)])
    if paper is None or not _may_see(actor, paper):
        raise NotFound(_("论文不存在"))
    return paper


def list_papers(actor: User, *, state: str | None = None, course_id: int | None = None, mine: bool = False,
                page: int = 1, per_page: int = 20):
    """A cadre's own papers; for a reviewer every paper (the review queue: state=submitted, oldest
    first); for other staff those of the cadres in their subtree."""
    q = select(Paper).options(selectinload(Paper.user).selectinload(User.unit), selectinload(Paper.course))
    if mine or actor.role == Role.CADRE:
        q = q.where(Paper.user_id == actor.id)
    elif not can_review(actor):
        q = q.join(User, User.id == Paper.user_id).join(Unit, Unit.id == User.unit_id).where(
            Unit.path.startswith(actor.unit.path))
    if state:
        q = q.where(Paper.state == _state(state))
    if course_id:
        q = q.where(Paper.course_id == course_id)
    order = (Paper.submitted_at.asc(), Paper.id.asc()) if state == PaperState.SUBMITTED.value \
        else (Paper.submitted_at.desc(), Paper.id.desc())
    return db.paginate(q.order_by(*order), page=page, per_page=per_page, error_out=False)


def _state(value) -> PaperState:
    try:
        return PaperState(value)
    except ValueError:
        raise Invalid(_("论文状态无效"), field="state") from None


def count_by_state(actor: User) -> dict[str, int]:
    """How many papers the actor sees in each state (the queue's tabs)."""
    q = select(Paper.state, func.count(Paper.id)).group_by(Paper.state)
    if actor.role == Role.CADRE:
        q = q.where(Paper.user_id == actor.id)
    elif not can_review(actor):
        q = q.join(User, User.id == Paper.user_id).join(Unit, Unit.id == User.unit_id).where(
            Unit.path.startswith(actor.unit.path))
    counts = {s.value: 0 for s in PaperState}
    for state, n in db.session.execute(q):
        counts[PaperState(state).value] = n
    return counts


def earned_course_ids(user: User) -> set[int]:
    """Courses whose credits the cadre has earned already (by exam or by paper). Reversals are left out
    in Python: with "reverses_id IS NULL" in SQL, SQLite's planner takes the reverses_id index, which
    every original matches."""
    return {sid for sid, rev in db.session.execute(select(CreditEntry.source_id, CreditEntry.reverses_id).where(
        CreditEntry.user_id == user.id, CreditEntry.source_type == "course_credits")) if rev is None}


def live_papers(user: User) -> dict[int, int]:
    """{course id: paper id} of the cadre's papers waiting for review or returned for revision."""
    return dict(db.session.execute(select(Paper.course_id, Paper.id).where(
        Paper.user_id == user.id, Paper.course_id.is_not(None),
        Paper.state.in_([PaperState.SUBMITTED, PaperState.RETURNED]))).all())


def course_entry(paper: Paper) -> CreditEntry | None:
    """The ledger entry of the paper's course credits, however they were earned (None for a free topic)."""
    if paper.course_id is None:
        return None
    return credits.source_entry(paper.user_id, "course_credits", paper.course_id)


def paper_courses() -> list:
    """The courses that have papers (the queue's course filter)."""
    from app.catalogue.models import Course

    return list(db.session.scalars(select(Course).where(
        Course.id.in_(select(Paper.course_id).where(Paper.course_id.is_not(None)).distinct()))
        .order_by(Course.title)))


def queue_count(actor: User) -> int:
    if not can_review(actor):
        return 0
    return db.session.scalar(select(func.count(Paper.id)).where(Paper.state == PaperState.SUBMITTED)) or 0


def allowed_actions(actor: User, paper: Paper) -> set[str]:
    acts = set()
    if paper.user_id == actor.id:
        if paper.state == PaperState.RETURNED:
            acts.add("revise")
        if paper.state in (PaperState.SUBMITTED, PaperState.RETURNED):
            acts.add("withdraw")
    elif paper.state == PaperState.SUBMITTED and can_review(actor):
        acts.add("review")
    return acts


# --- the cadre's side ------------------------------------------------------------------------------

def _clean(title: str | None, body: str | None, stored: StoredPaper | None) -> tuple[str, str]:
    title = (title or "").strip()
    body = (body or "").strip()
    errors = {}
    if not 2 <= len(title) <= 200:
        errors["title"] = [_("论文题目须为 2–200 个字")]
    if len(body) > MAX_BODY:
        errors["body"] = [_("正文不能超过 %(n)d 个字,更长的论文请上传文件", n=MAX_BODY)]
    elif stored is None and len(body) < MIN_BODY:
        errors["body"] = [_("请填写不少于 %(n)d 字的正文,或上传论文文件", n=MIN_BODY)]
    if errors:
        key = next(iter(errors))
        raise Invalid(errors[key][0], field=key, errors=errors)
    return title, body


def _version(paper: Paper, number: int, title: str, body: str, stored: StoredPaper | None) -> PaperVersion:
    return PaperVersion(paper=paper, number=number, title=title, body=body, submitted_at=learning.now(),
                        file_path=stored.path if stored else None, file_name=stored.name if stored else None,
                        file_size=stored.size if stored else None)


def submit_paper(actor: User, *, course_id: int | None, title: str | None, body: str | None,
                 stored: StoredPaper | None, origin: Origin = CLI) -> Paper:
    if actor.role != Role.CADRE:
        raise PermissionDenied(_("只有学员可以提交论文"))
    course = None
    if course_id:
        course = catalogue.get_course(actor, course_id)
        if not course.published:
            raise NotFound(_("课程不存在"))
        setting = get_setting(course.id)
        if setting is not None and not setting.papers_allowed:
            raise RuleViolation(_("本课程不接受以论文代替考试"), field="course_id", code="papers_not_allowed")
    elif not policy().free_topic:
        raise RuleViolation(_("目前不接受自选题目的论文,请选择一门课程"), field="course_id", code="free_topic_closed")
    title, body = _clean(title, body, stored)
    paper = Paper(user_id=actor.id, course_id=course.id if course else None, title=title,
                  state=PaperState.SUBMITTED, version=1, submitted_at=learning.now())
    paper.versions.append(_version(paper, 1, title, body, stored))
    try:
        with db.session.begin_nested():
            db.session.add(paper)
    except IntegrityError:
        raise Conflict(_("这门课程已有待评审或退回修改的论文,请在原论文上修改"), field="course_id",
                       code="paper_exists") from None
    record_event(actor, "papers.submit", target=paper, target_label=title, origin=origin,
                 course_id=paper.course_id, version=1)
    return paper


def _own(actor: User, paper_id: int) -> Paper:
    paper = get_paper(actor, paper_id)
    if paper.user_id != actor.id:
        raise NotFound(_("论文不存在"))
    return paper


def revise_paper(actor: User, paper_id: int, *, title: str | None, body: str | None, stored: StoredPaper | None,
                 origin: Origin = CLI) -> Paper:
    paper = _own(actor, paper_id)
    if paper.state != PaperState.RETURNED:
        raise Conflict(_("只有退回修改的论文可以重新提交"), code="paper_not_returned")
    title, body = _clean(title, body, stored)
    number = paper.version + 1
    won = db.session.execute(update(Paper).where(Paper.id == paper.id, Paper.state == PaperState.RETURNED,
                                                 Paper.version == paper.version)
                             .values(state=PaperState.SUBMITTED, version=number, title=title,
                                     submitted_at=learning.now())
                             .execution_options(synchronize_session=False)).rowcount
    if not won:
        raise Conflict(_("论文已被修改,请刷新页面"), code="paper_changed")
    db.session.refresh(paper)
    db.session.add(_version(paper, number, title, body, stored))
    db.session.flush()
    record_event(actor, "papers.submit", target=paper, target_label=title, origin=origin,
                 course_id=paper.course_id, version=number)
    return paper


def withdraw_paper(actor: User, paper_id: int, *, origin: Origin = CLI) -> Paper:
    paper = _own(actor, paper_id)
    won = db.session.execute(update(Paper).where(
        Paper.id == paper.id, Paper.state.in_([PaperState.SUBMITTED, PaperState.RETURNED]))
        .values(state=PaperState.WITHDRAWN, decided_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if not won:
        raise Conflict(_("论文已评审完毕,不能撤回"), code="paper_decided")
    db.session.refresh(paper)
    record_event(actor, "papers.withdraw", target=paper, target_label=paper.title, origin=origin)
    return paper


# --- review -------------------------------------------------------------------------------------

def default_credits(paper: Paper) -> int:
    return paper.course.credits if paper.course is not None else policy().free_topic_credits


def max_credits(paper: Paper) -> int:
    return paper.course.credits if paper.course is not None else MAX_CREDITS


@dataclass
class Reviewed:
    paper: Paper
    earned: int  # credits the ledger gained (0 when the course's credits were already earned)
    message: str


def review_paper(actor: User, paper_id: int, *, approve: bool, score: int | None = None,
                 credits_: int | None = None, comment: str | None = None, version: int | None = None,
                 origin: Origin = CLI) -> Reviewed:
    """Approve the current version with a score and credits, or return it with comments. The first
    decision on a version stands; a stale `version` (the cadre revised meanwhile) is refused."""
    if not can_review(actor):
        raise PermissionDenied(_("您不是论文评审人"))
    paper = get_paper(actor, paper_id)
    if paper.user_id == actor.id:
        raise PermissionDenied(_("不能评审自己的论文"))
    if paper.state != PaperState.SUBMITTED:
        raise Conflict(_("这篇论文不在待评审状态"), code="paper_not_submitted")
    if version is not None and version != paper.version:
        raise Conflict(_("学员已提交新的版本,请查看第 %(n)d 版后再评审", n=paper.version), code="paper_changed")
    comment = (comment or "").strip()[:4000]
    errors = {}
    if approve:
        if score is None or not isinstance(score, int) or not 0 <= score <= 100:
            errors["score"] = [_("请给出 0–100 的评分")]
        if credits_ is None:
            credits_ = default_credits(paper)
        if not isinstance(credits_, int) or not 1 <= credits_ <= max_credits(paper):
            errors["credits"] = [_("学分须为 1–%(n)d", n=max_credits(paper))]
    elif len(comment) < 2:
        errors["comment"] = [_("退回修改时请写明修改意见")]
    if errors:
        key = next(iter(errors))
        raise Invalid(errors[key][0], field=key, errors=errors)
    t = learning.now()
    new_state = PaperState.APPROVED if approve else PaperState.RETURNED
    won = db.session.execute(update(Paper).where(
        Paper.id == paper.id, Paper.state == PaperState.SUBMITTED, Paper.version == paper.version)
        .values(state=new_state, decided_at=t, score=score if approve else None,
                credits=credits_ if approve else None)
        .execution_options(synchronize_session=False)).rowcount
    if not won:
        raise Conflict(_("这篇论文刚刚已被评审或修改,请刷新页面"), code="paper_changed")
    db.session.refresh(paper)
    db.session.add(PaperReview(paper_id=paper.id, version=paper.version, reviewer_id=actor.id,
                               decision=PaperDecision.APPROVE if approve else PaperDecision.RETURN,
                               score=score if approve else None, credits=credits_ if approve else None,
                               comment=comment, decided_at=t))
    earned, message = 0, ""
    link = f"/papers/{paper.id}"
    if approve:
        if paper.course is not None:
            entry = credits.award_course_credits(paper.user_id, paper.course, via="paper", via_id=paper.id,
                                                 earned_at=t, amount=credits_, actor=actor)
        else:
            entry = credits.award(paper.user_id, kind=CreditKind.ONLINE_COURSE, credits=credits_,
                                  source_type="paper", source_id=paper.id, title=paper.title,
                                  earned_on=learning.local_day(t), actor=actor, details={"paper_id": paper.id})
        if entry is not None:
            paper.entry_id = entry.id
            earned = entry.credits
            message = _("论文《%(t)s》已通过评审(%(s)d 分),获得 %(n)d 学分", t=paper.title, s=score, n=earned)
        else:
            message = _("论文《%(t)s》已通过评审(%(s)d 分)。本课程学分此前已经获得,不重复计分", t=paper.title, s=score)
    else:
        message = _("论文《%(t)s》被退回修改:%(c)s", t=paper.title, c=comment[:200])
    db.session.flush()
    notify(paper.user_id, message, link)
    record_event(actor, "papers.review", target=paper, target_label=paper.title, origin=origin,
                 decision="approve" if approve else "return", version=paper.version, score=score,
                 credits=credits_ if approve else None, earned=earned)
    return Reviewed(paper, earned, message)


def course_choices(actor: User) -> list:
    """Published courses that accept papers, for the submission form."""
    from app.catalogue.models import Course, CourseState
    from app.exams.models import ExamSetting

    q = (select(Course).outerjoin(ExamSetting, ExamSetting.course_id == Course.id)
         .where(Course.state == CourseState.PUBLISHED,
                or_(ExamSetting.course_id.is_(None), ExamSetting.papers_allowed.is_(True)))
         .order_by(Course.title))
    return list(db.session.scalars(q))
