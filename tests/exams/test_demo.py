"""The demo's exams and papers are made through the real services: every pass of a course earns
its credits once, late attempts are closed at their deadline, papers sit at every stage."""
from __future__ import annotations

from sqlalchemy import func, select

from app.accounts.models import User
from app.catalogue import services as catalogue
from app.catalogue.models import CourseState
from app.credits.models import CreditEntry
from app.demo import seed_demo, seed_demo_exams
from app.exams import services
from app.exams.models import AttemptEnd, ExamAttempt, ExamSetting, Paper, PaperState
from app.extensions import db
from tests.exams.conftest import add_bank


def test_demo_exams_and_papers(ctx):
    seed_demo(cadres=30)
    org = db.session.scalar(select(User).where(User.username == "admin"))
    cat = catalogue.create_category(org, code="demo", name="演示分类", kind="subject")
    for title in ("演示课程甲", "演示课程乙"):
        c = catalogue.create_course(org, catalogue.CourseInfo(title=title, category_id=cat.id, lecturer="讲师",
                                                              description="", class_hours=3, credits=6))
        c.state = CourseState.PUBLISHED
        db.session.add(ExamSetting(course_id=c.id, question_count=10))
        add_bank(c.id)
    db.session.flush()
    result = seed_demo_exams()
    attempts = list(db.session.scalars(select(ExamAttempt)))
    assert result["attempts"] == len(attempts) > 5 and all(a.closed_at is not None for a in attempts)
    assert {a.passed for a in attempts} == {True, False}
    # one credit entry per cadre and course that passed, however many passes
    passed_pairs = {(a.user_id, a.course_id) for a in attempts if a.passed}
    exam_entries = db.session.scalar(select(func.count(CreditEntry.id)).where(
        CreditEntry.source_type == "course_credits", CreditEntry.details["via"].as_string() == "exam"))
    assert exam_entries == len(passed_pairs)
    for a in attempts:
        if a.end == AttemptEnd.DEADLINE:
            assert a.closed_at == a.deadline
        assert [(d.question_id, list(d.option_order)) for d in services.reproduce(a)] == \
            [(i.question_id, i.option_order) for i in a.items]
    assert {p.state for p in db.session.scalars(select(Paper))} == {PaperState.APPROVED, PaperState.RETURNED,
                                                                     PaperState.SUBMITTED}
    # the printed cadres are left untouched
    first = list(db.session.scalars(select(User.id).where(User.role == "cadre").order_by(User.id)))[:3]
    assert not any(a.user_id in first for a in attempts)
