"""Every role, end to end, in Chromium: one connected story (issue 8).

1. A network administrator (wb_admin) opens a section under 渭滨区区财政局, registers a new cadre
   in it, issues a study card and prints the card sheet.
2. The cadre logs in with the card in a browser of their own, must change the password, finds a
   course through the search box on the home page, watches both lessons (answering the
   still-studying checks) until the course is completed, passes its exam and applies for a
   reward credit (表彰奖励) with a PDF certificate.
3. The administrator reports the card lost: the cadre's open session dies.
4. The administrator reissues the card: the old number is refused with the reason, the new one
   logs in (a new initial password, changed at once) and the history is all there.
5. The district's department viewer (wb_viewer) opens the unit report for the new section, sees
   its numbers and exports them as XLSX from the page, and the year-end report in the background.

The pages are checked against the live server's database. Watching 80-second lessons would take
minutes, so the cadre studies a copy of a real course package whose two sample videos last 5 s
(imported into the live server by the fixture below). Screenshots go to test-artifacts/5x-*.png."""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from app.accounts.idnumber import check_digit
from tests.e2e.conftest import ARTIFACTS, ROOT, shot
from tests.e2e.test_cards_journey import login
from tests.e2e.test_catalogue_journey import wait_until
from tests.e2e.test_exam_journey import ANSWERS, answer, run, saved
from tests.e2e.test_learning_journey import answer_check, modal_open

pytestmark = pytest.mark.e2e

COURSE_CODE = "digital-government-data-security"
COURSE = "数字政府建设与政务数据安全"
COURSE_CREDITS = 9
LESSON_SECONDS = 5
DISTRICT_BUREAU = "渭滨区区财政局"
SECTION = "预算绩效股"
CADRE = "欧阳明远"
ID_FIRST17 = "61030219880615042"
AWARD = "全市干部学习心得评选二等奖"
AWARD_CREDITS = 4  # 表彰奖励 二等奖 under the default rules
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


@pytest.fixture(scope="module")
def short_course(live_server, tmp_path_factory):
    """A copy of a real course package (its questions included) with 5-second sample videos,
    imported into the live server's database and search index."""
    packages = tmp_path_factory.mktemp("short-course")
    for name in ("categories.toml", "schema"):
        src = ROOT / "courses" / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, packages / name)
    shutil.copytree(ROOT / "courses" / COURSE_CODE, packages / COURSE_CODE)
    toml = packages / COURSE_CODE / "course.toml"
    text, n = re.subn(r"sample_video_seconds = \d+", f"sample_video_seconds = {LESSON_SECONDS}",
                      toml.read_text(encoding="utf-8"))
    assert n == 2
    toml.write_text(text, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "flask", "courses", "import", str(packages)], cwd=ROOT,
                   env=live_server["env"], check=True, capture_output=True)
    return COURSE


def one(db: str, sql: str, *args):
    with closing(sqlite3.connect(db, timeout=10)) as con:
        return con.execute(sql, args).fetchone()


def rows(db: str, sql: str, *args) -> list:
    with closing(sqlite3.connect(db, timeout=10)) as con:
        return con.execute(sql, args).fetchall()


@pytest.fixture
def new_page(browser):
    """A page in a browser context of its own (one per person), closed after the test; page
    errors are collected in `new_page.errors`."""
    contexts = []

    def make():
        ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", accept_downloads=True)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: make.errors.append(f"{page.url}: {e}"))
        return page

    make.errors = []
    yield make
    for ctx in contexts:
        ctx.close()


def change_password(page, old: str, new: str) -> None:
    """The forced first-login password change."""
    assert page.url.endswith("/password"), page.url
    assert "修改密码" in page.locator("h1").inner_text()
    page.fill("input[name=old_password]", old)
    page.fill("input[name=new_password]", new)
    page.fill("input[name=confirm]", new)
    page.click("button[type=submit]")
    assert "密码已修改" in page.locator(".flash").inner_text()


def card_sheet(page) -> tuple[str, str]:
    """The card number and one-time password printed on the sheet the page shows."""
    assert page.locator(".pcard").count() == 1
    number = page.locator(".pcard-row strong.mono").first.inner_text()
    password = page.locator(".pcard .pw").inner_text()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", number), number
    assert len(password) >= 8
    assert page.locator(".pcard-name").inner_text() == CADRE
    assert page.locator(".pcard-unit").inner_text() == f"渭滨区 · {DISTRICT_BUREAU} · {SECTION}"
    return number, password


def watch_lesson(page, db: str, picture: str | None = None) -> int:
    """Play the open lesson to its end, answering the still-studying checks; the number answered.
    `picture`: the name of a screenshot of the first check."""
    box, video = page.locator("#tracked-player"), page.locator("video")
    wait_until(box, "b => b.dataset.trackState === 'active'")
    wait_until(video, "v => v.readyState >= 1")
    assert video.evaluate("v => v.duration") == pytest.approx(LESSON_SECONDS, abs=0.5)
    video.evaluate("v => { v.muted = true; return v.play(); }")
    done, checks, end = page.locator("[data-lesson-done]"), 0, time.time() + 45
    while done.is_hidden():
        assert time.time() < end, "the lesson was not completed"
        if modal_open(page):
            if picture and checks == 0:  # the viewport: the dialog's backdrop covers the window
                wait_until(page.locator("#study-check img.check-image"), "i => i.complete && i.naturalWidth > 0")
                assert "请确认您仍在学习" in page.locator("#study-check").inner_text()
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"{picture}.png"))
            answer_check(page, db)
            checks += 1
        time.sleep(0.2)
    assert int(page.locator("[data-lesson-pct]").inner_text()) >= 95  # done at 95 % (LEARNING_COMPLETE_RATIO)
    return checks


def test_each_role_end_to_end(live_server, new_page, short_course, tmp_path):
    base, db, demo_pw = live_server["url"], live_server["db"], live_server["password"]

    # --- 1. the network administrator: a new section, a new cadre, a card, the card sheet ------
    admin = new_page()
    login(admin, base, "wb_admin", demo_pw)
    admin.click(".mainnav >> text=单位")
    bureau_id = one(db, "SELECT id FROM units WHERE name = ?", DISTRICT_BUREAU)[0]
    admin.select_option("select[name=parent_id]", str(bureau_id))
    admin.fill("input[name=name]", SECTION)
    admin.click("button:has-text('新建')")
    assert f"已新建单位 {SECTION}" in admin.locator(".flash").inner_text()
    unit_id, parent_id = one(db, "SELECT id, parent_id FROM units WHERE name = ?", SECTION)
    assert parent_id == bureau_id

    admin.click(".mainnav >> text=学员与学习卡")
    admin.click("text=登记学员")
    id_number = ID_FIRST17 + check_digit(ID_FIRST17)
    admin.fill("input[name=name]", CADRE)
    admin.fill("input[name=id_number]", id_number)
    admin.select_option("select[name=unit_id]", str(unit_id))
    admin.select_option("select[name=rank]", "township")
    admin.fill("input[name=position]", "科员")
    admin.fill("input[name=phone]", "13912345678")
    admin.click("button[type=submit]")
    assert f"已登记学员 {CADRE}" in admin.locator(".flash").inner_text()
    cadre_page_url = admin.url
    user_id = int(re.search(r"/admin/cadres/(\d+)$", cadre_page_url).group(1))
    assert one(db, "SELECT u.name, u.role, u.unit_id, c.rank FROM users u JOIN cadres c ON c.user_id = u.id "
                   "WHERE u.id = ?", user_id) == (CADRE, "cadre", unit_id, "township")
    assert id_number not in admin.content()  # masked for the administrator
    shot(admin, "50-admin-cadre-registered")

    admin.click("form[action$='/cards'] button:has-text('发卡')")
    assert admin.locator("h1").inner_text() == "学习卡(发卡)"
    number, initial = card_sheet(admin)
    digits = number.replace(" ", "")
    assert one(db, "SELECT user_id, state FROM study_cards WHERE number = ?", digits) == (user_id, "active")
    admin.emulate_media(media="print")
    assert admin.locator(".page-head").is_hidden()  # the sheet prints without the buttons
    shot(admin, "51-admin-card-sheet")
    admin.emulate_media(media="screen")

    # --- 2. the cadre: first login, search, study, exam, reward credit application ------------
    cadre = new_page()
    login(cadre, base, number, initial)
    change_password(cadre, initial, "Journey2026ok")
    assert number in cadre.locator(".studycard").inner_text()
    assert re.fullmatch(r"0 / \d+ 学分", cadre.locator(".bignum").inner_text())  # nothing earned yet
    cadre.fill("input[name=q]", "数字政府")
    cadre.keyboard.press("Enter")
    cadre.wait_for_url(re.compile(r"/courses/search\?q="))
    hit = cadre.locator(".hits .hit h3 a", has_text=COURSE)
    assert hit.count() == 1 and hit.locator("mark", has_text="数字政府").count() == 1
    shot(cadre, "52-cadre-search")
    hit.click()
    course_id = int(re.search(r"/courses/(\d+)$", cadre.url).group(1))
    assert "学完本课程全部课时后才能参加考试" in cadre.locator("#exam-panel").inner_text()
    cadre.click("a:has-text('开始学习')")
    shot(cadre, "53-cadre-lesson")
    checks = watch_lesson(cadre, db, picture="54-cadre-study-check")
    cadre.click("a:has-text('下一课时')")
    checks += watch_lesson(cadre, db)
    assert checks >= 2  # one every 3 s of credited play
    complete = cadre.locator("[data-course-complete]")
    wait_until(complete, "e => !e.hidden")
    line = cadre.locator("[data-course-line]").inner_text()
    assert re.fullmatch(r"课程进度 (9[5-9]|100)% · 已完成 2/2 课时", line), line
    shot(cadre, "55-cadre-course-completed")
    done_at, lessons_done = one(db, "SELECT completed_at, lessons_completed FROM course_progress "
                                    "WHERE user_id = ? AND course_id = ?", user_id, course_id)
    assert done_at is not None and lessons_done == 2
    assert one(db, "SELECT count(*) FROM study_checks WHERE user_id = ? AND answered_at IS NOT NULL", user_id)[0] >= 2

    # the exam, now open on the course page
    cadre.click("a:has-text('课程详情')")
    panel = cadre.locator("#exam-panel")
    assert "考试已开放" in panel.inner_text()
    panel.locator("a", has_text="参加考试").click()
    assert f"首次考试合格获得本课程 {COURSE_CREDITS} 学分" in cadre.locator("#exam-rules").inner_text()
    cadre.once("dialog", lambda d: d.accept())
    cadre.click("button:has-text('开始考试')")
    cadre.wait_for_url(re.compile(r"/exams/attempts/\d+$"))
    attempt_id = int(cadre.url.rsplit("/", 1)[1])
    right = json.loads(run(live_server, ANSWERS, attempt_id))["answers"]
    assert len(right) == 10
    for pos in sorted(right, key=int):
        answer(cadre, pos, right[pos])
    saved(cadre)
    cadre.locator("aside [data-submit]").click()
    confirm = cadre.locator("#exam-confirm")
    assert "全部 10 题均已作答" in confirm.inner_text()
    confirm.locator("button", has_text="确认交卷").click()
    cadre.wait_for_selector("#exam-score")
    assert cadre.locator("[data-result]").get_attribute("data-result") == "passed"
    assert cadre.locator(".score-n").inner_text() == "100"
    assert cadre.locator("[data-credits-message]").inner_text() == \
        f"考试合格,获得本课程 {COURSE_CREDITS} 学分,已记入学分档案"
    shot(cadre, "56-cadre-exam-passed")
    assert one(db, "SELECT score, passed FROM exam_attempts WHERE id = ? AND user_id = ?", attempt_id, user_id) == (100, 1)
    ledger = rows(db, "SELECT source_type, credits FROM credit_entries WHERE user_id = ? ORDER BY id", user_id)
    assert ("course_hours", 0) in ledger and ("course_credits", COURSE_CREDITS) in ledger, ledger

    # 我的学分 → 申请学分: a reward credit for an award, with the certificate as a PDF
    cadre.click(".mainnav >> text=我的学分")
    row = cadre.locator("#ledger tr", has_text=COURSE).filter(has_text="课程考核合格")
    assert row.count() == 1 and f"+{COURSE_CREDITS}" in row.inner_text()
    cadre.click("a:has-text('申请学分')")
    certificate = tmp_path / "获奖证书.pdf"
    certificate.write_bytes(PDF)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    cadre.select_option("select[name=kind]", "award")
    cadre.select_option("select[name=level]", "award:second")
    cadre.fill("input[name=title]", AWARD)
    cadre.fill("input[name=event_date]", today.isoformat())
    cadre.fill("textarea[name=details]", "市委组织部颁发")
    cadre.set_input_files("input[name=evidence]", str(certificate))
    shot(cadre, "57-cadre-credit-application-form")
    cadre.click("button:has-text('提交申请')")
    assert "申请已提交,等待单位审核" in cadre.locator(".flash").inner_text()
    assert "待单位审核" in cadre.locator("h1").inner_text()
    assert "获奖证书.pdf" in cadre.locator(".facts").inner_text()
    shot(cadre, "58-cadre-credit-application-sent")
    app_row = one(db, "SELECT kind, level, state, amount, evidence_name FROM credit_applications "
                      "WHERE user_id = ? AND title = ?", user_id, AWARD)
    assert app_row == ("award", "second", "submitted", AWARD_CREDITS, "获奖证书.pdf")
    assert one(db, "SELECT count(*) FROM credit_entries WHERE user_id = ? AND source_type = 'application'",
               user_id) == (0,)  # nothing is credited before the review

    # --- 3. the administrator reports the card lost; the cadre's session dies ------------------
    admin.goto(cadre_page_url)
    admin.once("dialog", lambda d: d.accept())
    admin.click("form[action$='/lost'] button")
    assert "已挂失" in admin.locator(".flash").inner_text()
    assert one(db, "SELECT state FROM study_cards WHERE number = ?", digits) == ("lost",)
    assert one(db, "SELECT count(*) FROM login_sessions WHERE user_id = ? AND revoked_at IS NULL", user_id) == (0,)
    shot(admin, "59-admin-card-lost")

    cadre.click(".mainnav >> text=我的学习")
    assert "/login" in cadre.url, cadre.url
    assert cadre.locator("input[name=login]").is_visible()
    assert cadre.request.get(base + "/api/v1/me").status == 401
    shot(cadre, "60-cadre-session-ended")

    # --- 4. the administrator reissues the card; the old one is refused, the new one works -----
    admin.click("button:has-text('补卡')")
    assert admin.locator("h1").inner_text() == "学习卡(补卡)"
    new_number, new_initial = card_sheet(admin)
    assert new_number != number
    new_digits = new_number.replace(" ", "")
    old_id = one(db, "SELECT id FROM study_cards WHERE number = ?", digits)[0]
    assert one(db, "SELECT user_id, state, replaces_id FROM study_cards WHERE number = ?", new_digits) == \
        (user_id, "active", old_id)
    shot(admin, "61-admin-card-reissued")
    admin.goto(cadre_page_url)
    cards = admin.locator("table", has_text="卡号").filter(has_text=new_number).locator("tbody tr")
    assert cards.count() == 2  # newest first: the new card active, the old one lost
    assert re.search(rf"{new_number}\s+有效", cards.nth(0).inner_text())
    assert re.search(rf"{number}\s+已挂失", cards.nth(1).inner_text())
    shot(admin, "62-admin-cadre-after-reissue")

    login(cadre, base, new_number, new_initial)  # the reissue gave a new initial password too
    change_password(cadre, new_initial, "Journey2026new")
    assert cadre.locator(".userbox .who").inner_text() == CADRE
    assert new_number in cadre.locator(".studycard").inner_text()
    assert re.fullmatch(rf"{COURSE_CREDITS} / \d+ 学分", cadre.locator(".bignum").inner_text())  # this year's credits
    shot(cadre, "63-cadre-new-card-home")
    cadre.click(".mainnav >> text=我的学分")
    row = cadre.locator("#ledger tr", has_text=COURSE).filter(has_text="课程考核合格")
    assert row.count() == 1 and f"+{COURSE_CREDITS}" in row.inner_text()
    shot(cadre, "64-cadre-credits-after-reissue")
    cadre.click("#archive-link")
    archive = cadre.locator("#archive")
    assert COURSE in archive.locator("#courses").inner_text()
    assert "合格" in archive.locator("#exams").inner_text() and COURSE in archive.locator("#exams").inner_text()
    assert AWARD in archive.locator("#applications").inner_text()
    assert CADRE in archive.locator("#identity").inner_text()
    shot(cadre, "65-cadre-archive-after-reissue")
    cadre.click(".mainnav >> text=考试与论文")
    assert re.search(r"100\s+合格\s+\+" + str(COURSE_CREDITS),
                     cadre.locator("#attempts tbody tr").first.inner_text().replace("\n", " ").replace("\t", " "))

    # the old card, even with the cadre's current password, no longer logs in, and says why
    cadre.click(".userbox button:has-text('退出')")
    assert "您已安全退出" in cadre.locator(".flash").inner_text()
    login(cadre, base, number, "Journey2026new")
    assert cadre.locator(".flash").inner_text().strip() == "这张学习卡已挂失并已补办新卡,不能再登录;请使用新卡登录"
    assert "/login" in cadre.url
    shot(cadre, "66-cadre-old-card-refused")

    # --- 5. the department viewer: the unit report and its XLSX exports -----------------------
    viewer = new_page()
    login(viewer, base, "wb_viewer", demo_pw)
    viewer.click(".mainnav >> text=统计报表")
    assert viewer.url.split("?")[0].endswith("/reports/units")
    assert "渭滨区" in viewer.locator("h1").inner_text()
    viewer.select_option("#filters select[name=unit]", str(unit_id))
    viewer.click("#filters button:has-text('查询')")
    viewer.wait_for_url(re.compile(rf"unit={unit_id}\b"))
    assert SECTION in viewer.locator("h1").inner_text()
    stats = {k: viewer.locator(f"[data-stat={k}]").inner_text() for k in ("cadres", "participants", "credits")}
    assert stats == {"cadres": "1", "participants": "1", "credits": str(COURSE_CREDITS)}, stats
    unqualified = viewer.locator("#unqualified tbody tr")
    assert unqualified.count() == 1
    line = unqualified.first.inner_text()
    assert CADRE in line and SECTION in line and "乡科级" in line and re.search(rf"\b{COURSE_CREDITS} / \d+", line)
    required = int(re.search(rf"\b{COURSE_CREDITS} / (\d+)", line).group(1))
    shot(viewer, "67-viewer-unit-report")

    with viewer.expect_download() as dl:
        viewer.locator("#exports a", has_text="XLSX").click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert path.suffix == ".xlsx"
    book = openpyxl.load_workbook(path, read_only=True)
    overview = [list(r) for r in book["概况"].iter_rows(values_only=True)]
    assert overview[1][0] == SECTION
    head = overview[0]
    assert overview[1][head.index("干部")] == 1 and overview[1][head.index("期间学分")] == COURSE_CREDITS, overview
    names = [list(r) for r in book["不合格名单"].iter_rows(values_only=True)][1:]
    assert names == [[CADRE, SECTION, "乡科级", COURSE_CREDITS, required, required - COURSE_CREDITS]], names

    # the year-end assessment report, built in the background, downloaded from 导出任务
    viewer.click("#exports button:has-text('年度学分考核报表')")
    viewer.wait_for_url(re.compile(r"/reports/exports#export-\d+$"))
    export_id = int(viewer.url.rsplit("-", 1)[1])
    row = viewer.locator(f"#export-{export_id}")
    row.locator("a:has-text('下载')").wait_for(timeout=30000)
    assert "已完成" in row.inner_text()
    shot(viewer, "68-viewer-exports")
    with viewer.expect_download() as dl:
        row.locator("a:has-text('下载')").click()
    year_end = tmp_path / ("year-end-" + dl.value.suggested_filename)
    dl.value.save_as(year_end)
    cells = [c for ws in openpyxl.load_workbook(year_end, read_only=True).worksheets
             for r in ws.iter_rows(values_only=True) for c in r if c is not None]
    assert CADRE in cells and SECTION in cells and COURSE_CREDITS in cells
    assert one(db, "SELECT state, user_id FROM report_exports WHERE id = ?", export_id) == \
        ("done", one(db, "SELECT id FROM users WHERE username = 'wb_viewer'")[0])
    assert new_page.errors == []
