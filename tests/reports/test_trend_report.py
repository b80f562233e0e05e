"""The trend report (学习趋势) against figures computed by hand. The period is Wed 2026-03-25 … Tue
2026-04-14: by week that is 03-25–03-29 (cut by the start), 03-30–04-05 (across the month's end),
04-06–04-12 (nothing studied) and 04-13–04-14 (cut by the end); by month March 25–31 and April 1–14.

Cadres: A = 李明, B = 学员0, C = 学员1 (渭滨区财政局), D = 王芳 (金台区), E = 学员2 (deactivated).
Course c1 is in category k1, c2 in k2. Times are local (Asia/Shanghai); completions are stored in UTC.

    study (seconds)         C 03-24 3000 (before the period)   C 03-25 300 c2   C 03-29 (Sun) 200 c1
                            A 03-30 1800 c1   A 03-31 1200 c1   B 03-31 900 c1   A 04-01 600 c2
                            E 04-06 5000 (inactive)   D 04-14 600 c1   D 04-15 700 (after)
    online (seconds)        C 03-24 100 (before)   C 03-25 400   A 03-30 2000   A 03-31 1500   B 03-31 1000
                            E 04-06 9999 (inactive)   D 04-14 800   D 04-15 50 (after)
    credits (earned_on)     A 03-24 +20 (before)   D 03-25 +3   A 03-30 +5 (c1)   B 04-02 +10
                            E 04-06 +7 (inactive)   C 04-07 +8 (c2), reversed on 04-13 (−8)
    completions (UTC→local) C c1 03-24 16:30Z = 03-25 00:30   A c1 03-31 17:00Z = 04-01 01:00
                            B c2 04-05 15:30Z = 04-05 23:30   D c2 04-14 16:10Z = 04-15 00:10 (after)
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pytest

from app.accounts.models import User
from app.catalogue import services as catalogue
from app.credits import services as credits
from app.credits.models import CreditKind
from app.errors import NotFound, PermissionDenied
from app.extensions import db
from app.learning.models import CourseProgress, OnlineDay, StudyDay
from app.reports.filters import resolve_filter
from app.reports.trend import auto_granularity, buckets, trend_report
from tests.credits.conftest import clock, unit_of_nine  # noqa: F401
from tests.reports.helpers import logged_in, xlsx_rows

START, END = date(2026, 3, 25), date(2026, 4, 14)
PERIOD = "start=2026-03-25&end=2026-04-14"
WEEKS = [(date(2026, 3, 25), date(2026, 3, 29)), (date(2026, 3, 30), date(2026, 4, 5)),
         (date(2026, 4, 6), date(2026, 4, 12)), (date(2026, 4, 13), date(2026, 4, 14))]


def _earn(uid: int, amount: int, day: date, source_type: str = "test", source_id: int | None = None):
    return credits.award(uid, kind=CreditKind.ADJUSTMENT, credits=amount, source_type=source_type,
                         source_id=source_id if source_id is not None else 900_000 + uid * 100 + day.day,
                         title="测试", earned_on=day)


def fill_trend(world, ids: list[int], clock) -> dict:
    """The rows of the module docstring (inside a request context; flushed, not committed)."""
    org = db.session.get(User, world.orgadmin)
    k1 = catalogue.create_category(org, code="t1", name="趋势分类一", kind="subject")
    k2 = catalogue.create_category(org, code="t2", name="趋势分类二", kind="subject")
    c1, c2 = (catalogue.create_course(org, catalogue.CourseInfo(
        title=title, category_id=k.id, lecturer="讲师", description="", class_hours=2, credits=5))
        for title, k in (("趋势课程一", k1), ("趋势课程二", k2)))
    db.session.flush()
    a, b, c, e, d = ids[0], ids[1], ids[2], ids[3], world.jt_cadre
    for uid, day, course, seconds in ((c, "03-24", c2, 3000), (c, "03-25", c2, 300), (c, "03-29", c1, 200),
                                      (a, "03-30", c1, 1800), (a, "03-31", c1, 1200), (b, "03-31", c1, 900),
                                      (a, "04-01", c2, 600), (e, "04-06", c1, 5000), (d, "04-14", c1, 600),
                                      (d, "04-15", c1, 700)):
        db.session.add(StudyDay(user_id=uid, day=date.fromisoformat(f"2026-{day}"), course_id=course.id,
                                seconds=seconds))
    for uid, day, seconds in ((c, "03-24", 100), (c, "03-25", 400), (a, "03-30", 2000), (a, "03-31", 1500),
                              (b, "03-31", 1000), (e, "04-06", 9999), (d, "04-14", 800), (d, "04-15", 50)):
        db.session.add(OnlineDay(user_id=uid, day=date.fromisoformat(f"2026-{day}"), seconds=seconds))
    _earn(a, 20, date(2026, 3, 24))
    _earn(d, 3, date(2026, 3, 25))
    _earn(a, 5, date(2026, 3, 30), "course_credits", c1.id)
    _earn(b, 10, date(2026, 4, 2))
    _earn(e, 7, date(2026, 4, 6))
    wrong = _earn(c, 8, date(2026, 4, 7), "course_credits", c2.id)
    clock.set(2026, 4, 13)
    credits.reverse_entry(org, wrong.id, reason="重复登记")  # earned_on: the day of the reversal
    utc = timezone.utc
    for uid, course, at in ((c, c1, datetime(2026, 3, 24, 16, 30, tzinfo=utc)),
                            (a, c1, datetime(2026, 3, 31, 17, 0, tzinfo=utc)),
                            (b, c2, datetime(2026, 4, 5, 15, 30, tzinfo=utc)),
                            (d, c2, datetime(2026, 4, 14, 16, 10, tzinfo=utc)), (a, c2, None)):
        db.session.add(CourseProgress(user_id=uid, course_id=course.id, completed_at=at))
    db.session.get(User, e).is_active = False
    db.session.flush()
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "c1": c1.id, "c2": c2.id, "k1": k1.id, "k2": k2.id}


@pytest.fixture
def trend_city(ctx, world, unit_of_nine, clock):  # noqa: F811
    return fill_trend(world, unit_of_nine, clock)


@pytest.fixture
def committed(app, world, unit_of_nine, clock):  # noqa: F811
    """The same rows, committed, with no request context left open."""
    with app.test_request_context():
        ids = fill_trend(world, unit_of_nine, clock)
        db.session.commit()
    return ids


def _report(world, g=None, actor=None, start=START, end=END, **kw):
    actor = db.session.get(User, actor or world.orgadmin)
    kw.setdefault("unit_id", world.city)
    return trend_report(actor, resolve_filter(actor, start=start, end=end, **kw), g)


def _cols(r, *names):
    return [tuple(getattr(p, n) for n in names) for p in r.points]


# buckets -------------------------------------------------------------------------------------

def test_weeks_start_on_monday_and_are_clipped_to_the_period():
    pts = buckets(START, END, "week")
    assert [(p.start, p.end) for p in pts] == WEEKS
    assert [p.key for p in pts] == [date(2026, 3, 23), date(2026, 3, 30), date(2026, 4, 6), date(2026, 4, 13)]
    assert [p.partial for p in pts] == [True, False, False, True]
    assert [(p.start, p.end, p.partial) for p in buckets(START, END, "month")] == [
        (date(2026, 3, 25), date(2026, 3, 31), True), (date(2026, 4, 1), date(2026, 4, 14), True)]
    assert len(buckets(START, END, "day")) == 21


def test_the_granularity_follows_the_period_when_not_chosen():
    assert auto_granularity(START, END) == "day"
    assert auto_granularity(date(2026, 1, 1), date(2026, 3, 3)) == "day"  # 62 days
    assert auto_granularity(date(2026, 1, 1), date(2026, 3, 4)) == "week"
    assert auto_granularity(date(2026, 1, 1), date(2026, 7, 2)) == "week"  # 183 days
    assert auto_granularity(date(2026, 1, 1), date(2026, 7, 3)) == "month"


# the figures ---------------------------------------------------------------------------------

def test_weekly_by_hand(trend_city, world):
    r = _report(world, "week")
    assert (r.granularity, r.automatic) == ("week", False)
    assert [(p.start, p.end) for p in r.points] == WEEKS
    # study: C 300 + 200 | A 1800 + 1200 + 600, B 900 | nothing (E is inactive) | D 600
    assert _cols(r, "study_seconds", "learners") == [(500, 1), (4500, 2), (0, 0), (600, 1)]
    assert _cols(r, "online_seconds") == [(400,), (4500,), (0,), (800,)]
    # credits: D 3 | A 5 + B 10 | C 8 | C's 8 reversed on 04-13
    assert _cols(r, "credits") == [(3,), (15,), (8,), (-8,)]
    # completions on the local day: C 03-25 00:30, A 04-01 01:00, B 04-05 23:30 (D's 04-15 is after)
    assert _cols(r, "completions") == [(1,), (2,), (0,), (0,)]
    t = r.totals
    assert (t.cadres, t.study_seconds, t.learners, t.online_seconds, t.credits, t.completions) == (
        9, 5600, 4, 5700, 18, 3)


def test_active_learners_are_distinct_per_bucket(trend_city, world):
    daily = {p.start: p for p in _report(world, "day").points}
    assert len(daily) == 21
    # A studied on Monday, Tuesday and Wednesday, B on Tuesday: 1 + 2 + 1 by day, 2 in the week
    assert [daily[date(2026, 3, d)].learners for d in (30, 31)] + [daily[date(2026, 4, 1)].learners] == [1, 2, 1]
    assert daily[date(2026, 3, 31)].study_seconds == 1200 + 900
    assert sum(p.learners for p in daily.values()) == 1 + 1 + 1 + 2 + 1 + 1
    monthly = _report(world, "month")
    # March: C, A, B; April: A, D — A counts in both months but once in the period
    assert _cols(monthly, "learners") == [(3,), (2,)] and monthly.totals.learners == 4


def test_empty_buckets_are_zeros(trend_city, world):
    daily = {p.start: p for p in _report(world).points}  # 21 days: by day automatically
    empty = daily[date(2026, 3, 26)]
    assert (empty.study_seconds, empty.learners, empty.online_seconds, empty.credits, empty.completions) == (
        0, 0, 0, 0, 0)
    active = [d for d, p in daily.items() if p.study_seconds or p.online_seconds or p.credits or p.completions]
    assert [d.isoformat()[5:] for d in active] == ["03-25", "03-29", "03-30", "03-31", "04-01", "04-02", "04-05",
                                                  "04-07", "04-13", "04-14"]
    assert daily[date(2026, 3, 29)].study_seconds == 200  # a Sunday: the end of its week


def test_monthly_by_hand(trend_city, world):
    r = _report(world, "month")
    assert [(p.start, p.end) for p in r.points] == [(date(2026, 3, 25), date(2026, 3, 31)),
                                                    (date(2026, 4, 1), date(2026, 4, 14))]
    assert _cols(r, "study_seconds", "online_seconds", "credits", "completions") == [
        (300 + 200 + 1800 + 1200 + 900, 400 + 2000 + 1500 + 1000, 3 + 5, 1), (600 + 600, 800, 10 + 8 - 8, 2)]


def test_a_week_across_the_new_year(ctx, world, unit_of_nine):  # noqa: F811
    course = _course()
    for day, seconds in (("2025-12-27", 1), ("2025-12-28", 2), ("2025-12-29", 4), ("2026-01-01", 8),
                         ("2026-01-04", 16), ("2026-01-05", 32), ("2026-01-06", 64)):
        db.session.add(StudyDay(user_id=world.wb_cadre, day=date.fromisoformat(day), course_id=course, seconds=seconds))
    db.session.flush()
    r = _report(world, "week", start=date(2025, 12, 28), end=date(2026, 1, 5))
    assert [(p.start.isoformat(), p.end.isoformat(), p.study_seconds) for p in r.points] == [
        ("2025-12-28", "2025-12-28", 2), ("2025-12-29", "2026-01-04", 4 + 8 + 16), ("2026-01-05", "2026-01-05", 32)]
    r = _report(world, "month", start=date(2025, 12, 28), end=date(2026, 1, 5))
    assert [p.study_seconds for p in r.points] == [2 + 4, 8 + 16 + 32]


def _course() -> int:
    org = db.session.scalar(db.select(User).where(User.username == "org"))
    cat = catalogue.create_category(org, code="t9", name="跨年", kind="subject")
    c = catalogue.create_course(org, catalogue.CourseInfo(title="跨年课程", category_id=cat.id, lecturer="讲师",
                                                          description="", class_hours=1, credits=5))
    db.session.flush()
    return c.id


# filters and scope ---------------------------------------------------------------------------

def test_a_course_or_category_narrows_study_credits_and_completions_but_not_time_online(trend_city, world):
    ids = trend_city
    r = _report(world, "week", course_id=ids["c1"])
    assert _cols(r, "study_seconds", "learners") == [(200, 1), (1800 + 1200 + 900, 2), (0, 0), (600, 1)]
    assert _cols(r, "credits") == [(0,), (5,), (0,), (0,)]  # A's course credits only
    assert _cols(r, "completions") == [(1,), (1,), (0,), (0,)]  # C and A completed c1
    assert _cols(r, "online_seconds") == [(400,), (4500,), (0,), (800,)]  # not narrowed
    assert r.narrowed and r.totals.learners == 4
    r = _report(world, "week", category_id=ids["k2"])
    assert _cols(r, "study_seconds", "learners") == [(300, 1), (600, 1), (0, 0), (0, 0)]
    assert _cols(r, "credits") == [(0,), (0,), (8,), (-8,)]  # the reversal follows its course
    assert _cols(r, "completions") == [(0,), (1,), (0,), (0,)]
    assert (r.totals.study_seconds, r.totals.learners, r.totals.credits) == (900, 2, 0)


def test_one_cadre(trend_city, world):
    r = _report(world, "week", user_id=trend_city["a"])
    assert _cols(r, "study_seconds", "learners", "online_seconds", "credits", "completions") == [
        (0, 0, 0, 0, 0), (3600, 1, 3500, 5, 1), (0, 0, 0, 0, 0), (0, 0, 0, 0, 0)]
    assert (r.totals.cadres, r.totals.learners, r.user.id) == (1, 1, trend_city["a"])


def test_scope(trend_city, world):
    viewer = world.wb_viewer
    r = _report(world, "week", actor=viewer, unit_id=None)  # their own district: 王芳 (D) is not in it
    assert r.unit.id == world.wb
    assert _cols(r, "study_seconds") == [(500,), (4500,), (0,), (0,)]
    assert (r.totals.cadres, r.totals.learners, r.totals.credits) == (8, 3, 15)
    with pytest.raises(NotFound):
        _report(world, actor=viewer, unit_id=world.jt)
    with pytest.raises(NotFound):
        _report(world, actor=viewer, unit_id=None, user_id=world.jt_cadre)
    org = db.session.get(User, world.orgadmin)
    with pytest.raises(NotFound):  # a filter resolved for someone else does not widen the viewer's scope
        trend_report(db.session.get(User, viewer), resolve_filter(org, unit_id=world.jt), "week")
    with pytest.raises(PermissionDenied):
        cadre = db.session.get(User, world.wb_cadre)
        trend_report(cadre, resolve_filter(db.session.get(User, world.orgadmin), unit_id=world.city), "week")


# the API and the files -----------------------------------------------------------------------


def test_the_json_by_hand(app, committed, world):
    d = logged_in(app, "org").get(f"/api/v1/reports/trends?unit_id={world.city}&{PERIOD}&granularity=week").json
    assert (d["granularity"], d["automatic"], d["online_narrowed"]) == ("week", False, False)
    assert [(p["start"], p["end"], p["partial"], p["days"]) for p in d["points"]] == [
        ("2026-03-25", "2026-03-29", True, 5), ("2026-03-30", "2026-04-05", False, 7),
        ("2026-04-06", "2026-04-12", False, 7), ("2026-04-13", "2026-04-14", True, 2)]
    assert [(p["study_hours"], p["active_learners"], p["credits"], p["completions"]) for p in d["points"]] == [
        (round(500 / 3600, 1), 1, 3, 1), (round(4500 / 3600, 1), 2, 15, 2), (0, 0, 8, 0),
        (round(600 / 3600, 1), 1, -8, 0)]
    assert d["totals"] == {"cadres": 9, "study_hours": round(5600 / 3600, 1), "active_learners": 4, "active_pct": 44.4,
                           "online_hours": round(5700 / 3600, 1), "credits": 18, "completions": 3}
    auto = logged_in(app, "org").get(f"/api/v1/reports/trends?unit_id={world.city}&{PERIOD}").json
    assert (auto["granularity"], auto["automatic"], len(auto["points"])) == ("day", True, 21)



def _plain(v):
    return v.date().isoformat() if isinstance(v, datetime) else v


def _json_rows(d: dict) -> list[list]:
    """The JSON's points as the 趋势 sheet's rows should be."""
    keys = ("start", "end", "study_hours", "active_learners", "online_hours", "credits", "completions")
    return [[p[k] for k in keys] for p in d["points"]]


def test_the_xlsx_and_csv_carry_the_json(app, committed, world):
    org = logged_in(app, "org")
    url = f"/api/v1/reports/trends?unit_id={world.city}&{PERIOD}&granularity=day&course_id={committed['c1']}"
    d = org.get(url).json
    r = org.get(url + "&format=xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    cd = r.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E5%AD%A6%E4%B9%A0%E8%B6%8B%E5%8A%BF-" in cd  # 学习趋势-测试市-…
    assert f'filename="trend-{world.city}-2026-03-25-2026-04-14.xlsx"' in cd
    sheets = xlsx_rows(r.data)
    rows = sheets["趋势"]
    assert rows[0][:6] == ["开始日期", "结束日期", "学习时长(小时)", "活跃学员(人)", "在线时长(小时)", "学分"]
    assert [[_plain(v) for v in row] for row in rows[1:]] == _json_rows(d)
    assert len(rows) == 1 + 21
    total = dict(zip(sheets["合计"][0], sheets["合计"][1], strict=True))
    assert (total["活跃学员(人)"], total["学分"], total["课程/分类"]) == (4, 5, "趋势课程一")
    c = org.get(url + "&format=csv")
    assert c.status_code == 200 and c.data.startswith("\ufeff".encode())
    text = c.data.decode("utf-8-sig")
    assert "2026-03-31,2026-03-31,0.6,2,0.7,0,0" in text  # A 1200 + B 900 s on c1; online 2500 s


def test_scope_in_every_format(app, committed, world):
    viewer = logged_in(app, "wbview")
    for fmt in ("json", "xlsx", "csv"):
        assert viewer.get(f"/api/v1/reports/trends?unit_id={world.jt}&format={fmt}").status_code == 404
        assert viewer.get(f"/api/v1/reports/trends?user_id={world.jt_cadre}&format={fmt}").status_code == 404
    rows = xlsx_rows(viewer.get(f"/api/v1/reports/trends?{PERIOD}&granularity=week&format=xlsx").data)["趋势"][1:]
    # 王芳's 600 s on 04-14 are 金台区's: the last week is empty for 渭滨区
    assert [(r[2], r[3]) for r in rows] == [(round(500 / 3600, 1), 1), (round(4500 / 3600, 1), 2), (0, 0), (0, 0)]
    assert viewer.get(f"/api/v1/reports/trends?{PERIOD}&granularity=year").status_code in (400, 422)
    assert viewer.get("/api/v1/reports/trends?start=2026-05-01&end=2026-04-01").status_code == 400



def test_the_trend_as_a_background_export(app, committed, world):
    viewer = logged_in(app, "wbview")
    r = viewer.post("/api/v1/reports/exports", json={"kind": "trend", "granularity": "week", "start": "2026-03-25",
                                                      "end": "2026-04-14"})
    assert r.status_code == 202, r.json
    e = r.json  # the test configuration runs jobs at once
    assert (e["state"], e["params"]["granularity"], e["params"]["unit_id"]) == ("done", "week", world.wb)
    assert e["title"].startswith("学习趋势 · 渭滨区") and e["filename"] == "学习趋势-渭滨区-2026-03-25-2026-04-14.xlsx"
    rows = xlsx_rows(viewer.get(e["download_url"]).data)["趋势"][1:]
    d = viewer.get(f"/api/v1/reports/trends?{PERIOD}&granularity=week").json
    assert [[_plain(v) for v in row] for row in rows] == _json_rows(d)
    assert viewer.post("/api/v1/reports/exports", json={"kind": "trend", "unit_id": world.jt}).status_code == 404

# the page ------------------------------------------------------------------------------------

def test_the_trend_page(app, committed, world):
    org = logged_in(app, "org")
    html = org.get(f"/reports/trends?unit={world.city}&{PERIOD}&granularity=week").get_data(as_text=True)
    stat = dict(re.findall(r'data-stat="(\w+)">([\d,.-]+)<', html))
    assert stat == {"study_hours": "1.6", "learners": "4", "online_hours": "1.6", "credits": "18", "completions": "3"}
    assert html.count('class="chart chart-line"') == 3 and html.count('class="trend-line"') == 3
    assert html.count('class="trend-line dashed"') == 3 * 2  # the weeks cut by the period's ends
    assert "2026-03-30 – 2026-04-05" in html and "每周从周一开始" in html
    assert 'href="/api/v1/reports/trends?format=xlsx' in html and "granularity=week" in html
    daily = org.get(f"/reports/trends?unit={world.city}&{PERIOD}&granularity=year").get_data(as_text=True)
    assert daily.count("<tr") - 2 == 21  # an unknown granularity: automatic, by day
    assert "自动选择" in daily
    viewer = logged_in(app, "wbview")
    assert viewer.get(f"/reports/trends?unit={world.jt}").status_code == 404
    assert viewer.get(f"/reports/trends?cadre={world.jt_cadre}").status_code == 404


def test_cadres_cannot_open_the_trend_page(app, world):
    from tests.catalogue.conftest import _cadre_login

    assert _cadre_login(app, world.wb_cadre).get("/reports/trends").status_code == 403


def test_the_line_chart_thins_its_labels(app):
    with app.test_request_context():
        charts = app.jinja_env.get_template("reports/_charts.html").module
        year = [(f"{d:03d}", d % 7) for d in range(365)]
        svg = str(charts.line(year, "一年"))
        labels = re.findall(r'class="lab">', svg)
        assert 5 <= len(labels) <= 16 and svg.count("<title>") == 1 + 365 and "<circle" not in svg
        few = str(charts.line([("1月", 3), ("2月", 12.5), ("3月", 0)], "三个月", unit=" 小时"))
        assert few.count("<circle") == 3 and "2月: 12.5 小时" in few
        assert [t for t in re.findall(r'class="ytick">([^<]+)<', few)] == ["0", "5", "10", "15"]
        one = str(charts.line([("1月", 1), ("2月", 0)], "活跃学员", whole=True))
        assert re.findall(r'class="ytick">([^<]+)<', one) == ["0", "1"]  # no 0.2, 0.4 … for a count
        neg = str(charts.line([("a", -8), ("b", 15)], "学分"))
        assert re.findall(r'class="ytick">([^<]+)<', neg) == ["-10", "0", "10", "20"]
