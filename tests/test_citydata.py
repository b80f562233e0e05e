"""The city dataset (`flask demo --size city`) follows the platform's rules at every row: a pass
earns its course's credits once and only a pass does, study-time roll-ups add up to the progress
rows, every attempt's paper is reproduced from its seed, and PostgreSQL's sequences move past the
generated ids."""
from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select

from app.accounts.models import Role, Unit, User
from app.citydata import seed_city
from app.credits import services as credits
from app.credits.models import CreditEntry
from app.exams import services as exams
from app.exams.models import ExamAttempt
from app.extensions import db
from app.learning.models import CourseProgress, StudyDay

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cadre-stress-management", "central-eight-point-regulations", "rural-revitalisation-strategy",
            "new-energy-vehicle-industry", "civil-code-essentials")


def test_city_dataset_keeps_the_rules(ctx, tmp_path, app):
    courses = tmp_path / "courses"
    courses.mkdir()
    shutil.copy(ROOT / "courses" / "categories.toml", courses)
    if (ROOT / "courses" / "schema").exists():
        shutil.copytree(ROOT / "courses" / "schema", courses / "schema")
    for code in PACKAGES:
        if (ROOT / "courses" / code).exists():
            shutil.copytree(ROOT / "courses" / code, courses / code)
    out = seed_city(cadres=300, courses_dir=str(courses), log=lambda _m: None)
    assert out["cadres"] == 300 and out["units"] > 280
    assert db.session.scalar(select(func.count(User.id)).where(User.role == Role.CADRE)) == 300

    attempts = list(db.session.scalars(select(ExamAttempt)))
    assert attempts and {a.passed for a in attempts} == {True, False}
    entries = list(db.session.scalars(select(CreditEntry).where(CreditEntry.source_type == "course_credits")))
    by_attempt = {e.details["via_id"]: e for e in entries}
    assert len(by_attempt) == len(entries)
    # one course_credits entry per cadre and course, from its first passing attempt only
    assert len({(e.user_id, e.source_id) for e in entries}) == len(entries)
    for a in attempts:
        if a.id in by_attempt:
            assert a.passed and a.entry_id == by_attempt[a.id].id and by_attempt[a.id].credits == a.course.credits
        else:
            assert a.entry_id is None
    for a in attempts[:40]:
        assert [(d.question_id, list(d.option_order)) for d in exams.reproduce(a)] == \
            [(i.question_id, i.option_order) for i in a.items]
        assert a.score == int(sum(i.points for i in a.items) * 100 / len(a.items) + 0.5)
        assert a.passed == (a.score >= a.pass_mark)

    studied = db.session.scalar(select(func.sum(StudyDay.seconds)))
    progressed = db.session.scalar(select(func.sum(CourseProgress.credited_seconds)))
    assert abs(studied - progressed) < 1.0

    # the assessment reads it like any other data
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    root = db.session.scalar(select(Unit).where(Unit.parent_id.is_(None)))
    ua = credits.assess_unit(admin, root, out["year"])
    assert ua.total == 300 and 0 < ua.qualified < 300

    # new rows after the generated ones get fresh ids (PostgreSQL sequences were moved on)
    from app.accounts import services as accounts

    unit = db.session.scalar(select(Unit).where(Unit.parent_id == root.id))
    newcomer = accounts.create_staff(admin, username="after_city", name="新人", role=Role.VIEWER, unit=unit,
                                     password="Passw0rd!x")
    assert newcomer.id > max(u.id for u in db.session.scalars(select(User).where(User.role == Role.CADRE)))
