"""Learning fixtures: the catalogue's fixtures, a controllable server clock, a 10-minute lesson."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from app.catalogue.models import Lesson
from app.extensions import db
from app.learning import services
from tests.catalogue.conftest import _cadre_login, cadre_api, catalogue, org_api, sample_files  # noqa: F401


class Clock:
    def __init__(self):
        self.t = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing

    def __call__(self):
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(services, "now", c)
    return c


@dataclass
class Course:
    id: int
    lessons: list[int]


@pytest.fixture
def course(app, catalogue) -> Course:
    """The required course of the catalogue fixture, its two lessons made 600 s long; no checks
    unless a test asks for them."""
    app.config["LEARNING_CHECK_MIN_MINUTES"] = app.config["LEARNING_CHECK_MAX_MINUTES"] = 10_000
    with app.app_context():
        lessons = db.session.scalars(db.select(Lesson).where(Lesson.course_id == catalogue.party)
                                     .order_by(Lesson.position)).all()
        lessons[0].video.duration = 600.0
        db.session.commit()
        ids = [lesson.id for lesson in lessons]
    yield Course(catalogue.party, ids)
    app.config["LEARNING_CHECK_MIN_MINUTES"], app.config["LEARNING_CHECK_MAX_MINUTES"] = 10.0, 20.0
