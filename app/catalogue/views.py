"""Catalogue pages for learners: home, category, course, lesson, search."""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.accounts.models import Role
from app.catalogue import services
from app.catalogue.models import Category, CategoryKind, Course, Lesson
from app.errors import NotFound
from app.extensions import db
from app.web import int_arg

bp = Blueprint("catalogue", __name__, url_prefix="/courses")

HOME_CARDS = 8
SEARCH_PER_PAGE = 20
MAX_Q = 100  # the engine cuts queries to 50 characters; this only bounds what we echo back
# Snippets shown under a search hit besides the title, in this order (at most two).
SNIPPET_FIELDS = ("description", "lessons", "lecturer")


# --- helpers ------------------------------------------------------------------------------

def _preload(courses: list[Course]) -> list[Course]:
    """Load lessons and their videos of many courses in two queries (cards need the poster)."""
    ids = [c.id for c in courses if "lessons" not in c.__dict__]
    if ids:
        list(db.session.scalars(select(Course).where(Course.id.in_(ids)).options(
            selectinload(Course.lessons).selectinload(Lesson.video))))
    return courses


def _rank() -> str | None:
    if current_user.role == Role.CADRE and current_user.cadre is not None:
        return current_user.cadre.rank.value
    return None


def _required_for_home(limit: int = HOME_CARDS) -> list[Course]:
    """Required courses, those meant for the cadre's rank first."""
    rank = _rank()
    first = services.required_courses(current_user, rank=rank, limit=limit) if rank else []
    seen = {c.id for c in first}
    rest = [c for c in services.required_courses(current_user, limit=limit + len(first)) if c.id not in seen]
    return (first + rest)[:limit]


def _progress(course: Course) -> dict | None:
    """A cadre's progress in a course for the course and lesson pages (None for staff: they are
    not tracked). Read-only: nothing is created before the cadre starts watching."""
    if current_user.role != Role.CADRE:
        return None
    from app.learning import services as learning
    from app.learning.views import percent, resume_lesson

    cp, lps = learning.course_progress(current_user, course)
    lessons = {}
    for item in course.lessons:
        lp = lps.get(item.id)
        ratio = learning.coverage_ratio(lp, item)
        lessons[item.id] = {"coverage": round(ratio, 4), "pct": percent(ratio), "started": lp is not None,
                            "done": lp is not None and lp.completed_at is not None,
                            "furthest": lp.furthest if lp else 0.0}
    ratio = learning.course_ratio(course, lps)
    return {"coverage": round(ratio, 4), "pct": percent(ratio), "started": cp is not None,
            "lessons_completed": cp.lessons_completed if cp else 0, "lessons_total": len(course.lessons),
            "completed_at": cp.completed_at if cp else None, "lessons": lessons,
            "resume": resume_lesson(course, lps) if cp is not None else None,
            "speed_cap": learning.speed_cap()}


def _visible_categories() -> tuple[list[Category], dict[int, int]]:
    """Categories for the catalogue home and filters: learners see only non-empty ones."""
    manager = services.can_manage(current_user)
    counts = services.course_counts(current_user)
    cats = services.list_categories(include_retired=manager)
    if not manager:
        cats = [c for c in cats if counts.get(c.id)]
    return cats, counts


def _category_for(category_id: int) -> Category:
    cat = services.get_category(category_id)
    if cat.retired and not services.can_manage(current_user):
        raise NotFound(_("分类不存在"))
    return cat


@dataclass
class _Pages:
    """Just enough of flask_sqlalchemy's Pagination for the pager macro."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return ceil(self.total / self.per_page)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int:
        return min(self.page - 1, max(self.pages, 1))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def next_num(self) -> int:
        return self.page + 1


# --- pages --------------------------------------------------------------------------------

@bp.get("/")
@login_required
def index():
    cats, counts = _visible_categories()
    required = _required_for_home()
    newest = services.newest_courses(current_user, limit=HOME_CARDS)
    _preload(required + newest)
    return render_template(
        "catalogue/index.html",
        subjects=[c for c in cats if c.kind == CategoryKind.SUBJECT],
        locals_=[c for c in cats if c.kind == CategoryKind.LOCAL],
        counts=counts, required=required, newest=newest, rank=_rank(),
        manager=services.can_manage(current_user))


@bp.get("/category/<int:category_id>")
@login_required
def category(category_id: int):
    cat = _category_for(category_id)
    raw = request.args.get("required")
    required = True if raw == "1" else False if raw == "0" else None
    page = services.list_courses(current_user, services.CourseFilter(
        category_id=cat.id, required=required, page=int_arg("page", 1, maximum=10_000), per_page=12))
    _preload(list(page.items))
    return render_template("catalogue/category.html", cat=cat, page=page, required=required,
                           counts=services.course_counts(current_user))


@bp.get("/<int:course_id>")
@login_required
def course(course_id: int):
    from app.exams.models import ExamSetting

    course = services.get_course(current_user, course_id)
    first = next((lesson for lesson in course.lessons if lesson.video), None)
    exam_status = None
    if current_user.role == Role.CADRE and course.published:
        from app.db import commit
        from app.exams import services as exams

        exam_status = exams.exam_status(current_user, course)
        commit()  # an attempt closed at its deadline on the way
    return render_template("catalogue/course.html", course=course, first=first,
                           exam=db.session.get(ExamSetting, course.id), exam_status=exam_status,
                           manager=services.can_manage(current_user), progress=_progress(course))


@bp.get("/<int:course_id>/lessons/<int:lesson_id>")
@login_required
def lesson(course_id: int, lesson_id: int):
    course = services.get_course(current_user, course_id)
    lessons = list(course.lessons)
    pos = next((i for i, item in enumerate(lessons) if item.id == lesson_id), None)
    if pos is None:
        raise NotFound(_("课时不存在"))
    return render_template("catalogue/lesson.html", course=course, lesson=lessons[pos], lessons=lessons,
                           prev_lesson=lessons[pos - 1] if pos > 0 else None,
                           next_lesson=lessons[pos + 1] if pos + 1 < len(lessons) else None,
                           progress=_progress(course))


@bp.get("/search")
@login_required
def search():
    from app.catalogue.search_views import run_search

    q = (request.args.get("q") or "").strip()[:MAX_Q]
    cats, counts = _visible_categories()
    category_id = int_arg("category")
    if category_id not in {c.id for c in cats}:
        category_id = None
    popular = sorted(cats, key=lambda c: (-counts.get(c.id, 0), c.position))[:10]
    popular = [c for c in popular if counts.get(c.id)]
    if not q:
        return render_template("catalogue/search.html", q="", cats=cats, counts=counts, category_id=category_id,
                               popular=popular, result=None)
    page = int_arg("page", 1, maximum=1000)
    result, courses = run_search(current_user, q, category_id, page, SEARCH_PER_PAGE)
    _preload(list(courses.values()))
    rows = []
    for hit in result.hits:
        course = courses.get(hit.id)
        if course is None:
            continue
        snippets = [(name, hit.highlights[name]) for name in SNIPPET_FIELDS if hit.highlights.get(name)][:2]
        rows.append({"course": course, "title": hit.highlights.get("title"), "snippets": snippets})
    return render_template("catalogue/search.html", q=q, cats=cats, counts=counts, category_id=category_id,
                           popular=popular, result=result, rows=rows,
                           pages=_Pages(page=page, per_page=SEARCH_PER_PAGE, total=result.total),
                           category_name=next((c.name for c in cats if c.id == category_id), None))
