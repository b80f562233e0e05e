"""The learning archive (学习档案) against numbers computed by hand on a small fixture: 李明 (乡科级,
渭滨区财政局) in 2027, with 2026's excess carried in; scope; the XLSX and CSV exports; the
verification code and the public /verify page.

The fixture, 2027 (requirement 60 for 乡科级):
  新时代党的建设总要求  completed 03-01 (4 学时); exam #1 fails (0), #2 passes (100): 10 credits
  新能源汽车产业发展与政策  completed 05-10 (4 学时); paper approved 05-20 with 88: 10 credits
  offline training 04-10…04-14, 5 days: 5 × 5 = 25 credits, 5 × 8 = 40 hours
  an article (独撰) approved: 5 credits; an award applied for, not yet decided (4, not counted)
  an award of 20 entered and reversed: 0
  earned 10 + 10 + 25 + 5 = 50, hours 4 + 4 + 40 = 48
  2026: 75 earned against 60 → 15 carried into 2027: total 65 ≥ 60, qualified only with the carry-over
  study 1800 + 1200 (March, 党建) + 600 (May, 汽车) = 3600 s; online 2400 + 900 = 3300 s; rows of
  2026-12-31 and 2028-01-01 fall outside the year.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timezone
from html import unescape
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.accounts.models import User
from app.audit.models import AuditEvent
from app.credits import services as credits
from app.credits import training
from app.credits.models import ApplicationKind, ApplicationState, CreditApplication, CreditKind
from app.credits.applications import decide
from app.errors import NotFound, PermissionDenied
from app.exams import papers
from app.exams import services as exams
from app.exams.models import ExamSetting
from app.extensions import db
from app.learning import services as learning
from app.learning.models import OnlineDay, StudyDay
from app.reports import archive
from app.reports.exports import BOM, ascii_fallback, content_disposition
from app.reports.models import ArchiveCertificate
from tests.catalogue.conftest import _cadre_login, catalogue, sample_files  # noqa: F401
from tests.conftest import ApiClient, make_id
from tests.credits.conftest import give
from tests.exams.conftest import add_bank, complete_course, right_answers, wrong_answers

YEAR = 2027
LI_MING_ID = make_id("610302", "19800101", "111")


class Clock:
    def __init__(self):
        self.t = datetime(YEAR, 11, 23, 2, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.t

    def at(self, m: int, d: int, hour_utc: int = 2) -> datetime:
        self.t = datetime(YEAR, m, d, hour_utc, 0, tzinfo=timezone.utc)
        return self.t


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(learning, "now", c)
    return c


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def section(html: str, element_id: str) -> str:
    m = re.search(rf'<(\w+)[^>]* id="{element_id}".*?</\1>', html, re.S)
    assert m, f"no #{element_id}"
    return m.group(0)


def staff(app, login) -> ApiClient:
    c = ApiClient(app.test_client())
    assert c.login(login).status_code == 200
    return c


@pytest.fixture
def fixture(app, world, catalogue, clock):  # noqa: F811
    """The year of 李明 described in the module's docstring (committed inside the test's transaction)."""
    with app.test_request_context():
        get = lambda i: db.session.get(User, i)  # noqa: E731
        org, admin, cadre = get(world.orgadmin), get(world.wb_admin), get(world.wb_cadre)
        party, car = catalogue.party, catalogue.car
        db.session.add(ExamSetting(course_id=party, question_count=10, time_limit_minutes=30, pass_mark=60,
                                   attempts_per_day=3, attempts_total=5))
        add_bank(party)
        # 2026: 75 against 60, so 15 carry into 2027
        give(cadre.id, 75, YEAR - 1)
        # the exam course
        complete_course(cadre.id, party, clock.at(3, 1))
        credits.on_course_completed(cadre.id, party, clock.t)
        clock.at(3, 2)
        first, _ = exams.start_attempt(cadre, party)
        exams.submit_attempt(cadre, first.id, wrong_answers(first))
        second, _ = exams.start_attempt(cadre, party)
        exams.submit_attempt(cadre, second.id, right_answers(second))
        assert (first.score, first.passed, second.score, second.passed) == (0, False, 100, True)
        # the paper course
        complete_course(cadre.id, car, clock.at(5, 10))
        credits.on_course_completed(cadre.id, car, clock.t)
        paper = papers.submit_paper(cadre, course_id=car, title="新能源汽车产业链调研报告",
                                    body="本市新能源汽车产业链的现状、问题与对策。" * 20, stored=None)
        clock.at(5, 20)
        papers.review_paper(org, paper.id, approve=True, score=88)
        # offline training, recorded later in the year
        clock.at(11, 23)
        training.record_training(admin, name="乡科级干部任职培训班", organiser="市委党校", start_date=date(YEAR, 4, 10),
                                 end_date=date(YEAR, 4, 14), days=5, cadre_lines=LI_MING_ID)
        # applications: one approved, one waiting
        article = CreditApplication(user_id=cadre.id, kind=ApplicationKind.ARTICLE, level="sole", title="论基层治理",
                                    event_date=date(YEAR, 6, 1), amount=5, state=ApplicationState.SUBMITTED)
        waiting = CreditApplication(user_id=cadre.id, kind=ApplicationKind.AWARD, level="second", title="优秀共产党员",
                                    event_date=date(YEAR, 7, 1), amount=4, state=ApplicationState.SUBMITTED)
        db.session.add_all([article, waiting])
        db.session.flush()
        decide(org, article.id, approve=True)
        # an entry made by mistake and reversed
        wrong = give(cadre.id, 20, YEAR, kind=CreditKind.AWARD)
        credits.reverse_entry(org, wrong.id, reason="重复登记")
        # study time and time online by day
        for day, course, seconds in ((date(YEAR, 3, 1), party, 1800), (date(YEAR, 3, 2), party, 1200),
                                     (date(YEAR, 5, 10), car, 600), (date(YEAR - 1, 12, 31), party, 5000),
                                     (date(YEAR + 1, 1, 1), car, 700)):
            db.session.add(StudyDay(user_id=cadre.id, day=day, course_id=course, seconds=seconds))
        for day, seconds in ((date(YEAR, 3, 1), 2400), (date(YEAR, 5, 10), 900), (date(YEAR - 1, 12, 31), 6000)):
            db.session.add(OnlineDay(user_id=cadre.id, day=day, seconds=seconds))
        # 王芳 in 金台区 has a year of her own
        give(world.jt_cadre, 30, YEAR)
        db.session.add(StudyDay(user_id=world.jt_cadre, day=date(YEAR, 3, 1), course_id=party, seconds=999))
        db.session.commit()
    return world


def in_db(app, fn):
    with app.app_context():
        return fn()


def _archive(app, actor_id: int, user_id: int, year: int = YEAR) -> archive.Archive:
    return archive.person_archive(db.session.get(User, actor_id), db.session.get(User, user_id), year)


# --- the numbers ------------------------------------------------------------------------------------

def test_the_archive_equals_the_numbers_computed_by_hand(app, fixture):
    with app.test_request_context():
        a = _archive(app, fixture.wb_cadre, fixture.wb_cadre)
        r, t = a.result, a.totals
        # credits: 10 (exam) + 10 (paper) + 25 (training) + 5 (article) + 20 − 20 (reversed award)
        assert (r.earned, r.carried_in, r.total, r.requirement) == (50, 15, 65, 60)
        assert r.qualified and r.carried_out == 5 and r.hours == 4 + 4 + 40
        assert a.by_category == {"basic": 45, "additional": 0, "reward": 5, "adjustment": 0}
        assert a.by_kind["online_course"] == {"credits": 20, "hours": 8}
        assert a.by_kind["offline"] == {"credits": 25, "hours": 40}
        assert a.by_kind["article"] == {"credits": 5, "hours": 0}
        assert a.by_kind["award"] == {"credits": 0, "hours": 0}  # the reversed 20 counts nothing
        # courses, by the day they were completed
        assert [(c.title, c.completed_on, c.class_hours, c.credits, c.credits_via, c.best_score, c.study_seconds)
                for c in a.courses] == [
            ("新时代党的建设总要求", date(YEAR, 3, 1), 4, 10, "exam", 100, 3000.0),
            ("新能源汽车产业发展与政策", date(YEAR, 5, 10), 4, 10, "paper", None, 600.0)]
        assert [(e.number, e.score, e.passed, e.credits) for e in a.exams] == [(1, 0, False, 0), (2, 100, True, 10)]
        assert [(p.title, p.state, p.score, p.credits, p.versions, p.on) for p in a.papers] == [
            ("新能源汽车产业链调研报告", "approved", 88, 10, 1, date(YEAR, 5, 20))]
        assert [(x.name, x.days, x.credits, x.hours, x.reversed) for x in a.trainings] == [
            ("乡科级干部任职培训班", 5, 25, 40, False)]
        assert [(x.title, x.state, x.credits) for x in a.applications] == [
            ("论基层治理", "approved", 5), ("优秀共产党员", "submitted", 4)]
        # the ledger: 8 lines, the reversed award marked, its reversal negative
        assert len(a.entries) == 8 and sum(e.credits for e in a.entries) == r.earned
        award = [e for e in a.entries if e.kind == "award"]
        assert [(e.credits, e.reversed, e.reverses_id is not None) for e in award] == [
            (20, True, False), (-20, False, True)]
        # study time of the year only (not 2026-12-31, not 2028-01-01)
        months = {m.month: (m.study_seconds, m.online_seconds) for m in a.months}
        assert months[3] == (3000, 2400) and months[5] == (600, 900) and months[12] == (0, 0) and months[1] == (0, 0)
        assert (t.study_seconds, t.online_seconds, t.study_hours, t.online_hours) == (3600, 3300, 1.0, 0.92)
        assert (t.courses_completed, t.course_hours, t.exams_taken, t.exams_passed) == (2, 8, 2, 1)
        assert (t.papers, t.papers_approved, t.trainings, t.training_days) == (1, 1, 1, 5)
        assert (t.applications, t.applications_approved) == (2, 1)
        # the five-year cycle 2026–2030 so far: 75 + 50 credits, 48 hours
        c = a.assessment.cycle
        assert (c.first, c.last, c.credits, c.hours, c.status) == (2026, 2030, 125, 48, "in_progress")


def test_without_the_carry_over_the_year_would_be_short(app, fixture):
    """第十五条: 2026's excess counts into 2027; the previous year's archive shows what it carried out."""
    with app.test_request_context():
        before = _archive(app, fixture.wb_cadre, fixture.wb_cadre, YEAR - 1)
        assert (before.result.earned, before.result.carried_in, before.result.carried_out) == (75, 0, 15)
        assert before.courses == [] and before.exams == [] and before.totals.study_seconds == 5000
        a = _archive(app, fixture.wb_cadre, fixture.wb_cadre)
        assert a.result.earned < a.result.requirement <= a.result.earned + a.result.carried_in


def test_a_reversed_training_counts_nothing(app, fixture):
    with app.test_request_context():
        org = db.session.get(User, fixture.orgadmin)
        entry = credits.source_entry(fixture.wb_cadre, "offline_training",
                                     _archive(app, fixture.wb_cadre, fixture.wb_cadre).trainings[0].attendance_id)
        credits.reverse_entry(org, entry.id, reason="未实际参加")
        a = _archive(app, fixture.wb_cadre, fixture.wb_cadre)
        assert [(x.credits, x.hours, x.reversed) for x in a.trainings] == [(0, 0, True)]
        assert a.totals.training_days == 0
        assert (a.result.earned, a.result.total, a.result.qualified) == (25, 40, False)


# --- scope ------------------------------------------------------------------------------------------

def test_who_may_see_an_archive(app, fixture):
    with app.test_request_context():
        assert _archive(app, fixture.wb_viewer, fixture.wb_cadre).result.total == 65  # 渭滨区 holds 李明
        assert _archive(app, fixture.orgadmin, fixture.wb_cadre).result.total == 65
        for actor in (fixture.jt_admin, fixture.jt_cadre):  # 金台区's administrator, another cadre
            with pytest.raises(NotFound):
                _archive(app, actor, fixture.wb_cadre)
        with pytest.raises(NotFound):  # staff have no archive of their own
            _archive(app, fixture.wb_admin, fixture.wb_admin)


def test_the_api_is_scoped_in_every_format(app, fixture):
    url = f"/api/v1/reports/archive?user_id={fixture.wb_cadre}&year={YEAR}"
    jt = staff(app, "jtadmin")
    for fmt in ("json", "csv", "xlsx"):
        r = jt.get(f"{url}&format={fmt}")
        assert r.status_code == 404 and r.mimetype == "application/problem+json", fmt
        assert "李明" not in r.get_data(as_text=True)
    viewer = staff(app, "wbview")
    for fmt in ("json", "csv", "xlsx"):
        assert viewer.get(f"{url}&format={fmt}").status_code == 200, fmt
    # 渭滨区's viewer asks for 王芳 of 金台区: not found, in every format, and nothing of hers is sent
    other = f"/api/v1/reports/archive?user_id={fixture.jt_cadre}&year={YEAR}"
    for fmt in ("json", "csv", "xlsx"):
        r = viewer.get(f"{other}&format={fmt}")
        assert r.status_code == 404 and "王芳" not in r.get_data(as_text=True), fmt
    assert viewer.get(f"/archive/cadres/{fixture.jt_cadre}").status_code == 404
    cadre = _cadre_login(app, fixture.jt_cadre)  # 王芳 asks for 李明's archive
    assert cadre.get(url).status_code == 404
    assert cadre.get(f"/api/v1/reports/archive?year={YEAR}").json["user"]["name"] == "王芳"
    assert app.test_client().get(url).status_code == 401
    assert viewer.get(f"{url}&format=pdf").status_code == 400


def test_the_pages_are_scoped(app, fixture):
    assert staff(app, "jtadmin").get(f"/archive/cadres/{fixture.wb_cadre}").status_code == 404
    assert staff(app, "wbview").get(f"/archive/cadres/{fixture.wb_cadre}?year={YEAR}").status_code == 200
    cadre = _cadre_login(app, fixture.jt_cadre)
    assert cadre.get(f"/archive/cadres/{fixture.wb_cadre}").status_code == 403  # cadres have only their own
    assert "王芳" in cadre.get("/archive/").get_data(as_text=True)
    assert app.test_client().get("/archive/").status_code == 302  # to the login


# --- exports ----------------------------------------------------------------------------------------

def test_the_json_is_the_archive(app, fixture):
    body = staff(app, "wbview").get(f"/api/v1/reports/archive?user_id={fixture.wb_cadre}&year={YEAR}").json
    assert body["user"] == {"id": fixture.wb_cadre, "name": "李明"} and body["year"] == YEAR
    assert body["assessment"] | {} == {"requirement": 60, "earned": 50, "carried_in": 15, "total": 65, "missing": 0,
                                       "carried_out": 5, "qualified": True, "status": "qualified", "closed": False,
                                       "in_progress": True, "hours": 48}
    assert body["by_kind"]["offline"] == {"credits": 25, "hours": 40}
    assert body["totals"]["study_seconds"] == 3600 and body["totals"]["online_hours"] == 0.92
    assert [c["completed_on"] for c in body["courses"]] == [f"{YEAR}-03-01", f"{YEAR}-05-10"]
    assert len(body["entries"]) == 8 and len(body["months"]) == 12


def test_the_xlsx_opens_and_matches_the_json(app, fixture):
    c = staff(app, "wbview")
    url = f"/api/v1/reports/archive?user_id={fixture.wb_cadre}&year={YEAR}"
    body = c.get(url).json
    r = c.get(url + "&format=xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    disposition = r.headers["Content-Disposition"]
    assert disposition == (f'attachment; filename="archive-{fixture.wb_cadre}-{YEAR}.xlsx"; '
                           f"filename*=UTF-8''%E5%AD%A6%E4%B9%A0%E6%A1%A3%E6%A1%88-%E6%9D%8E%E6%98%8E-{YEAR}.xlsx")
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"学习档案-李明-{YEAR}.xlsx"
    wb = load_workbook(io.BytesIO(r.data))
    assert wb.sheetnames[:4] == ["概要", "学分构成", "课程学习", "考试"]
    summary = wb["概要"]
    assert summary.freeze_panes == "A2" and summary["A1"].font.b and summary["A1"].fill.fgColor.rgb.endswith("B71C1C")
    assert summary.column_dimensions["A"].width >= 10
    values = {row[0]: row[1] for row in summary.iter_rows(min_row=2, values_only=True)}
    a, t = body["assessment"], body["totals"]
    assert (values["年度学分要求"], values["本年获得学分"], values["上年结转学分"], values["合计学分"]) == (
        a["requirement"], a["earned"], a["carried_in"], a["total"])
    assert values["本年学时"] == a["hours"] and values["考核状态"] == "已达标"
    assert values["基本学分"] == body["by_category"]["basic"] and values["奖励学分"] == body["by_category"]["reward"]
    assert (values["完成课程(门)"], values["课程学时"], values["考试合格(次)"]) == (
        t["courses_completed"], t["course_hours"], t["exams_passed"])
    assert (values["学习时长(小时)"], values["在线时长(小时)"]) == (t["study_hours"], t["online_hours"])
    assert values["周期累计学分"] == body["cycle"]["credits"]
    kinds = {(row[1]): (row[2], row[3]) for row in wb["学分构成"].iter_rows(min_row=2, values_only=True)}
    assert kinds["脱产培训"] == (25, 40) and kinds["在线学习"] == (20, 8) and kinds[None] == (50, 48)
    courses = list(wb["课程学习"].iter_rows(min_row=2, values_only=True))
    assert [(row[0], row[1].date(), row[2], row[3], row[5]) for row in courses] == [
        (x["title"], date.fromisoformat(x["completed_on"]), x["class_hours"], x["credits"], x["best_score"])
        for x in body["courses"]]
    exams_ = list(wb["考试"].iter_rows(min_row=2, values_only=True))
    assert [(row[3], row[6]) for row in exams_] == [(x["score"], x["credits"]) for x in body["exams"]]
    ledger = list(wb["学分记录"].iter_rows(min_row=2, values_only=True))
    assert sum(row[4] for row in ledger) == a["earned"] and sum(1 for row in ledger if row[6] == "已撤销") == 1
    months = list(wb["学习时长"].iter_rows(min_row=2, values_only=True))
    assert months[2][1:] == (round(3000 / 3600, 2), round(2400 / 3600, 2)) and months[-1][1:] == (1.0, 0.92)


def test_the_csv_has_a_bom_and_the_same_numbers(app, fixture):
    c = _cadre_login(app, fixture.wb_cadre)
    r = c.get(f"/api/v1/reports/archive?year={YEAR}&format=csv")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert r.data.startswith(BOM.encode("utf-8"))
    assert "filename*=UTF-8''" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert rows[0] == ["概要"] and rows[1] == ["项目", "数值"]
    values = dict(row for row in rows[2:rows.index([])])
    assert (values["本年获得学分"], values["上年结转学分"], values["合计学分"]) == ("50", "15", "65")
    assert values["姓名"] == "李明" and "身份证" not in r.data.decode("utf-8-sig")


def test_export_helpers():
    assert ascii_fallback("学习档案-李明-2027.xlsx") == "2027.xlsx"
    assert content_disposition("a b.csv", "x.csv") == "attachment; filename=\"x.csv\"; filename*=UTF-8''a%20b.csv"
    from app.reports.exports import csv_text, xlsx_bytes

    wb = load_workbook(io.BytesIO(xlsx_bytes([("t", ["h"], [["=1+1"], ["+SUM(A1)"]])])))
    assert wb["t"]["A2"].value == "=1+1" and wb["t"]["A2"].data_type == "s"  # text, not a formula
    assert csv_text([("", ["h"], [["=1+1"], [3]])]).splitlines()[1:] == ["'=1+1", "3"]


# --- certificates and /verify ---------------------------------------------------------------------

def test_a_certificate_keeps_a_snapshot_and_verifies(app, fixture):
    with app.test_request_context():
        cadre = db.session.get(User, fixture.wb_cadre)
        cert = archive.issue_certificate(cadre, cadre, YEAR)
        assert re.fullmatch(r"[A-Z2-7]{16}", cert.code)
        assert cert.summary["total"] == 65 and cert.summary["carried_in"] == 15 and cert.summary["qualified"]
        shown = archive.display_code(cert.code)
        assert re.fullmatch(r"([A-Z2-7]{4}-){3}[A-Z2-7]{4}", shown)
        v = archive.verify(shown.lower())
        assert v is not None and v.masked_name == "李*" and v.unit == "渭滨区财政局" and v.year == YEAR
        assert v.summary["earned"] == 50 and "name" not in v.summary
        assert archive.verify("AAAA-AAAA-AAAA-AAAA") is None and archive.verify("nonsense") is None
        assert archive.verify(None) is None
        # a second code is another code; the first one keeps its snapshot after a later change
        other = archive.issue_certificate(db.session.get(User, fixture.wb_admin), cadre, YEAR)
        assert other.code != cert.code
        give(cadre.id, 7, YEAR)
        assert archive.verify(cert.code).summary["total"] == 65
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "archive.certificate")) == 2


def test_who_may_issue_a_certificate(app, fixture):
    with app.test_request_context():
        cadre = db.session.get(User, fixture.wb_cadre)
        with pytest.raises(PermissionDenied):  # a viewer reads only
            archive.issue_certificate(db.session.get(User, fixture.wb_viewer), cadre, YEAR)
        with pytest.raises(NotFound):
            archive.issue_certificate(db.session.get(User, fixture.jt_admin), cadre, YEAR)
        assert db.session.scalar(select(func.count()).select_from(ArchiveCertificate)) == 0


def test_the_verify_page_needs_no_login_and_shows_no_id_number(app, fixture):
    cadre = _cadre_login(app, fixture.wb_cadre)
    page = cadre.get(f"/archive/?year={YEAR}").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    r = cadre.post("/archive/certificate", data={"csrf_token": token, "year": YEAR})
    assert r.status_code == 302
    code = re.search(r"code=([A-Z2-7-]+)", r.headers["Location"]).group(1)
    shown = cadre.get(r.headers["Location"]).get_data(as_text=True)
    assert code in text(section(shown, "certificate")) and f'data-print-code="验证码 {code}"' in shown

    public = app.test_client()  # nobody logged in
    r = public.get(f"/verify/{code}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    body = text(section(html, "verified"))
    assert "验证通过" in body and "李*" in body and "渭滨区财政局" in body and f"{YEAR} 年度" in body
    assert "合计学分 65" in body and "上年结转学分 15" in body
    assert "李明" not in html and LI_MING_ID not in html and LI_MING_ID[:6] + "*" not in html
    assert "干部在线学习中心" in html
    r = public.get("/verify/ABCD-EFGH-IJKL-MNOP")
    assert r.status_code == 404 and "无效的验证码" in text(r.get_data(as_text=True))
    r = public.get(f"/verify/?code={code.lower().replace('-', ' ')}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/verify/{code}")


def test_a_viewer_cannot_issue_but_an_administrator_can(app, fixture):
    viewer = staff(app, "wbview")
    html = viewer.get(f"/archive/cadres/{fixture.wb_cadre}?year={YEAR}").get_data(as_text=True)
    assert f'action="/archive/cadres/{fixture.wb_cadre}/certificate"' not in html
    viewer_token = re.search(r'data-csrf="([^"]+)"', html).group(1)
    admin = staff(app, "wbadmin")
    html = admin.get(f"/archive/cadres/{fixture.wb_cadre}?year={YEAR}").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    r = admin.post(f"/archive/cadres/{fixture.wb_cadre}/certificate", data={"csrf_token": token, "year": YEAR})
    assert r.status_code == 302 and f"/archive/cadres/{fixture.wb_cadre}?year={YEAR}&code=" in r.headers["Location"]
    assert f'action="/archive/cadres/{fixture.wb_cadre}/certificate"' in html
    r = viewer.post(f"/archive/cadres/{fixture.wb_cadre}/certificate", data={"csrf_token": viewer_token, "year": YEAR})
    assert r.status_code == 403
    assert in_db(app, lambda: db.session.scalar(select(func.count()).select_from(ArchiveCertificate))) == 1


# --- the page ---------------------------------------------------------------------------------------

def test_the_page_shows_every_section_and_prints(app, fixture):
    cadre = _cadre_login(app, fixture.wb_cadre)
    r = cadre.get(f"/archive/?year={YEAR}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "<script>" not in html and " style=" not in html  # CSP: no inline script or style
    assert "js/reports.js" in html and "data-archive-print" in html
    assess = text(section(html, "assessment"))
    assert "65 / 60" in assess and "上年结转 15" in assess and "本年获得 50" in assess and "已达标" in assess
    assert "脱产培训 25 40" in text(section(html, "by-kind"))
    courses = text(section(html, "courses"))
    assert "完成 2 门,8 学时" in courses and "新能源汽车产业发展与政策" in courses and "论文" in courses
    assert "第 2 次" in text(section(html, "exams")) and "88" in text(section(html, "papers"))
    assert "乡科级干部任职培训班" in text(section(html, "trainings"))
    apps = text(section(html, "applications"))
    assert "论基层治理" in apps and "待单位审核" in apps
    assert "全年学习 1.0 小时,在线 0.9 小时" in text(section(html, "study-time"))
    ledger = section(html, "ledger")
    assert "共 8 条" in text(ledger) and 'class=" reversed"' in ledger
    assert "format=xlsx" in html and "format=csv" in html


def test_the_credit_and_cadre_pages_link_the_archive(app, fixture):
    cadre = _cadre_login(app, fixture.wb_cadre)
    assert 'href="/archive/?year=' in cadre.get("/credits/").get_data(as_text=True)
    viewer = staff(app, "wbview")
    html = viewer.get(f"/admin/cadres/{fixture.wb_cadre}").get_data(as_text=True)
    assert f'href="/archive/cadres/{fixture.wb_cadre}"' in html


def test_person_archive_is_in_the_openapi_document(app):
    spec = app.test_client().get("/api/v1/openapi.json").json
    op = spec["paths"]["/api/v1/reports/archive"]["get"]
    assert op["operationId"] == "personArchive"
    assert set(op["responses"]["200"]["content"]) == {
        "application/json", "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    assert {p["name"] for p in op["parameters"]} >= {"user_id", "year", "format"}
