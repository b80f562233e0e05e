"""The course report against figures computed by hand. 渭滨区财政局 has nine cadres (ids[0] is 李明;
ids[8] is deactivated, so eight count), 金台区 has 王芳. Courses: A 党建 and B 经济 (政治理论), C 汽车
(本地模块), D 未开课 (政治理论, published, no activity). Period 2026-01-01 … 2026-11-23, local days
(Asia/Shanghai): 2025-12-31 16:30 UTC is already 1 January, 2026-11-23 16:30 UTC is 24 November.

  progress  A: ids0 started 02-01 done 03-01; ids1 started 01-01 00:30 local, done 05-01; ids2 started
               12-31 23:59 local (before), done 04-01; ids3 started 06-01; ids4 started 10-01, done
               11-24 local (after); ids8 (inactive) started and done; 王芳 started 03-01 done 03-20
               → enrolments 5, of which done by the end 3 (60.0%), completions 4
            B: ids0 started 07-01 done 08-01; ids5 started 07-02 → 2, 1 (50.0%), 1
            C: 王芳 started 04-01 → 1, 0 (0.0%), 0
  study     A: ids0 3600 + 1800, ids1 1200, ids3 600, 王芳 2400 (ids2 in 2025, ids8 inactive: out)
               → 4 learners, 9600 s, 2400 s each (0.7 h)
            B: ids0 1800, ids5 900 → 2, 2700 s; C: 王芳 600
            all: 5 learners (ids0 counts once), 12900 s → 2580 s each (0.7 h)
  exam      A: ids0 50 then 80 (pass), ids1 40, 王芳 100 (a real attempt, right answers);
               ids2 in 2025, ids3 open, ids8 inactive: out → 4 attempts, average 67.5, 2 of 3 passed
            B: ids0 90 (pass), ids5 30 → 2 attempts, 60.0, 1 of 2 passed
            all: 6 attempts, 65.0, 3 of 5 (cadre × course) passed (60.0%)
  papers    A: ids3 handed in 06-10; ids4 handed in 05-01 approved 05-20; ids1 handed in 2025
               approved 01-10; ids5 withdrawn → 2 handed in, 2 approved
            B: ids0 handed in 09-01, returned → 1, 0; a free-topic paper of ids0: not a course's
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pytest

from app.accounts.models import User
from app.catalogue import services as catalogue
from app.catalogue.models import Course, CourseState
from app.errors import NotFound
from app.exams import services as exams
from app.exams.models import ExamAttempt, ExamSetting, Paper, PaperState
from app.extensions import db
from app.learning.models import CourseProgress, StudyDay
from app.reports.course import course_report, figures_dict, period_instants
from app.reports.filters import resolve_filter
from tests.credits.conftest import clock, unit_of_nine  # noqa: F401
from tests.exams.conftest import add_bank, right_answers
from tests.reports.helpers import logged_in, xlsx_rows

START, END = date(2026, 1, 1), date(2026, 11, 23)
PERIOD = "start=2026-01-01&end=2026-11-23"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@dataclass
class Courses:
    ids: list[int]  # the nine cadres of 渭滨区财政局
    a: int
    b: int
    c: int
    d: int
    politics: int
    local: int


@pytest.fixture
def courses(ctx, world, unit_of_nine, clock):  # noqa: F811
    ids = unit_of_nine
    org = db.session.get(User, world.orgadmin)
    politics = catalogue.create_category(org, code="cr-politics", name="政治理论", kind="subject")
    local = catalogue.create_category(org, code="cr-local", name="本地模块", kind="local")

    def course(title, cat):
        return catalogue.create_course(org, catalogue.CourseInfo(title=title, category_id=cat.id, lecturer="讲师",
                                                                 description="", class_hours=2, credits=5)).id

    a, b, c, d = course("党建", politics), course("经济", politics), course("汽车", local), course("未开课", politics)
    for cid in (a, d):  # published (set directly: the report does not play videos)
        db.session.get(Course, cid).state = CourseState.PUBLISHED
    db.session.get(User, ids[8]).is_active = False
    wf = world.jt_cadre

    for uid, cid, started, done in (
            (ids[0], a, utc(2026, 2, 1), utc(2026, 3, 1)), (ids[1], a, utc(2025, 12, 31, 16, 30), utc(2026, 5, 1)),
            (ids[2], a, utc(2025, 12, 31, 15, 59), utc(2026, 4, 1)), (ids[3], a, utc(2026, 6, 1), None),
            (ids[4], a, utc(2026, 10, 1), utc(2026, 11, 23, 16, 30)), (ids[8], a, utc(2026, 3, 1), utc(2026, 3, 5)),
            (wf, a, utc(2026, 3, 1), utc(2026, 3, 20)),
            (ids[0], b, utc(2026, 7, 1), utc(2026, 8, 1)), (ids[5], b, utc(2026, 7, 2), None),
            (wf, c, utc(2026, 4, 1), None)):
        db.session.add(CourseProgress(user_id=uid, course_id=cid, started_at=started, completed_at=done,
                                      lessons_completed=2 if done else 1))
    for uid, cid, day, seconds in (
            (ids[0], a, date(2026, 2, 1), 3600), (ids[0], a, date(2026, 2, 2), 1800),
            (ids[1], a, date(2026, 1, 1), 1200), (ids[3], a, date(2026, 6, 1), 600), (wf, a, date(2026, 3, 1), 2400),
            (ids[2], a, date(2025, 12, 31), 5000), (ids[8], a, date(2026, 3, 1), 999),
            (ids[0], b, date(2026, 7, 1), 1800), (ids[5], b, date(2026, 7, 2), 900), (wf, c, date(2026, 4, 1), 600)):
        db.session.add(StudyDay(user_id=uid, course_id=cid, day=day, seconds=seconds))

    def attempt(uid, cid, number, closed, score):
        opened = closed or utc(2026, 11, 23, 1, 0)
        db.session.add(ExamAttempt(user_id=uid, course_id=cid, number=number, seed=1, pool_ids={}, pass_mark=60,
                                   time_limit_minutes=30, started_at=opened, deadline=utc(2026, 12, 31),
                                   closed_at=closed, score=score, passed=None if score is None else score >= 60))
    attempt(ids[0], a, 1, utc(2026, 3, 2), 50)
    attempt(ids[0], a, 2, utc(2026, 3, 3), 80)
    attempt(ids[1], a, 1, utc(2026, 5, 2), 40)
    attempt(ids[2], a, 1, utc(2025, 12, 20), 90)
    attempt(ids[3], a, 1, None, None)
    attempt(ids[8], a, 1, utc(2026, 3, 6), 100)
    attempt(ids[0], b, 1, utc(2026, 8, 2), 90)
    attempt(ids[5], b, 1, utc(2026, 7, 5), 30)

    def paper(uid, cid, submitted, state, decided=None):
        db.session.add(Paper(user_id=uid, course_id=cid, title="论文", state=state, submitted_at=submitted,
                             decided_at=decided))
    paper(ids[3], a, utc(2026, 6, 10), PaperState.SUBMITTED)
    paper(ids[4], a, utc(2026, 5, 1), PaperState.APPROVED, utc(2026, 5, 20))
    paper(ids[1], a, utc(2025, 12, 1), PaperState.APPROVED, utc(2026, 1, 10))
    paper(ids[5], a, utc(2026, 6, 1), PaperState.WITHDRAWN)
    paper(ids[0], b, utc(2026, 9, 1), PaperState.RETURNED)
    paper(ids[0], None, utc(2026, 6, 1), PaperState.SUBMITTED)
    db.session.flush()

    # 王芳 sits A's exam through the exam service (the clock says 2026-11-23 10:00 local): 100, passed.
    db.session.add(ExamSetting(course_id=a, question_count=10, time_limit_minutes=30, pass_mark=60))
    add_bank(a)
    wang = db.session.get(User, wf)
    started, _ = exams.start_attempt(wang, a)
    done = exams.submit_attempt(wang, started.id, right_answers(started))
    assert (done.attempt.score, done.attempt.passed) == (100, True)
    db.session.flush()
    return Courses(ids, a, b, c, d, politics.id, local.id)


def _report(actor_id: int, **kw):
    actor = db.session.get(User, actor_id)
    return course_report(actor, resolve_filter(actor, start=START, end=END, **kw))


def _f(figures) -> tuple:
    """The figures (a CourseFigures or its JSON) in the order the hand-made tuples use."""
    d = figures if isinstance(figures, dict) else figures_dict(figures)
    return (d["enrolments"], d["enrolled_completed"], d["completion_pct"], d["completions"], d["learners"],
            d["avg_study_hours"], d["attempts"], d["avg_score"], d["exam_takers"], d["exam_passers"], d["pass_pct"],
            d["papers"], d["papers_approved"])


def test_the_period_is_made_of_local_days(app, ctx):
    lo, hi = period_instants(START, END)
    assert (lo, hi) == (utc(2025, 12, 31, 16), utc(2026, 11, 23, 16))


def test_the_city_report_by_hand(courses, world):
    r = _report(world.orgadmin, unit_id=world.city)
    assert r.cadres == 9  # ids[8] is inactive
    by_title = {row.course.title: row.figures for row in r.courses}
    assert [row.course.title for row in r.courses] == ["党建", "经济", "汽车"]  # most enrolments first; 未开课 idle
    a, b, c = by_title["党建"], by_title["经济"], by_title["汽车"]
    assert _f(a) == (5, 3, 60.0, 4, 4, 0.7, 4, 67.5, 3, 2, 66.7, 2, 2)
    assert a.study_seconds == 3600 + 1800 + 1200 + 600 + 2400 and a.completion_rate == pytest.approx(0.6)
    assert _f(b) == (2, 1, 50.0, 1, 2, 0.4, 2, 60.0, 2, 1, 50.0, 1, 0)
    assert _f(c) == (1, 0, 0.0, 0, 1, 0.2, 0, None, 0, 0, 0.0, 0, 0)
    f = r.figures
    # learners are cadres (ids0 studied two courses: once); exam takers are cadre × course
    assert _f(f) == (8, 4, 50.0, 5, 5, 0.7, 6, 65.0, 5, 3, 60.0, 3, 2)
    assert f.study_seconds == 12900 and f.avg_study_seconds == 2580


def test_by_unit_all_courses_and_one_course(courses, world):
    r = _report(world.orgadmin, unit_id=world.city)
    assert [(s.unit.name, s.cadres) for s in r.sub_units] == [("渭滨区", 8), ("金台区", 1)]
    wb, jt = (s.figures for s in r.sub_units)
    assert _f(wb) == (6, 3, 50.0, 4, 4, 0.7, 5, 58.0, 4, 2, 50.0, 3, 2)
    assert wb.study_seconds == 9900  # ids0, ids1, ids3 on A, ids0 and ids5 on B
    assert _f(jt) == (2, 1, 50.0, 1, 1, 0.8, 1, 100.0, 1, 1, 100.0, 0, 0)
    # one course: the sub-units split that course's figures
    r = _report(world.orgadmin, unit_id=world.city, course_id=courses.a)
    assert [row.course.title for row in r.courses] == ["党建"]
    wb, jt = (s.figures for s in r.sub_units)
    assert _f(wb) == (4, 2, 50.0, 3, 3, 0.7, 3, 56.7, 2, 1, 50.0, 2, 2)
    assert _f(jt) == (1, 1, 100.0, 1, 1, 0.7, 1, 100.0, 1, 1, 100.0, 0, 0)
    assert _f(r.figures) == _f(next(c for c in _report(world.orgadmin, unit_id=world.city).courses
                                    if c.course.id == courses.a).figures)
    # a chosen course without any activity is still its row, with zeros
    r = _report(world.orgadmin, unit_id=world.city, course_id=courses.d)
    assert [(row.course.title, row.figures.enrolments) for row in r.courses] == [("未开课", 0)]


def test_the_category_filter(courses, world):
    r = _report(world.orgadmin, unit_id=world.city, category_id=courses.politics)
    # the category's courses: 未开课 is published and listed with zeros; 汽车 is not in the category
    assert [row.course.title for row in r.courses] == ["党建", "经济", "未开课"]
    f = r.figures
    assert (f.enrolments, f.learners, f.study_seconds, f.attempts, f.papers) == (7, 5, 12300, 6, 3)
    jt = r.sub_units[1].figures
    assert (jt.enrolments, jt.learners, jt.study_seconds) == (1, 1, 2400)  # 王芳's 汽车 is left out
    r = _report(world.orgadmin, unit_id=world.city, category_id=courses.local)
    assert [(row.course.title, row.figures.enrolments) for row in r.courses] == [("汽车", 1)]


def test_the_cadre_filter(courses, world):
    one = courses.ids[0]
    r = _report(world.orgadmin, user_id=one)
    assert r.unit.id == world.wb_bureau and r.cadres == 1 and r.sub_units == []
    rows = {row.course.title: _f(row.figures) for row in r.courses}
    assert rows == {"党建": (1, 1, 100.0, 1, 1, 1.5, 2, 65.0, 1, 1, 100.0, 0, 0),
                    "经济": (1, 1, 100.0, 1, 1, 0.5, 1, 90.0, 1, 1, 100.0, 1, 0)}
    assert _f(r.figures) == (2, 2, 100.0, 2, 1, 2.0, 3, 73.3, 2, 2, 100.0, 1, 0)
    r = _report(world.orgadmin, unit_id=world.city, user_id=one)
    assert [(s.unit.name, s.cadres, s.figures.enrolments) for s in r.sub_units] == [("渭滨区", 1, 2), ("金台区", 0, 0)]


def test_scope(courses, world):
    viewer = db.session.get(User, world.wb_viewer)
    with pytest.raises(NotFound):
        resolve_filter(viewer, unit_id=world.city)
    with pytest.raises(NotFound):
        resolve_filter(viewer, user_id=world.jt_cadre)
    r = course_report(viewer, resolve_filter(viewer, start=START, end=END))
    assert r.unit.id == world.wb and r.cadres == 8
    assert "汽车" not in {row.course.title for row in r.courses}  # only 王芳 took it
    assert _f(r.figures)[:2] == (6, 3)


# --- through HTTP ---------------------------------------------------------------------------

@pytest.fixture
def committed(app, courses):
    with app.app_context():
        db.session.commit()  # the fixture's rows, for the test client's requests
    return courses


HEADER_KEYS = {"开始学习": "enrolments", "其中已完成": "enrolled_completed", "完成率(%)": "completion_pct",
               "期间完成": "completions", "学习人数": "learners", "学习时长(小时)": "study_hours",
               "人均学习时长(小时)": "avg_study_hours", "考试次数": "attempts", "平均分": "avg_score",
               "参考人数": "exam_takers", "通过人数": "exam_passers", "通过率(%)": "pass_pct", "提交论文": "papers",
               "论文通过": "papers_approved"}




def test_the_json_by_hand(app, committed, world):
    d = logged_in(app, "org").get(f"/api/v1/reports/courses?unit_id={world.city}&{PERIOD}").json
    assert (d["cadres"], d["unit"]["name"], d["course"], d["start"]) == (9, "测试市", None, "2026-01-01")
    assert _f(d["figures"]) == (8, 4, 50.0, 5, 5, 0.7, 6, 65.0, 5, 3, 60.0, 3, 2)
    assert d["figures"]["study_hours"] == 3.6
    assert [(c["course"]["name"], c["category"]["name"], c["completion_pct"]) for c in d["courses"]] == [
        ("党建", "政治理论", 60.0), ("经济", "政治理论", 50.0), ("汽车", "本地模块", 0.0)]
    assert [(s["unit"]["name"], s["cadres"], s["pass_pct"]) for s in d["sub_units"]] == [
        ("渭滨区", 8, 50.0), ("金台区", 1, 100.0)]
    r = logged_in(app, "org").get(f"/api/v1/reports/courses?course_id={committed.a}&category_id={committed.local}")
    assert r.status_code == 200 and r.json["course"]["name"] == "党建" and r.json["category"] is None


def test_the_xlsx_and_csv_carry_the_json(app, committed, world):
    org = logged_in(app, "org")
    url = f"/api/v1/reports/courses?unit_id={world.city}&{PERIOD}"
    d = org.get(url).json
    r = org.get(url + "&format=xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    disposition = r.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E8%AF%BE%E7%A8%8B" in disposition  # 课程学习情况-…
    assert f'filename="course-report-{world.city}-2026-01-01-2026-11-23.xlsx"' in disposition
    sheets = xlsx_rows(r.data)
    assert list(sheets) == ["概况", "课程", "按单位"]
    head, row = sheets["概况"]
    got = dict(zip(head, row, strict=True))
    f = d["figures"]
    assert (got["干部"], got["开始学习"], got["完成率(%)"], got["人均学习时长(小时)"], got["平均分"], got["通过率(%)"],
            got["提交论文"]) == (d["cadres"], f["enrolments"], f["completion_pct"], f["avg_study_hours"], f["avg_score"],
                                f["pass_pct"], f["papers"])
    assert [_f(c) for c in d["courses"]] == [
        (5, 3, 60.0, 4, 4, 0.7, 4, 67.5, 3, 2, 66.7, 2, 2), (2, 1, 50.0, 1, 2, 0.4, 2, 60.0, 2, 1, 50.0, 1, 0),
        (1, 0, 0.0, 0, 1, 0.2, 0, None, 0, 0, 0.0, 0, 0)]
    assert [row[0] for row in sheets["课程"][1:]] == ["党建", "经济", "汽车"]
    assert [row[:2] for row in sheets["按单位"][1:]] == [[s["unit"]["name"], s["cadres"]] for s in d["sub_units"]]
    # every course and sub-unit row, cell for cell: each column is the JSON field its header says
    for title, key, items in (("课程", "course", d["courses"]), ("按单位", "unit", d["sub_units"])):
        head, *rows = sheets[title]
        assert len(rows) == len(items)
        for row, item in zip(rows, items, strict=True):
            cells = dict(zip(head, row, strict=True))
            assert cells[head[0]] == item[key]["name"]
            assert {HEADER_KEYS[h]: v for h, v in cells.items() if h in HEADER_KEYS} == {
                k: item[k] for k in HEADER_KEYS.values()}

    c = org.get(url + "&format=csv")
    assert c.status_code == 200 and c.mimetype == "text/csv"
    text = c.data.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["概况"]
    at = rows.index(["课程"])
    assert rows[at + 2][:6] == ["党建", "政治理论", "5", "3", "60.0", "4"] and rows[at + 4][10] == ""  # 汽车: no score


def test_scope_in_every_format(app, committed, world):
    viewer = logged_in(app, "wbview")
    for fmt in ("json", "csv", "xlsx"):
        assert viewer.get(f"/api/v1/reports/courses?unit_id={world.city}&format={fmt}").status_code == 404
        assert viewer.get(f"/api/v1/reports/courses?user_id={world.jt_cadre}&format={fmt}").status_code == 404
    for fmt in ("xlsx", "csv"):
        own = viewer.get(f"/api/v1/reports/courses?{PERIOD}&format={fmt}")  # their own district by default
        assert own.status_code == 200
        flat = (" ".join(str(v) for rows in xlsx_rows(own.data).values() for row in rows for v in row) if fmt == "xlsx"
                else own.data.decode("utf-8"))
        assert "渭滨区财政局" in flat and "党建" in flat
        assert "金台区" not in flat and "测试市" not in flat and "汽车" not in flat  # 汽车: only 王芳 took it
    assert xlsx_rows(viewer.get(f"/api/v1/reports/courses?{PERIOD}&format=xlsx").data)["概况"][1][1] == 8
    assert viewer.get("/api/v1/reports/courses?start=2026-05-01&end=2026-04-01").status_code == 400


def test_the_course_report_page(app, committed, world):
    viewer = logged_in(app, "wbview")
    html = viewer.get(f"/reports/courses?unit={world.wb}&{PERIOD}").get_data(as_text=True)
    stat = dict(re.findall(r'data-stat="(\w+)">([\d,.%–]+)<', html))
    assert (stat["enrolments"], stat["completion_pct"], stat["completions"], stat["avg_study_hours"]) == (
        "6", "50.0%", "4", "0.7")
    assert (stat["pass_pct"], stat["avg_score"], stat["papers"]) == ("50.0%", "58.0", "3")
    assert "渭滨区财政局" in html and "党建" in html and "汽车" not in html and 'class="chart chart-hbars"' in html
    assert f"/reports/courses?unit={world.wb}&amp;start=2026-01-01&amp;end=2026-11-23&amp;course={committed.a}" in html
    assert f"/api/v1/reports/courses?format=xlsx&amp;unit_id={world.wb}" in html
    # one course: the sub-units' completion rates
    html = viewer.get(f"/reports/courses?unit={world.wb}&course={committed.a}&{PERIOD}").get_data(as_text=True)
    assert re.search(r'data-stat="enrolments">4<', html) and "下级单位完成率" in html
    assert viewer.get(f"/reports/courses?unit={world.city}").status_code == 404
    assert viewer.get(f"/reports/courses?cadre={world.jt_cadre}").status_code == 404
    # a bad date falls back to the default period rather than failing
    assert viewer.get("/reports/courses?start=nonsense").status_code == 200


def test_cadres_cannot_open_the_course_report(app, world):
    from tests.catalogue.conftest import _cadre_login

    cadre = _cadre_login(app, world.wb_cadre)
    assert cadre.get("/reports/courses").status_code == 403
    assert cadre.get("/api/v1/reports/courses").status_code == 403


def test_course_report_is_in_the_openapi_document(app):
    spec = app.test_client().get("/api/v1/openapi.json").json
    op = spec["paths"]["/api/v1/reports/courses"]["get"]
    assert op["operationId"] == "courseReport"
    assert set(op["responses"]["200"]["content"]) == {
        "application/json", "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    assert {p["name"] for p in op["parameters"]} >= {"unit_id", "user_id", "course_id", "category_id", "start", "end",
                                                      "format"}
