"""unitReport in JSON, CSV and XLSX (the files carry the JSON's numbers), scope in every format, and
the background exports: the year-end assessment report as one file, progress, ownership, failure,
retries and expiry. The fixture is test_unit_report's `city`: 10 cadres, 4 took part, 465 credits
in the period, 7 qualified; 渭滨区 has 9 cadres of whom 3 are unqualified (flagged)."""
from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest

from app.accounts.models import User
from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db
from app.reports import export_jobs
from app.reports.models import ReportExport
from tests.credits.conftest import clock, give, unit_of_nine  # noqa: F401
from tests.reports.test_unit_report import fill_city
from openpyxl import load_workbook

from tests.reports.helpers import logged_in, xlsx_rows

PERIOD = "start=2026-01-01&end=2026-11-23"


@pytest.fixture
def committed(app, world, unit_of_nine, clock):  # noqa: F811
    """test_unit_report's city, committed, with no request context left open (the test client's
    requests by different people must not share flask.g)."""
    with app.test_request_context():
        ids = fill_city(world, unit_of_nine)
        db.session.commit()
    return ids




def test_unit_report_json_by_hand(app, committed, world):
    d = logged_in(app, "org").get(f"/api/v1/reports/units?unit_id={world.city}&{PERIOD}").json
    f = d["figures"]
    assert (f["cadres"], f["participants"], f["participation_pct"], f["credits"]) == (10, 4, 40.0, 465)
    assert (f["qualified"], f["unqualified"], f["qualified_pct"], f["flagged"]) == (7, 3, 70.0, False)
    assert f["study_hours"] == round((3600 + 1200 + 600 + 600 + 900) / 3600, 1)
    assert [(s["unit"]["name"], s["cadres"], s["qualified_pct"], s["flagged"]) for s in d["sub_units"]] == [
        ("金台区", 1, 100.0, False), ("渭滨区", 9, 66.7, True)]
    assert sorted(u["name"] for u in d["unqualified"]) == ["学员4", "学员5", "学员7"]
    # one has 30 of 60; one had 60 reversed; one earned only in 2025
    assert sorted(u["missing"] for u in d["unqualified"]) == [30, 60, 60]


def test_the_xlsx_and_csv_carry_the_json(app, committed, world):
    org = logged_in(app, "org")
    url = f"/api/v1/reports/units?unit_id={world.city}&{PERIOD}"
    d = org.get(url).json
    r = org.get(url + "&format=xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''%E5%8D%95%E4%BD%8D" in r.headers["Content-Disposition"]  # 单位学习情况-…
    wb = load_workbook(io.BytesIO(r.data))
    ws = wb["概况"]
    assert ws.freeze_panes == "A2" and ws["A1"].font.bold
    header, row = [c.value for c in ws[1]], [c.value for c in ws[2]]
    got = dict(zip(header, row, strict=True))
    f = d["figures"]
    assert (got["干部"], got["参学人数"], got["参学率(%)"], got["期间学分"], got["合格率(%)"]) == (
        f["cadres"], f["participants"], f["participation_pct"], f["credits"], f["qualified_pct"])
    assert got["学习时长(小时)"] == f["study_hours"] and got["不合格达三分之一"] == "否"
    subs = xlsx_rows(r.data)["下级单位"][1:]
    assert [(s[1], s[2], s[10]) for s in subs] == [(s["unit"]["name"], s["cadres"], s["qualified_pct"])
                                                   for s in d["sub_units"]]
    hist = xlsx_rows(r.data)["学分分布"][1:]
    assert [tuple(h) for h in hist] == [(b["credits"], b["cadres"]) for b in d["histogram"]]
    names = sorted(u[0] for u in xlsx_rows(r.data)["不合格名单"][1:])
    assert names == sorted(u["name"] for u in d["unqualified"])
    c = org.get(url + "&format=csv")
    text = c.data.decode("utf-8")
    assert text.startswith("\ufeff")
    import csv

    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["概况"] and rows[1][:4] == ["单位", "期间", "考核年度", "干部姓名"]
    summary = dict(zip(rows[1], rows[2], strict=True))
    assert (summary["干部"], summary["期间学分"], summary["合格率(%)"]) == ("10", "465", "70.0")
    titles = [r[0] for i, r in enumerate(rows) if len(r) == 1 and (i == 0 or rows[i - 1] == [])]
    assert titles == ["概况", "下级单位", "学分分布", "不合格名单"]


def test_scope_in_every_format(app, committed, world):
    viewer = logged_in(app, "wbview")
    for fmt in ("json", "csv", "xlsx"):
        assert viewer.get(f"/api/v1/reports/units?unit_id={world.city}&format={fmt}").status_code == 404
        assert viewer.get(f"/api/v1/reports/units?user_id={world.jt_cadre}&format={fmt}").status_code == 404
    own = viewer.get(f"/api/v1/reports/units?{PERIOD}&format=xlsx")  # their own district by default
    sheets = xlsx_rows(own.data)
    flat = " ".join(str(v) for rows in sheets.values() for row in rows for v in row)
    assert "渭滨区" in flat and "金台区" not in flat and "王芳" not in flat
    assert dict(zip(sheets["概况"][0], sheets["概况"][1], strict=True))["干部"] == 9


def test_the_cadre_filter_and_a_bad_period(app, committed, world):
    org = logged_in(app, "org")
    one = committed[0]
    f = org.get(f"/api/v1/reports/units?user_id={one}&{PERIOD}").json["figures"]
    assert (f["cadres"], f["participants"], f["credits"], f["qualified"]) == (1, 1, 60, 1)
    r = org.get("/api/v1/reports/units?start=2026-05-01&end=2026-04-01")
    assert r.status_code == 400 and "结束日期" in r.json["detail"]
    r = org.get("/api/v1/reports/units?start=2020-01-01&end=2026-04-01")
    assert r.status_code == 400


def test_the_year_end_report_is_one_file_built_in_the_background(app, committed, world):
    viewer = logged_in(app, "wbview")
    r = viewer.post("/api/v1/reports/exports", json={"kind": "year_end", "year": 2026})
    assert r.status_code == 202, r.json
    e = r.json  # the test configuration runs jobs at once: the export is finished
    assert (e["state"], e["progress"], e["format"]) == ("done", 100, "xlsx")
    assert e["title"].startswith("年度学分考核报表 · 渭滨区 · 2026")
    got = viewer.get(e["download_url"])
    assert got.status_code == 200 and got.headers["Cache-Control"] == "no-store"
    assert "filename*=UTF-8''" in got.headers["Content-Disposition"]
    sheets = xlsx_rows(got.data)
    assert list(sheets) == ["概况", "各单位", "考核名单", "不合格名单"]
    summary = {row[0]: row[1] for row in sheets["概况"][1:]}
    assert (summary["干部"], summary["合格"], summary["不合格"], summary["合格率(%)"]) == (9, 6, 3, 66.7)
    assert summary["不合格达三分之一"] == "是"
    units = {row[0]: row[2:] for row in sheets["各单位"][1:]}
    assert units["渭滨区"] == [9, 6, 3, 66.7, "是"] and units["渭滨区财政局"] == [9, 6, 3, 66.7, "是"]
    people = sheets["考核名单"]
    assert len(people) == 1 + 9 and "王芳" not in {p[1] for p in people}
    by_name = {p[1]: dict(zip(people[0], p, strict=True)) for p in people[1:]}
    thirty = next(p for p in by_name.values() if p["本年获得"] == 30)
    assert (thirty["还差"], thirty["考核结果"], thirty["计入合计"]) == (30, "不合格", 30)
    seventy = next(p for p in by_name.values() if p["本年获得"] == 70)
    assert (seventy["可结转下年"], seventy["考核结果"]) == (10, "合格")
    assert sorted(p[1] for p in sheets["不合格名单"][1:]) == ["学员4", "学员5", "学员7"]
    with app.app_context():
        ev = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "reports.export"))
        assert ev is not None and ev.actor_id == world.wb_viewer and ev.unit_path is not None


def test_an_export_is_its_owners_only(app, committed, world):
    viewer = logged_in(app, "wbview")
    e = viewer.post("/api/v1/reports/exports", json={"kind": "unit", "format": "csv", "start": "2026-01-01",
                                                      "end": "2026-11-23"}).json
    assert e["state"] == "done"
    body = viewer.get(e["download_url"]).data.decode("utf-8")
    assert body.startswith("\ufeff") and "渭滨区" in body and "金台区" not in body
    other = logged_in(app, "org")
    assert other.get(f"/api/v1/reports/exports/{e['id']}").status_code == 404
    assert other.get(f"/api/v1/reports/exports/{e['id']}/file").status_code == 404
    assert other.get(f"/reports/exports/{e['id']}/file").status_code == 404
    assert [x["id"] for x in viewer.get("/api/v1/reports/exports").json] == [e["id"]]
    assert other.get("/api/v1/reports/exports").json == []


def test_bad_requests_change_nothing(app, committed, world):
    viewer = logged_in(app, "wbview")
    assert viewer.post("/api/v1/reports/exports", json={"kind": "everything"}).status_code == 400
    assert viewer.post("/api/v1/reports/exports", json={"kind": "unit", "format": "pdf"}).status_code == 400
    r = viewer.post("/api/v1/reports/exports", json={"kind": "year_end", "unit_id": world.city})
    assert r.status_code == 404
    r = viewer.post("/api/v1/reports/exports", json={"kind": "year_end", "year": 2099})
    assert r.status_code == 400 and r.json["field"] == "year"
    from tests.catalogue.conftest import _cadre_login

    cadre = _cadre_login(app, world.wb_cadre)
    assert cadre.get("/reports/exports").status_code == 403
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(ReportExport.id))) == 0


def test_at_most_three_running_at_once(app, committed, world):
    with app.app_context():
        for _ in range(3):
            db.session.add(ReportExport(user_id=world.wb_viewer, kind="unit", fmt="xlsx", params={}, title="t",
                                        state="running", progress=10))
        db.session.commit()
    r = logged_in(app, "wbview").post("/api/v1/reports/exports", json={"kind": "unit"})
    assert r.status_code == 422 and r.json["code"] == "too_many_exports"


def test_a_failure_is_recorded_and_a_retried_job_does_nothing(app, committed, world):
    with app.test_request_context():
        viewer = db.session.get(User, world.wb_viewer)
        e = ReportExport(user_id=viewer.id, kind="year_end", fmt="xlsx", params={"unit_id": world.jt, "year": 2026},
                         title="金台区", state="queued")  # stored params now outside the scope (e.g. moved)
        db.session.add(e)
        db.session.commit()
        assert export_jobs.run_export(e.id) == "failed"
        e = db.session.get(ReportExport, e.id)
        assert e.error == "单位不存在" and not os.path.exists(export_jobs.export_path(e))
        ok = ReportExport(user_id=viewer.id, kind="unit", fmt="xlsx", params={"unit_id": world.wb}, title="渭滨区",
                          state="queued")
        db.session.add(ok)
        db.session.commit()
        assert export_jobs.run_export(ok.id) == "done"
        first = os.path.getmtime(export_jobs.export_path(ok))
        assert export_jobs.run_export(ok.id) == "done"  # a retry finds it taken: nothing is rebuilt
        assert os.path.getmtime(export_jobs.export_path(ok)) == first
        # after a week the file goes; the row stays, marked expired
        assert export_jobs.expire_exports(now=utcnow() + timedelta(days=8)) == 2
        db.session.commit()
        assert not os.path.exists(export_jobs.export_path(ok))
        assert db.session.get(ReportExport, ok.id).state == "expired"


def test_the_pages(app, committed, world):
    viewer = logged_in(app, "wbview")
    html = viewer.get(f"/reports/units?{PERIOD}").get_data(as_text=True)
    assert "年度学分考核报表" in html and 'name="kind" value="year_end"' in html
    assert "/api/v1/reports/units?" in html and "format=xlsx" in html
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    r = viewer.c.post("/reports/exports", data={"csrf_token": token, "kind": "year_end", "year": "2026",
                                                "unit": str(world.wb), "format": "xlsx"})
    assert r.status_code == 302 and "/reports/exports" in r.headers["Location"]
    page = viewer.get("/reports/exports").get_data(as_text=True)
    assert "年度学分考核报表 · 渭滨区 · 2026" in page and "已完成" in page
    with app.app_context():
        e = db.session.scalar(db.select(ReportExport))
    got = viewer.get(f"/reports/exports/{e.id}/file")
    assert got.status_code == 200 and xlsx_rows(got.data)["概况"][5] == ["合格", 6]


def test_a_course_narrows_the_credits_too(app, committed, world):
    from datetime import date

    from app.credits import services as credits
    from app.credits.models import CreditKind
    from tests.reports.test_unit_report import _any_course

    with app.test_request_context():
        course_id = _any_course()
        credits.award(committed[0], kind=CreditKind.ONLINE_COURSE, credits=10, hours=3, source_type="course_credits",
                      source_id=course_id, title="课程", earned_on=date(2026, 6, 2))
        db.session.commit()
    org = logged_in(app, "org")
    whole = org.get(f"/api/v1/reports/units?unit_id={world.city}&{PERIOD}").json
    one = org.get(f"/api/v1/reports/units?unit_id={world.city}&course_id={course_id}&{PERIOD}").json
    assert whole["figures"]["credits"] == 465 + 10
    assert one["figures"]["credits"] == 10 and one["figures"]["participants"] == 4  # the test's credits are no course's
    assert one["course"]["id"] == course_id
    trend = org.get(f"/api/v1/reports/trends?unit_id={world.city}&course_id={course_id}&{PERIOD}").json
    assert trend["totals"]["credits"] == 10  # the two reports agree


def test_hostile_filters_are_clear_errors(app, committed, world):
    org = logged_in(app, "org")
    for url in ("/api/v1/reports/courses?start=0001-01-01&end=0001-01-05", "/api/v1/reports/trends?start=9999-12-01",
                "/api/v1/reports/units?end=9999-12-31"):
        r = org.get(url)
        assert r.status_code == 400 and "日期应在" in r.json["detail"], url
    for path in ("/reports/units", "/reports/courses", "/reports/trends"):
        assert org.get(path + "?start=0001-01-01&end=9999-12-31").status_code == 200  # the default period instead
        assert org.get(path + "?unit=99999999999999999999").status_code == 404
    r = org.get("/api/v1/reports/units?unit_id=2147483648")
    assert r.status_code in (400, 404) and r.is_json
    html = org.get("/reports/units").get_data(as_text=True)
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    r = org.c.post("/reports/exports", data={"csrf_token": token, "kind": "unit", "unit": "99999999999999999999"})
    assert r.status_code == 302  # back with the message 筛选条件无效
    assert org.post("/api/v1/reports/exports", json={"kind": "trend", "granularity": "hour"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(ReportExport.id))) == 0


def test_stuck_exports_do_not_lock_anyone_out(app, committed, world):
    with app.app_context():
        old = utcnow() - timedelta(hours=7)
        for _ in range(3):
            db.session.add(ReportExport(user_id=world.wb_viewer, kind="unit", fmt="xlsx", params={}, title="t",
                                        state="running", progress=10, created_at=old))
        db.session.commit()
    assert logged_in(app, "wbview").post("/api/v1/reports/exports", json={"kind": "unit"}).status_code == 202
    with app.test_request_context():
        export_jobs.expire_exports()
        db.session.commit()
        states = db.session.scalars(db.select(ReportExport.state).order_by(ReportExport.id)).all()
        assert states == ["failed", "failed", "failed", "done"]


def test_a_unit_name_with_braces_and_a_lost_scope(app, committed, world):
    from app.accounts.models import Unit

    with app.app_context():
        db.session.get(Unit, world.wb).name = "渭滨区{一}"
        db.session.commit()
    viewer = logged_in(app, "wbview")
    e = viewer.post("/api/v1/reports/exports", json={"kind": "unit", "format": "xlsx"}).json
    assert e["state"] == "done" and e["filename"].startswith("单位学习情况-渭滨区{一}-")
    assert viewer.get(e["download_url"]).status_code == 200
    with app.app_context():  # the viewer moves to 金台区: the file of 渭滨区 is no longer theirs to read
        db.session.get(User, world.wb_viewer).unit_id = world.jt
        db.session.commit()
    assert viewer.get(e["download_url"]).status_code == 404


def test_the_year_end_report_tells_its_progress_while_it_is_written(app, committed, world):
    from app.accounts.models import Unit
    from app.reports.exports import xlsx_bytes
    from app.reports.year_end import year_end_sheets

    from app.reports import year_end

    seen = []
    every = year_end.counting.__defaults__
    year_end.counting.__defaults__ = (1,)  # tell every row of this small unit
    try:
        with app.test_request_context():
            org = db.session.get(User, world.orgadmin)
            sheets = year_end_sheets(org, db.session.get(Unit, world.city), 2026,
                                     progress=lambda p, stage: seen.append((p, stage)))
            assert [p for p, _ in seen] == [5, 50]  # the rows come later, as the file is written
            xlsx_bytes(sheets)
    finally:
        year_end.counting.__defaults__ = every
    stages = [stage for _, stage in seen]
    assert "写入考核名单" in stages and "写入不合格名单" in stages
    percents = [p for p, _ in seen]
    assert percents == sorted(percents) and 55 <= percents[2] and percents[-1] == 95
