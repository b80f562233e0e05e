"""The role-matrix world: the small city of tests/conftest.py with one object of every kind a
route can name, built once inside 渭滨区 (the tested staff's and cadre's own unit) and once inside
金台区 (another unit), plus the city-wide objects (courses, a draft, categories, questions).

Everything is made through the services (as the application makes it) and committed inside the
test's outer transaction, so it is rolled back at the end like any other test's rows."""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from datetime import date

import pytest
from werkzeug.datastructures import FileStorage

from app.accounts import roster
from app.accounts import services as accounts
from app.accounts.models import User
from app.accounts.passwords import hash_password
from app.catalogue import services as catalogue
from app.catalogue.models import CourseState, MediaJob, VideoAsset
from app.credits import applications, training
from app.credits.evidence import store_evidence
from app.exams import papers
from app.exams import services as exams
from app.exams.models import ExamSetting
from app.extensions import db
from app.learning import services as learning
from app.notifications import services as notifications
from app.reports import archive
from tests.conftest import PASSWORD, ApiClient
from tests.credits.conftest import clock, give  # noqa: F401  (the clock fixture, re-exported)
from tests.exams.conftest import add_bank, complete_course

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TXT = ("本文结合本单位基层党组织建设的实际,谈谈学习新时代党的建设总要求的体会。" * 8).encode()

# Strings that exist only in 金台区's objects: a 渭滨区 role must never be shown one of them.
JT_CANARIES = ("王芳", "金台论文标记", "金台申请标记", "金台培训标记")


@dataclass
class Side:
    """The objects of one unit (渭滨区 or 金台区), by the placeholder names the matrix uses."""
    unit: int
    cadre: int
    card: int
    entry: int
    application: int
    paper: int
    attempt: int
    watch: str        # watch-session key
    check: str        # study-check key
    notification: int
    training: int
    roster: str       # roster-import token
    export: int | None = None


@dataclass
class SecWorld:
    wb: Side
    jt: Side
    city: int
    course: int       # published, with an exam (bank of 13) and two lessons with video
    lesson: int       # first lesson of `course`
    asset: int
    papers_course: int  # published, no exam setting: takes papers
    draft: int        # a draft course (only the organisation department sees it)
    draft_lesson: int
    draft_asset: int
    category: int
    question: int
    media_job: int
    reviewer: int     # a staff account appointed paper reviewer (金台区's administrator)
    verify_code: str
    cadre_card_number: str
    static_file: str


def _fake_media(app, rel: str) -> None:
    """A few bytes where a transcoded video and its poster would be (serving only reads them)."""
    dest = os.path.join(app.config["MEDIA_ROOT"], rel)
    os.makedirs(dest, exist_ok=True)
    for name, data in (("video.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 1000),
                       ("poster.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 100)):
        with open(os.path.join(dest, name), "wb") as fh:
            fh.write(data)


def _asset(rel: str) -> VideoAsset:
    return VideoAsset(storage_dir=rel, duration=60.0, width=640, height=360, size_bytes=1100, origin="sample")


def _roster_csv(unit_name: str) -> bytes:
    # one row with a bad ID number: the import stages (previewable) but can never be applied
    return ("姓名,身份证号,单位,职级\n测试,610302199001011230," + unit_name + ",乡科级\n").encode()


def _client_with_csrf(app) -> ApiClient:
    """An anonymous client that holds a session CSRF token (taken from the login form), so that a
    refusal it meets is the login check's and not the CSRF check's."""
    c = ApiClient(app.test_client())
    html = c.get("/login").get_data(as_text=True)
    c.csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    return c


@pytest.fixture
def sec_world(app, world, clock) -> SecWorld:  # noqa: F811
    rel, draft_rel = "sec/clip", "sec/draft"
    _fake_media(app, rel)
    _fake_media(app, draft_rel)
    with app.test_request_context():
        get = lambda i: db.session.get(User, i)  # noqa: E731
        org, wbadmin, jtadmin = get(world.orgadmin), get(world.wb_admin), get(world.jt_admin)
        wb_cadre, jt_cadre = get(world.wb_cadre), get(world.jt_cadre)

        # --- city-wide: categories, courses, a draft, an exam bank, a media job ----------------
        cat = catalogue.create_category(org, code="politics", name="政治理论", kind="subject")

        def course(title, lessons, asset_rel):
            c = catalogue.create_course(org, catalogue.CourseInfo(
                title=title, category_id=cat.id, lecturer="赵建国", description="说明", class_hours=4, credits=10))
            for t in lessons:
                lesson = catalogue.add_lesson(org, c, t, "")
                lesson.video = _asset(asset_rel)
            db.session.flush()
            return c

        exam_course = course("新时代党的建设总要求", ["第一讲", "第二讲"], rel)
        papers_course = course("新能源汽车产业发展与政策", ["第一讲"], rel)
        catalogue.set_course_state(org, exam_course, CourseState.PUBLISHED)
        catalogue.set_course_state(org, papers_course, CourseState.PUBLISHED)
        draft = course("尚未发布的课程草稿", ["第一讲 草稿"], draft_rel)
        db.session.add(ExamSetting(course_id=exam_course.id, question_count=10, time_limit_minutes=30,
                                   pass_mark=60, attempts_per_day=3, attempts_total=5, papers_allowed=False))
        questions = add_bank(exam_course.id)
        lesson = exam_course.lessons[0]
        job = MediaJob(lesson_id=lesson.id, original_name="a.mp4", total_bytes=10, created_by_id=org.id)
        db.session.add(job)
        reviewer = papers.appoint_reviewer(org, jtadmin)

        # --- cards: 李明 logs in with his (password set, no change pending) ---------------------
        wb_issued = accounts.issue_card(wbadmin, wb_cadre)
        jt_issued = accounts.issue_card(jtadmin, jt_cadre)
        wb_cadre.password_hash = hash_password(PASSWORD)
        wb_cadre.must_change_password = False
        db.session.flush()

        def side(admin: User, cadre: User, unit_id: int, card_id: int, unit_name: str, tag: str) -> Side:
            complete_course(cadre.id, exam_course.id)
            attempt, _ = exams.start_attempt(cadre, exam_course.id)
            started = learning.start_session(cadre, lesson.id)
            check = learning._issue_check(started.session, learning.now())
            entry = give(cadre.id, 10, 2026)
            application = applications.apply(
                cadre, kind="award", level="second", title=f"{tag}申请标记", event_date=date(2026, 5, 10),
                evidence=store_evidence("证书.pdf", PDF))
            with papers.paper_upload(FileStorage(io.BytesIO(TXT), filename="论文.txt")) as stored:
                paper = papers.submit_paper(cadre, course_id=papers_course.id, title=f"{tag}论文标记", body="",
                                            stored=stored)
                db.session.flush()
            cls = training.record_training(
                admin, name=f"{tag}培训标记", organiser="市委党校", start_date=date(2026, 11, 2),
                end_date=date(2026, 11, 4), days=3, cadre_lines=cadre.cadre.id_number,
                evidence=store_evidence("结业证书.pdf", PDF))
            note = notifications.notify(cadre.id, f"{tag}通知")
            imp, _preview = roster.stage_import(admin, unit_id, "roster.csv", _roster_csv(unit_name))
            return Side(unit=unit_id, cadre=cadre.id, card=card_id, entry=entry.id, application=application.id,
                        paper=paper.id, attempt=attempt.id, watch=started.session.key, check=check.key,
                        notification=note.id, training=cls.id, roster=imp.token)

        wb = side(wbadmin, wb_cadre, world.wb, wb_issued.card.id, "渭滨区", "渭滨")
        jt = side(jtadmin, jt_cadre, world.jt, jt_issued.card.id, "金台区", "金台")
        cert = archive.issue_certificate(wbadmin, wb_cadre, 2026)
        code = archive.display_code(cert.code)
        number = wb_issued.card.number
        out = SecWorld(
            wb=wb, jt=jt, city=world.city, course=exam_course.id, lesson=lesson.id, asset=lesson.video_id,
            papers_course=papers_course.id, draft=draft.id, draft_lesson=draft.lessons[0].id,
            draft_asset=draft.lessons[0].video_id, category=cat.id, question=questions[0],
            media_job=job.id, reviewer=reviewer.user_id, verify_code=code, cadre_card_number=number,
            static_file=_a_static_file(app))
        db.session.commit()

    # exports are their requester's own: one by each unit's network administrator (the job runs
    # at once in the test configuration, so the file exists)
    for login, s in (("wbadmin", wb), ("jtadmin", jt)):
        c = ApiClient(app.test_client())
        assert c.login(login).status_code == 200
        r = c.post("/api/v1/reports/exports", json={"kind": "unit", "format": "csv"})
        assert r.status_code in (201, 202), r.get_data(as_text=True)
        s.export = r.json["id"]
    return out


def _a_static_file(app) -> str:
    for root, _dirs, files in os.walk(app.static_folder):
        for f in sorted(files):
            return os.path.relpath(os.path.join(root, f), app.static_folder)
    raise AssertionError("no static file")


def role_client(app, role: str, w: SecWorld) -> ApiClient:
    """A client for a role: anonymous (with a CSRF token), or logged in through the API."""
    if role == "anonymous":
        return _client_with_csrf(app)
    login = {"cadre": w.cadre_card_number, "netadmin": "wbadmin", "viewer": "wbview", "orgadmin": "org"}[role]
    c = ApiClient(app.test_client())
    r = c.login(login)
    assert r.status_code == 200 and not r.json["must_change_password"], r.get_data(as_text=True)
    return c

