"""Exam fixtures: the catalogue's required course with an exam (a bank of 6 single-choice, 4
multiple-choice and 3 true/false questions, 10 drawn, 30 minutes, pass at 60), a server clock,
and a cadre who has completed the course."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from app.accounts.models import User
from app.exams.models import ExamSetting, Question, QuestionKind
from app.extensions import db
from app.learning import services as learning
from app.learning.models import CourseProgress
from tests.catalogue.conftest import _cadre_login, catalogue, sample_files  # noqa: F401
from tests.learning.conftest import Clock


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(learning, "now", c)
    return c


BANK = (
    [(QuestionKind.SINGLE, f"单选题第{i}题:下列说法正确的是?", ["甲选项", "乙选项", "丙选项", "丁选项"], "ABCD"[i % 4])
     for i in range(6)]
    + [(QuestionKind.MULTIPLE, f"多选题第{i}题:下列属于的有?", ["子", "丑", "寅", "卯"], ["AB", "BCD", "AC", "ABCD"][i])
       for i in range(4)]
    + [(QuestionKind.TRUEFALSE, f"判断题第{i}题:这句话是对的。", [], "TFT"[i]) for i in range(3)]
)


@dataclass
class ExamCourse:
    id: int
    questions: list[int]
    credits: int


def add_bank(course_id: int) -> list[int]:
    ids = []
    for pos, (kind, stem, options, answer) in enumerate(BANK, start=1):
        q = Question(course_id=course_id, position=pos, kind=kind, stem=stem, options=options, answer=answer,
                     explanation=f"解析{pos}")
        db.session.add(q)
        db.session.flush()
        ids.append(q.id)
    return ids


def complete_course(user_id: int, course_id: int, at: datetime | None = None) -> None:
    """Mark a course completed for a cadre (the tracking issue's result, set directly)."""
    db.session.add(CourseProgress(user_id=user_id, course_id=course_id, lessons_completed=2,
                                  completed_at=at or datetime(2026, 11, 1, tzinfo=timezone.utc)))
    db.session.flush()


@pytest.fixture
def exam_course(app, world, catalogue) -> ExamCourse:
    with app.app_context():
        db.session.add(ExamSetting(course_id=catalogue.party, question_count=10, time_limit_minutes=30,
                                   pass_mark=60, attempts_per_day=3, attempts_total=5))
        ids = add_bank(catalogue.party)
        complete_course(world.wb_cadre, catalogue.party)
        db.session.commit()
    return ExamCourse(catalogue.party, ids, 10)


@pytest.fixture
def cadre(app, world):
    """李明 (who completed the exam course), as a User in a request context."""
    with app.test_request_context():
        yield db.session.get(User, world.wb_cadre)


def right_answers(attempt) -> dict[str, str]:
    """The correct answers of an attempt, in the letters the cadre was shown (what a perfect cadre sends)."""
    from app.exams.services import to_shown

    return {str(item.position): to_shown(item, item.question.answer) for item in attempt.items}


def wrong_answers(attempt) -> dict[str, str]:
    from app.exams.services import LETTERS, to_shown

    out = {}
    for item in attempt.items:
        right = to_shown(item, item.question.answer)
        if item.question.kind == QuestionKind.TRUEFALSE:
            out[str(item.position)] = "F" if right == "T" else "T"
        else:
            others = [ch for ch in LETTERS[:len(item.option_order)] if ch not in right]
            # a multiple-choice question whose options are all right: one option alone is wrong
            out[str(item.position)] = others[0] if others else right[0]
    return out
