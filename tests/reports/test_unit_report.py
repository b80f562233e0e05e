"""The unit report against figures computed by hand on a small unit: nine cadres in 渭滨区财政局
(李明 and eight more) and 王芳 in 金台区. Period 2026-01-01 … 2026-11-23."""
from __future__ import annotations

from datetime import date

import pytest

from app.accounts.models import Unit, User
from app.credits import services as credits
from app.errors import NotFound, PermissionDenied
from app.extensions import db
from app.learning.models import OnlineDay, StudyDay
from app.reports.unit import unit_report
from tests.credits.conftest import clock, give, unit_of_nine  # noqa: F401

START, END = date(2026, 1, 1), date(2026, 11, 23)


@pytest.fixture
def city(ctx, world, unit_of_nine, clock):  # noqa: F811
    return fill_city(world, unit_of_nine)


def fill_city(world, ids: list[int]) -> list[int]:
    """The figures every report test counts on (inside a request context; flushed, not committed)."""
    org = db.session.get(User, world.orgadmin)
    # study: three cadres studied in the period (1 h, 30 min, 10 min); one only last year
    for uid, day, seconds in ((ids[0], date(2026, 3, 2), 3600), (ids[1], date(2026, 5, 6), 1200),
                              (ids[1], date(2026, 5, 7), 600), (ids[2], date(2026, 11, 23), 600),
                              (ids[3], date(2025, 12, 31), 5000), (world.jt_cadre, date(2026, 4, 1), 900)):
        db.session.add(StudyDay(user_id=uid, day=day, course_id=_any_course(), seconds=seconds))
        db.session.add(OnlineDay(user_id=uid, day=day, seconds=seconds + 300))
    # credits: ids[0..4] 60 each (qualified); ids[5] 30; ids[6] 60 then reversed (0);
    # ids[7] 70; ids[8] 80 in 2025 only (before the period and the cycle: not counted); 王芳 65
    for uid in ids[:5]:
        give(uid, 60, 2026)
    give(ids[5], 30, 2026)
    reversed_ = give(ids[6], 60, 2026)
    credits.reverse_entry(org, reversed_.id, reason="重复登记")
    give(ids[7], 70, 2026)
    give(ids[8], 80, 2025)
    give(world.jt_cadre, 65, 2026)
    db.session.flush()
    return ids


def _any_course() -> int:
    from app.accounts.models import Role  # noqa: F401 — a course row is needed for the foreign key
    from app.catalogue import services as catalogue

    existing = db.session.scalar(db.select(db.func.min(db.text("id"))).select_from(db.text("courses")))
    if existing:
        return existing
    org = db.session.scalar(db.select(User).where(User.username == "org"))
    cat = catalogue.create_category(org, code="r1", name="报表测试", kind="subject")
    course = catalogue.create_course(org, catalogue.CourseInfo(title="报表测试课程", category_id=cat.id, lecturer="讲师",
                                                               description="", class_hours=2, credits=5))
    db.session.flush()
    return course.id


def test_the_city_report_by_hand(city, world):
    org = db.session.get(User, world.orgadmin)
    r = unit_report(org, db.session.get(Unit, world.city), START, END)
    f = r.figures
    assert f.cadres == 10
    assert f.participants == 4  # ids[0], ids[1], ids[2] and 王芳; ids[3] studied only in 2025
    assert f.study_seconds == 3600 + 1200 + 600 + 600 + 900
    assert f.online_seconds == (3600 + 300) + (1200 + 300) + (600 + 300) + (600 + 300) + (900 + 300)
    # earned in the period: 5×60 + 30 + (60 − 60) + 70 + 65 (the 2025 credits are outside it)
    assert f.credits == 300 + 30 + 0 + 70 + 65
    # qualified: ids[0..4], ids[7], 王芳
    assert f.qualified == 7 and f.qualified_rate == pytest.approx(0.7)
    assert not f.flagged  # 3 of 10 unqualified is less than a third
    assert {u.name for u in r.unqualified} == {"学员4", "学员5", "学员7"}
    assert [(s.unit.name, s.figures.cadres, s.figures.qualified) for s in r.sub_units] == [("金台区", 1, 1), ("渭滨区", 9, 6)]
    hist = dict(r.histogram)
    assert (hist["60–69"], hist["70–79"], hist["30–39"], hist["0–9"], sum(hist.values())) == (6, 1, 1, 2, 10)


def test_the_district_is_flagged_when_a_third_is_unqualified(city, world):
    viewer = db.session.get(User, world.wb_viewer)
    # 3 of 9 unqualified is exactly a third: flagged (第十八条 says "达到三分之一")
    r = unit_report(viewer, db.session.get(Unit, world.wb), START, END)
    assert (r.figures.cadres, r.figures.qualified, r.figures.flagged) == (9, 6, True)
    assert r.figures.participation_rate == pytest.approx(3 / 9)
    assert [s.unit.name for s in r.sub_units] == ["渭滨区财政局"]


def test_a_course_narrows_participation_and_study_time(city, world):
    org = db.session.get(User, world.orgadmin)
    course_id = _any_course()
    r = unit_report(org, db.session.get(Unit, world.city), START, END, course_id=course_id)
    assert r.figures.participants == 4 and r.course.id == course_id
    r = unit_report(org, db.session.get(Unit, world.city), START, END, course_id=course_id + 999)
    assert (r.figures.participants, r.figures.study_seconds) == (0, 0)


def test_scope(city, world):
    viewer = db.session.get(User, world.wb_viewer)
    with pytest.raises(NotFound):
        unit_report(viewer, db.session.get(Unit, world.city), START, END)
    with pytest.raises(NotFound):
        unit_report(db.session.get(User, world.jt_admin), db.session.get(Unit, world.wb), START, END)
    with pytest.raises(PermissionDenied):
        unit_report(db.session.get(User, world.wb_cadre), db.session.get(Unit, world.wb_bureau), START, END)


def test_the_unit_report_page(app, city, world):
    import re

    from tests.conftest import ApiClient

    wb = world.wb
    with app.app_context():
        db.session.commit()  # the fixture's rows, for the test client's requests
    viewer = ApiClient(app.test_client())
    assert viewer.login("wbview").status_code == 200
    html = viewer.get(f"/reports/units?unit={wb}&start=2026-01-01&end=2026-11-23").get_data(as_text=True)
    stat = dict(re.findall(r'data-stat="(\w+)">([\d,.]+)<', html))
    assert (stat["cadres"], stat["participants"], stat["credits"]) == ("9", "3", "400")
    assert 'id="flag"' in html and "66.7%" in html and "渭滨区财政局" in html
    assert "<svg" in html and 'class="chart chart-gauge"' in html
    assert viewer.get(f"/reports/units?unit={world.jt}").status_code == 404
    assert viewer.get(f"/reports/units?unit={world.city}").status_code == 404


def test_cadres_cannot_open_the_unit_report(app, world):
    from tests.catalogue.conftest import _cadre_login

    assert _cadre_login(app, world.wb_cadre).get("/reports/units").status_code == 403
