"""Races on exams, each on a database of its own with two threads and two connections: two
attempts of one course submitted at the same moment earn the course's credits once; one attempt
submitted twice at once is graded once; two starts at once leave one open attempt."""
from __future__ import annotations

import threading
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import scoped_session, sessionmaker

from app.accounts import services as accounts
from app.accounts.models import Rank, Role, User
from app.catalogue import services as catalogue
from app.catalogue.models import CourseState
from app.credits.models import CreditEntry
from app.exams import services
from app.exams.models import AttemptItem, ExamAttempt, ExamSetting
from app.extensions import db
from tests.conftest import PASSWORD, make_id
from tests.credits.test_race import own_database  # noqa: F401 — the fixture
from tests.exams.conftest import add_bank, complete_course


def _city(app) -> tuple[int, int]:
    """A cadre who completed a course with an exam; (user id, course id)."""
    with app.test_request_context():
        city = accounts.create_unit(None, "竞态市", parent=None, code="R1")
        org = accounts.create_staff(None, username="race_org", name="组织部", role=Role.ORGADMIN, unit=city,
                                    password=PASSWORD)
        cadre = accounts.register_cadre(org, accounts.CadreInfo(
            name="赵竞", id_number=make_id("610302", "19800101", "777"), unit_id=city.id, rank=Rank.OTHER))
        cat = catalogue.create_category(org, code="race", name="竞态分类", kind="subject")
        course = catalogue.create_course(org, catalogue.CourseInfo(
            title="竞态课程", category_id=cat.id, lecturer="钱讲师", description="", class_hours=2, credits=8))
        course.state = CourseState.PUBLISHED
        db.session.add(ExamSetting(course_id=course.id, question_count=5, time_limit_minutes=30, pass_mark=60,
                                   attempts_per_day=0, attempts_total=0))
        add_bank(course.id)
        complete_course(cadre.id, course.id)
        db.session.commit()
        ids = cadre.id, course.id
        db.session.remove()
    return ids


def _run_together(app, work, n: int = 2) -> tuple[list, list]:
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run(i):
        try:
            # a POST, as the real requests are (SQLite then takes its write lock at BEGIN)
            with app.test_request_context(method="POST"):
                barrier.wait(timeout=10)
                results.append(work(i))
                db.session.commit()
        except Exception as exc:  # noqa: BLE001 — reported by the test
            errors.append(exc)
        finally:
            db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def _right(attempt: ExamAttempt) -> dict[str, str]:
    return {str(i.position): services.to_shown(i, i.question.answer) for i in attempt.items}


@pytest.mark.parametrize("round_", range(2))
def test_two_attempts_submitted_at_the_same_moment_earn_once(app, own_database, monkeypatch, round_):  # noqa: F811
    monkeypatch.setattr(db, "session", scoped_session(sessionmaker(bind=own_database)))
    user_id, course_id = _city(app)
    # Two open attempts of the same course. The one-open-attempt index forbids this, so it is
    # dropped here: even if that rule were ever bypassed, the ledger must still let one earn.
    with own_database.begin() as conn:
        conn.execute(text("DROP INDEX uq_exam_attempts_open"))
    with app.test_request_context():
        user = db.session.get(User, user_id)
        first, _ = services.start_attempt(user, course_id)
        db.session.commit()
        # (the service itself resumes an open attempt, so the second is written directly)
        second = ExamAttempt(user_id=user_id, course_id=course_id, number=2, seed=first.seed + 1,
                             pool_ids=first.pool_ids, pass_mark=60, time_limit_minutes=30,
                             started_at=first.started_at, deadline=first.deadline,
                             items=[AttemptItem(position=i.position, question_id=i.question_id,
                                                option_order=list(i.option_order)) for i in first.items])
        db.session.add(second)
        db.session.commit()
        assert first.id != second.id and second.closed_at is None and first.closed_at is None
        answers = {first.id: _right(first), second.id: _right(second)}
        ids = [first.id, second.id]
        db.session.remove()

    def submit(i):
        user = db.session.get(User, user_id)
        return services.submit_attempt(user, ids[i], answers[ids[i]]).attempt.score

    results, errors = _run_together(app, submit)
    assert errors == [] and results == [100, 100]
    with app.app_context():
        entries = list(db.session.scalars(select(CreditEntry).where(
            CreditEntry.user_id == user_id, CreditEntry.source_type == "course_credits")))
        earned = [a.entry_id for a in db.session.scalars(select(ExamAttempt).order_by(ExamAttempt.id))]
        db.session.remove()
    assert len(entries) == 1 and entries[0].credits == 8
    assert sorted(earned, key=lambda e: e is None) == [entries[0].id, None]


def test_one_attempt_submitted_twice_at_once_is_graded_once(app, own_database, monkeypatch):  # noqa: F811
    monkeypatch.setattr(db, "session", scoped_session(sessionmaker(bind=own_database)))
    user_id, course_id = _city(app)
    with app.test_request_context():
        attempt, _ = services.start_attempt(db.session.get(User, user_id), course_id)
        db.session.commit()
        attempt_id, answers = attempt.id, _right(attempt)
        db.session.remove()

    def submit(_i):
        res = services.submit_attempt(db.session.get(User, user_id), attempt_id, answers)
        return res.attempt.score, res.attempt.closed_at

    results, errors = _run_together(app, submit)
    assert errors == []
    assert [r[0] for r in results] == [100, 100] and results[0][1] == results[1][1]
    with app.app_context():
        n = db.session.scalar(select(func.count(CreditEntry.id)).where(CreditEntry.user_id == user_id,
                                                                      CreditEntry.credits > 0))
        db.session.remove()
    assert n == 1


def test_two_starts_at_once_leave_one_open_attempt(app, own_database, monkeypatch):  # noqa: F811
    monkeypatch.setattr(db, "session", scoped_session(sessionmaker(bind=own_database)))
    user_id, course_id = _city(app)

    def start(_i):
        attempt, created = services.start_attempt(db.session.get(User, user_id), course_id)
        return attempt.id, created

    results, errors = _run_together(app, start)
    assert errors == []
    assert len({r[0] for r in results}) == 1 and sorted(r[1] for r in results) == [False, True]
    with app.app_context():
        assert db.session.scalar(select(func.count(ExamAttempt.id))) == 1
        assert db.session.scalar(select(func.count(AttemptItem.id))) == 5
        db.session.remove()
