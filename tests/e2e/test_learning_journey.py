"""A cadre studies a lesson in Chromium: the tracked player reports every second (the live server
runs with CADRE_LEARNING_REPORT_SECONDS=1), a still-studying check pops up after 3 s of credited
play (a wrong answer is refused, the right one resumes the video), seeking ahead and playing fast
are refused, the coverage shown is the server's, and 我的学习 lists the course and the study time.
Screenshots go to test-artifacts/."""
import math
import re
import sqlite3
import time
from contextlib import closing

import pytest

from tests.e2e.conftest import ARTIFACTS, shot
from tests.e2e.test_cards_journey import login
from tests.e2e.test_catalogue_journey import wait_until

pytestmark = pytest.mark.e2e


def pct(ratio: float) -> int:
    """As the page shows it: whole percent, rounded half up."""
    return int(math.floor(ratio * 100 + 0.5))


def latest_answer(db: str) -> int:
    """The test cannot read the picture: it asks the live server's database instead."""
    with closing(sqlite3.connect(db, timeout=10)) as con:
        return con.execute("SELECT answer FROM study_checks ORDER BY id DESC LIMIT 1").fetchone()[0]


def modal_open(page) -> bool:
    return page.locator("#study-check").evaluate("m => !m.hidden")


def answer_check(page, db: str) -> None:
    modal = page.locator("#study-check")
    modal.locator(f".check-option[data-answer='{latest_answer(db)}']").click()
    wait_until(modal, "m => m.hidden")


def test_cadre_studies_a_lesson_answers_a_check_and_sees_the_server_s_progress(live_server, page):
    base, card, db = live_server["url"], live_server["cards"][2], live_server["db"]
    login(page, base, card, live_server["password"])
    page.fill("input[name=old_password]", live_server["password"])
    page.fill("input[name=new_password]", "Study2026ok")
    page.fill("input[name=confirm]", "Study2026ok")
    page.click("button[type=submit]")

    page.goto(base + "/courses/search?q=乡村振兴")
    page.click("text=乡村振兴战略的理论与实践")
    assert "课程进度 0%" in page.locator(".course-progress").inner_text()
    page.click("a:has-text('开始学习')")
    lesson_id = int(re.search(r"/lessons/(\d+)", page.url).group(1))
    box, video, modal = page.locator("#tracked-player"), page.locator("video"), page.locator("#study-check")
    wait_until(box, "b => b.dataset.trackState === 'active'")
    wait_until(video, "v => v.readyState >= 1")

    # play (muted: no gesture needed); after 3 s of credited play the check pauses the video
    video.evaluate("v => { v.muted = true; return v.play(); }")
    wait_until(modal, "m => !m.hidden", timeout=30)
    assert video.evaluate("v => v.paused")
    assert "请确认您仍在学习" in modal.inner_text()
    wait_until(modal.locator("img.check-image"), "i => i.complete && i.naturalWidth > 0")
    options = [int(o) for o in modal.locator(".check-option").all_inner_texts()]
    assert len(options) == 4
    ARTIFACTS.mkdir(exist_ok=True)  # the viewport only: the dialog's backdrop covers the window, not the whole page
    page.screenshot(path=str(ARTIFACTS / "20-learning-check.png"))

    answer = latest_answer(db)
    assert answer in options
    modal.locator(f".check-option[data-answer='{next(o for o in options if o != answer)}']").click()
    wait_until(modal.locator(".check-error"), "e => !e.hidden")
    assert modal.locator(".check-error").inner_text() == "不对,请再看一下图片"
    assert modal_open(page)
    modal.locator(f".check-option[data-answer='{answer}']").click()
    wait_until(modal, "m => m.hidden")
    wait_until(video, "v => !v.paused")

    # several more reports; the checks that keep coming (every 3 s here) are answered
    end = time.time() + 7
    while time.time() < end:
        if modal_open(page):
            answer_check(page, db)
        time.sleep(0.2)

    # playing faster than allowed and skipping ahead are refused
    if modal_open(page):
        answer_check(page, db)
    video.evaluate("v => { v.playbackRate = 2; }")
    wait_until(video, "v => v.playbackRate === 1")
    assert page.locator(".player-notice").inner_text() == "播放速度不能超过 1 倍"
    video.evaluate("v => { v.currentTime = 85; }")
    wait_until(video, "v => !v.seeking && v.currentTime < 60")
    assert page.locator(".player-notice").inner_text() == "不能跳过未观看的内容"

    # pause (a check that pops up at that moment is answered, and the video paused again)
    for _ in range(5):
        if modal_open(page):
            answer_check(page, db)
        video.evaluate("v => v.pause()")
        time.sleep(1.5)  # the pause report and its answer
        if not modal_open(page) and video.evaluate("v => v.paused"):
            break
    assert not modal_open(page)

    lesson = page.request.get(f"{base}/api/v1/lessons/{lesson_id}/progress").json()
    course_id = int(re.search(r"/courses/(\d+)/", page.url).group(1))
    course = page.request.get(f"{base}/api/v1/courses/{course_id}/progress").json()
    assert 0.05 < lesson["coverage"] < 0.5 and lesson["credited_seconds"] > 5
    shown = page.locator("[data-lesson-pct]")
    wait_until(shown, f"e => e.textContent.trim() === '{pct(lesson['coverage'])}'", timeout=5)
    assert int(shown.inner_text()) == pct(lesson["coverage"])
    line = page.locator("[data-course-line]").inner_text()
    assert line == f"课程进度 {pct(course['coverage'])}% · 已完成 0/3 课时", line
    assert page.locator("[data-lesson-done]").is_hidden()
    assert page.locator("[data-track-status]").inner_text() == "已暂停,不计时"
    time.sleep(3.6)  # let the last notice fade for the picture
    shot(page, "21-learning-progress")

    # 我的学习: the course in progress with the same numbers, and today's study time
    page.click(".mainnav >> text=我的学习")
    doing = page.locator("#in-progress")
    assert "乡村振兴战略的理论与实践" in doing.inner_text()
    assert f"{pct(course['coverage'])}%" in doing.inner_text()
    assert "已完成 0/3 课时" in doing.inner_text()
    week = page.locator("[data-total=week] .n").inner_text()
    assert re.fullmatch(r"\d+ 秒|\d+ 分 \d+ 秒", week), week
    assert "今天" in page.locator("#days tbody tr").first.inner_text()
    shot(page, "22-my-learning")

    # the course page shows the same progress and resumes the lesson
    page.click("#in-progress >> text=乡村振兴战略的理论与实践")
    assert f"课程进度 {pct(course['coverage'])}%" in page.locator(".course-progress").inner_text()
    assert f"已观看 {pct(lesson['coverage'])}%" in page.locator(".lesson-list").inner_text()
    assert page.locator("a:has-text('继续学习')").get_attribute("href").endswith(f"/lessons/{lesson_id}")
    shot(page, "23-course-progress")

    # the same lesson opened in a second window: the first one stops counting, says why, and
    # sends nothing more until asked to continue here (which in turn stops the second window)
    page.goto(f"{base}/courses/{course_id}/lessons/{lesson_id}")
    wait_until(box, "b => b.dataset.trackState === 'active'")
    other = page.context.new_page()
    other.goto(page.url)
    wait_until(other.locator("#tracked-player"), "b => b.dataset.trackState === 'active'")
    reports = []
    page.on("request", lambda r: reports.append(r.url) if "/reports" in r.url else None)
    video.evaluate("v => { v.muted = true; return v.play(); }")
    wait_until(box, "b => b.dataset.trackState === 'stopped'")
    stopped = page.locator(".player-stopped")
    assert stopped.is_visible() and video.evaluate("v => v.paused")
    assert stopped.locator(".stopped-text").inner_text() == "已在其他窗口开始学习,本页不再计时"
    shot(page, "24-learning-other-window")
    sent = len(reports)
    time.sleep(2.5)
    assert len(reports) == sent  # no retry loop
    stopped.locator("button", has_text="在本页继续学习").click()
    wait_until(box, "b => b.dataset.trackState === 'active'")
    wait_until(video, "v => !v.paused")
    other.locator("video").evaluate("v => { v.muted = true; return v.play(); }")
    wait_until(other.locator("#tracked-player"), "b => b.dataset.trackState === 'stopped'")
    video.evaluate("v => v.pause()")
    other.close()
