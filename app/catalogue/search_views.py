"""Search glue shared by the search page and the searchCourses operation."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.accounts.models import User
from app.catalogue.models import Course, Lesson
from app.catalogue.services import visible_courses
from app.extensions import db
from app.search import get_engine
from app.search.engine import SearchResult


def run_search(user: User, q: str, category_id: int | None, page: int = 1,
               per_page: int = 20) -> tuple[SearchResult, dict[int, Course]]:
    """Ranked hits and the visible courses they refer to (a hit the user may not see is dropped)."""
    result = get_engine().search(q or "", category_id=category_id, page=page, per_page=per_page)
    ids = [h.id for h in result.hits]
    courses = {}
    if ids:
        q_courses = visible_courses(user).where(Course.id.in_(ids)).options(
            selectinload(Course.category), selectinload(Course.lessons).selectinload(Lesson.video))
        courses = {c.id: c for c in db.session.scalars(q_courses)}
    return result, courses
