"""Catalogue rules: categories, courses and lessons, and who may see what."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload, selectinload

from app.accounts.models import Role, User
from app.accounts.scope import require_role
from app.audit.services import CLI, Origin, record_event
from app.catalogue import search_sync
from app.catalogue.models import RANK_VALUES, Category, CategoryKind, Course, CourseState, Lesson
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound, RuleViolation
from app.extensions import db

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")


# --- visibility ---------------------------------------------------------------------------

def can_manage(user: User) -> bool:
    return user.role == Role.ORGADMIN


def require_manager(user: User) -> None:
    require_role(user, Role.ORGADMIN)


def can_view_course(user: User, course: Course) -> bool:
    """Organisation-department admins see drafts; everyone else only published courses."""
    if not getattr(user, "is_authenticated", False):
        return False
    return course.state == CourseState.PUBLISHED or can_manage(user)


def visible_courses(user: User) -> Select:
    q = select(Course)
    if not can_manage(user):
        q = q.where(Course.state == CourseState.PUBLISHED)
    return q


def get_course(user: User, course_id: int) -> Course:
    course = db.session.get(Course, course_id)
    if course is None or not can_view_course(user, course):
        raise NotFound(_("课程不存在"))
    return course


def get_lesson(user: User, lesson_id: int) -> Lesson:
    lesson = db.session.get(Lesson, lesson_id, options=[joinedload(Lesson.course), joinedload(Lesson.video)])
    if lesson is None or not can_view_course(user, lesson.course):
        raise NotFound(_("课时不存在"))
    return lesson


# --- categories ---------------------------------------------------------------------------

def list_categories(*, include_retired: bool = False) -> list[Category]:
    q = select(Category).order_by(Category.kind.desc(), Category.position, Category.id)
    if not include_retired:
        q = q.where(Category.retired_at.is_(None))
    # subject before local: "subject" > "local" alphabetically, hence desc()
    return list(db.session.scalars(q))


def course_counts(user: User) -> dict[int, int]:
    """Visible courses per category id."""
    sub = visible_courses(user).with_only_columns(Course.category_id, func.count(Course.id)) \
        .group_by(Course.category_id)
    return dict(db.session.execute(sub).all())


def get_category(category_id: int) -> Category:
    cat = db.session.get(Category, category_id)
    if cat is None:
        raise NotFound(_("分类不存在"))
    return cat


def _check_category_name(name: str, *, exclude_id: int | None = None) -> str:
    name = (name or "").strip()
    if not 2 <= len(name) <= 50:
        raise Invalid(_("分类名称须为 2–50 个字"), field="name")
    q = select(Category.id).where(Category.name == name)
    if exclude_id:
        q = q.where(Category.id != exclude_id)
    if db.session.scalar(q):
        raise Conflict(_("已有同名分类“%(name)s”", name=name), field="name")
    return name


def create_category(actor: User | None, *, code: str, name: str, kind: str,
                    origin: Origin = CLI, audit: bool = True) -> Category:
    if actor is not None:
        require_role(actor, Role.ORGADMIN)
    code = (code or "").strip().lower()
    if not CODE_RE.match(code):
        raise Invalid(_("分类代码只能由小写字母、数字和连字符组成(2–64 位)"), field="code")
    if db.session.scalar(select(Category.id).where(Category.code == code)):
        raise Conflict(_("分类代码“%(code)s”已存在", code=code), field="code")
    try:
        kind_value = CategoryKind(kind)
    except ValueError:
        raise Invalid(_("分类类型无效"), field="kind")
    name = _check_category_name(name)
    position = (db.session.scalar(select(func.max(Category.position)).where(Category.kind == kind_value)) or 0) + 1
    cat = Category(code=code, name=name, kind=kind_value, position=position)
    db.session.add(cat)
    db.session.flush()
    if audit:
        record_event(actor, "category.create", target=cat, target_label=name, origin=origin, code=code)
    return cat


def rename_category(actor: User, cat: Category, name: str, *, origin: Origin = CLI) -> Category:
    require_role(actor, Role.ORGADMIN)
    name = _check_category_name(name, exclude_id=cat.id)
    if name != cat.name:
        old, cat.name = cat.name, name
        record_event(actor, "category.update", target=cat, target_label=name, origin=origin, old_name=old)
        search_sync.mark_category_changed(db.session, cat)
    return cat


def move_category(actor: User, cat: Category, direction: int, *, origin: Origin = CLI) -> None:
    """Swap with the neighbour above (direction -1) or below (+1) within the same kind."""
    require_role(actor, Role.ORGADMIN)
    siblings = [c for c in list_categories(include_retired=True) if c.kind == cat.kind]
    i = siblings.index(cat)
    j = i + (1 if direction > 0 else -1)
    if not 0 <= j < len(siblings):
        return
    siblings[i], siblings[j] = siblings[j], siblings[i]
    for pos, c in enumerate(siblings, start=1):
        c.position = pos
    record_event(actor, "category.update", target=cat, target_label=cat.name, origin=origin,
                 moved="up" if direction < 0 else "down")


def retire_category(actor: User, cat: Category, *, retire: bool = True, origin: Origin = CLI) -> None:
    """Retire (hide from the catalogue home) or restore; courses are never deleted."""
    require_role(actor, Role.ORGADMIN)
    if retire == cat.retired:
        return
    cat.retired_at = utcnow() if retire else None
    record_event(actor, "category.retire" if retire else "category.restore", target=cat,
                 target_label=cat.name, origin=origin, courses=len(cat.courses))


# --- courses ------------------------------------------------------------------------------

@dataclass
class CourseInfo:
    title: str
    category_id: int
    lecturer: str
    description: str
    class_hours: int
    credits: int
    required: bool = False
    target_ranks: list[str] = field(default_factory=lambda: list(RANK_VALUES))
    lecturer_title: str = ""
    code: str | None = None


COURSE_FIELDS = ("title", "category_id", "lecturer", "lecturer_title", "description", "class_hours",
                 "credits", "required", "target_ranks")


def _int(value, name: str, lo: int, hi: int, message: str) -> int:
    if isinstance(value, bool):
        raise Invalid(message, field=name)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(message, field=name)
    if number != value and not isinstance(value, str) or not lo <= number <= hi:
        raise Invalid(message, field=name)
    return number


def clean_course_fields(values: dict) -> dict:
    """Check the editable fields of a course; Invalid names the field at fault."""
    out = {}
    if "title" in values:
        title = (values["title"] or "").strip()
        if not 2 <= len(title) <= 100:
            raise Invalid(_("课程名称须为 2–100 个字"), field="title")
        out["title"] = title
    if "category_id" in values:
        cid = values["category_id"]
        cat = db.session.get(Category, cid) if isinstance(cid, int) and 0 < cid < 2**31 else None
        if cat is None:
            raise Invalid(_("请选择有效的分类"), field="category_id")
        out["category_id"] = cat.id
    if "lecturer" in values:
        lecturer = (values["lecturer"] or "").strip()
        if not 1 <= len(lecturer) <= 50:
            raise Invalid(_("请填写主讲人(不超过 50 字)"), field="lecturer")
        out["lecturer"] = lecturer
    if "lecturer_title" in values:
        lt = (values["lecturer_title"] or "").strip()
        if len(lt) > 100:
            raise Invalid(_("主讲人职务不超过 100 字"), field="lecturer_title")
        out["lecturer_title"] = lt
    if "description" in values:
        desc = (values["description"] or "").strip()
        if len(desc) > 4000:
            raise Invalid(_("课程简介不超过 4000 字"), field="description")
        out["description"] = desc
    if "class_hours" in values:
        out["class_hours"] = _int(values["class_hours"], "class_hours", 1, 100, _("学时须为 1–100 的整数"))
    if "credits" in values:
        out["credits"] = _int(values["credits"], "credits", 5, 20, _("学分须为 5–20 的整数"))
    if "required" in values:
        if not isinstance(values["required"], bool):
            raise Invalid(_("必修/选修取值无效"), field="required")
        out["required"] = values["required"]
    if "target_ranks" in values:
        ranks = values["target_ranks"] or []
        if isinstance(ranks, str):
            ranks = [r for r in ranks.split(",") if r]
        if not ranks or any(r not in RANK_VALUES for r in ranks):
            raise Invalid(_("请至少选择一个适用职级"), field="target_ranks")
        out["target_ranks"] = ",".join(r for r in RANK_VALUES if r in ranks)
    return out


def _next_course_code() -> str:
    n = (db.session.scalar(select(func.count(Course.id))) or 0) + 1
    while True:
        code = f"course-{n:05d}"
        if not db.session.scalar(select(Course.id).where(Course.code == code)):
            return code
        n += 1


def create_course(actor: User | None, info: CourseInfo, *, origin: Origin = CLI, audit: bool = True) -> Course:
    """A new course, as a draft until it has lessons with videos and is published."""
    if actor is not None:
        require_role(actor, Role.ORGADMIN)
    values = clean_course_fields({k: getattr(info, k) for k in COURSE_FIELDS})
    code = (info.code or "").strip().lower() or _next_course_code()
    if not CODE_RE.match(code):
        raise Invalid(_("课程代码只能由小写字母、数字和连字符组成"), field="code")
    if db.session.scalar(select(Course.id).where(Course.code == code)):
        raise Conflict(_("课程代码“%(code)s”已存在", code=code), field="code")
    course = Course(code=code, state=CourseState.DRAFT, created_by_id=getattr(actor, "id", None), **values)
    db.session.add(course)
    db.session.flush()
    if audit:
        record_event(actor, "course.create", target=course, target_label=course.title, origin=origin)
    return course


def update_course(actor: User | None, course: Course, changes: dict, *, origin: Origin = CLI,
                  audit: bool = True) -> dict:
    """Apply field changes; returns {field: [old, new]} of what actually changed."""
    if actor is not None:
        require_role(actor, Role.ORGADMIN)
    unknown = set(changes) - set(COURSE_FIELDS)
    if unknown:
        raise Invalid(_("不能修改的字段:%(f)s", f=", ".join(sorted(unknown))), field=sorted(unknown)[0])
    values = clean_course_fields(changes)
    diff = {}
    for key, value in values.items():
        if getattr(course, key) != value:
            diff[key] = [getattr(course, key), value]
            setattr(course, key, value)
    if diff:
        if audit:
            record_event(actor, "course.update", target=course, target_label=course.title, origin=origin,
                         fields=sorted(diff))
        search_sync.mark_changed(db.session, course)
    return diff


def set_course_state(actor: User | None, course: Course, state: CourseState | str, *,
                     origin: Origin = CLI, audit: bool = True) -> None:
    """Publish (every lesson needs a playable video), withdraw to draft, or retire."""
    if actor is not None:
        require_role(actor, Role.ORGADMIN)
    try:
        state = CourseState(state)
    except ValueError:
        raise Invalid(_("课程状态无效"), field="state")
    if state == course.state:
        return
    if state == CourseState.PUBLISHED:
        if not course.lessons:
            raise RuleViolation(_("课程还没有课时,不能发布"), field="state", code="no_lessons")
        missing = [lesson.position for lesson in course.lessons if lesson.video_id is None]
        if missing:
            raise RuleViolation(_("第 %(n)s 课时还没有可播放的视频,不能发布", n="、".join(map(str, missing))),
                                field="state", code="lesson_without_video")
        course.published_at = course.published_at or utcnow()
    old, course.state = course.state, state
    if audit:
        record_event(actor, f"course.{'publish' if state == CourseState.PUBLISHED else state.value}",
                     target=course, target_label=course.title, origin=origin, old=old.value)
    search_sync.mark_changed(db.session, course)


@dataclass
class CourseFilter:
    category_id: int | None = None
    required: bool | None = None
    kind: str | None = None  # "subject" | "local"
    state: str | None = None  # admins only
    rank: str | None = None
    page: int = 1
    per_page: int = 20


def list_courses(user: User, f: CourseFilter):
    """Visible courses, required first then newest; paginated."""
    q = visible_courses(user).join(Category).options(
        selectinload(Course.category), selectinload(Course.lessons).selectinload(Lesson.video))
    if f.category_id:
        q = q.where(Course.category_id == f.category_id)
    if f.required is not None:
        q = q.where(Course.required.is_(f.required))
    if f.kind in ("subject", "local"):
        q = q.where(Category.kind == CategoryKind(f.kind))
    if f.state and can_manage(user):
        q = q.where(Course.state == CourseState(f.state))
    if f.rank in RANK_VALUES:
        q = q.where(Course.target_ranks.contains(f.rank))
    q = q.order_by(Course.required.desc(), Course.published_at.desc().nulls_last(), Course.id.desc())
    return db.paginate(q, page=f.page, per_page=f.per_page, error_out=False, max_per_page=200)


def newest_courses(user: User, limit: int = 8) -> list[Course]:
    q = visible_courses(user).options(selectinload(Course.category)) \
        .order_by(Course.published_at.desc().nulls_last(), Course.id.desc()).limit(limit)
    return list(db.session.scalars(q))


def required_courses(user: User, rank: str | None = None, limit: int = 8) -> list[Course]:
    q = visible_courses(user).where(Course.required.is_(True)).options(selectinload(Course.category))
    if rank in RANK_VALUES:
        q = q.where(Course.target_ranks.contains(rank))
    return list(db.session.scalars(q.order_by(Course.published_at.desc().nulls_last(), Course.id).limit(limit)))


# --- lessons ------------------------------------------------------------------------------

def _clean_lesson(title: str, summary: str) -> tuple[str, str]:
    title = (title or "").strip()
    if not 2 <= len(title) <= 100:
        raise Invalid(_("课时标题须为 2–100 个字"), field="title")
    summary = (summary or "").strip()
    if len(summary) > 1000:
        raise Invalid(_("课时简介不超过 1000 字"), field="summary")
    return title, summary


def add_lesson(actor: User | None, course: Course, title: str, summary: str = "", *,
               origin: Origin = CLI, audit: bool = True) -> Lesson:
    if actor is not None:
        require_role(actor, Role.ORGADMIN)
    title, summary = _clean_lesson(title, summary)
    position = max((lesson.position for lesson in course.lessons), default=0) + 1
    lesson = Lesson(course=course, position=position, title=title, summary=summary)
    db.session.add(lesson)
    db.session.flush()
    if audit:
        record_event(actor, "lesson.create", target=lesson, target_label=f"{course.title} · {title}", origin=origin)
    search_sync.mark_changed(db.session, course)
    return lesson


def update_lesson(actor: User | None, lesson: Lesson, title: str, summary: str, *, origin: Origin = CLI,
                  audit: bool = True) -> None:
    if actor is not None:
        require_role(actor, Role.ORGADMIN)
    title, summary = _clean_lesson(title, summary)
    if (title, summary) == (lesson.title, lesson.summary):
        return
    lesson.title, lesson.summary = title, summary
    if audit:
        record_event(actor, "lesson.update", target=lesson, target_label=f"{lesson.course.title} · {title}",
                     origin=origin)
    search_sync.mark_changed(db.session, lesson.course)
