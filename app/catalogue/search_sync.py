"""Keeps the search index in step with the catalogue: services mark courses as changed, the
documents are built before the commit and written to the index only once the commit succeeded."""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.catalogue.models import Category, Course, CourseState
from app.search.engine import CourseDoc

_KEY = "search_dirty_courses"
_READY = "search_ready_docs"


def course_doc(course: Course) -> CourseDoc:
    return CourseDoc(id=course.id, title=course.title, lecturer=course.lecturer,
                     description=course.description, category=course.category.name,
                     category_id=course.category_id, lessons=[lesson.title for lesson in course.lessons],
                     required=course.required)


def searchable(course: Course) -> bool:
    """Only what cadres may open is in the index."""
    return course.state == CourseState.PUBLISHED


def mark_changed(session: Session, *courses: Course) -> None:
    session.info.setdefault(_KEY, set()).update(c.id for c in courses)


def mark_category_changed(session: Session, category: Category) -> None:
    mark_changed(session, *category.courses)


def all_docs(session: Session) -> list[CourseDoc]:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    courses = session.scalars(select(Course).where(Course.state == CourseState.PUBLISHED)
                              .options(selectinload(Course.lessons), selectinload(Course.category)))
    return [course_doc(c) for c in courses]


def install() -> None:
    """Register the session hooks once (idempotent)."""
    if event.contains(Session, "before_commit", _before_commit):
        return
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)


def _before_commit(session: Session) -> None:
    ids = session.info.pop(_KEY, None)
    if not ids:
        return
    session.flush()
    upserts, removals = [], []
    for cid in ids:
        course = session.get(Course, cid)
        if course is not None and searchable(course):
            upserts.append(course_doc(course))
        else:
            removals.append(cid)
    session.info[_READY] = (upserts, removals)


def _after_commit(session: Session) -> None:
    ready = session.info.pop(_READY, None)
    if not ready:
        return
    from app.search import get_engine

    upserts, removals = ready
    engine = get_engine()
    if removals:
        engine.remove(removals)
    if upserts:
        engine.upsert(upserts)


def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_READY, None)
