"""A cadre finds a course through the catalogue and Chinese search, seeks in its preview video in
Chromium (HTTP Range) and finds that the lesson's own player refuses to skip ahead; the
organisation-department admin replaces a lesson video through the
chunked uploader and watches the transcoding progress. Screenshots go to test-artifacts/."""
import subprocess
import time

import pytest

from tests.e2e.conftest import shot
from tests.e2e.test_cards_journey import login

pytestmark = pytest.mark.e2e


def wait_until(locator, expression: str, timeout: float = 15) -> None:
    """Poll a predicate on an element (page.wait_for_function evaluates strings, which our CSP forbids)."""
    end = time.time() + timeout
    while not locator.evaluate(expression):
        if time.time() > end:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)


def test_cadre_searches_and_seeks_in_a_lesson_video(live_server, page):
    base, card = live_server["url"], live_server["cards"][1]
    login(page, base, card, live_server["password"])
    page.fill("input[name=old_password]", live_server["password"])
    page.fill("input[name=new_password]", "Study2026ok")
    page.fill("input[name=confirm]", "Study2026ok")
    page.click("button[type=submit]")

    page.goto(base + "/courses/")
    assert "汽车制造" in page.content() and "三农与乡村振兴" in page.content()
    shot(page, "10-catalogue-home")

    page.goto(base + "/courses/search?q=乡村振兴")
    assert page.locator("mark").count() >= 1
    shot(page, "11-search")
    page.click("text=乡村振兴战略的理论与实践")
    shot(page, "12-course")
    # the course page's preview of the first lesson is a plain player (the lesson page's player is
    # tracked and refuses to skip ahead, see below)
    video = page.locator("video")
    video.evaluate("v => { v.preload = 'metadata'; v.load(); }")
    wait_until(video, "v => v.readyState >= 1")
    duration = video.evaluate("v => v.duration")
    assert 85 < duration < 95  # lesson 1 of the package: 90 s
    # seek near the end: the browser asks for a byte range; the server must answer 206
    with page.expect_response(lambda r: ".mp4" in r.url and r.status == 206, timeout=15000):
        video.evaluate("v => { v.muted = true; v.currentTime = 80; }")
    wait_until(video, "v => !v.seeking && v.readyState >= 2")
    assert video.evaluate("v => v.currentTime") == pytest.approx(80, abs=1)
    assert video.evaluate("v => v.error") is None
    # in the lesson, seeking past what was watched is refused with a notice
    page.click("a[href*='/lessons/']")
    video = page.locator("video")
    wait_until(page.locator("#tracked-player"), "b => b.dataset.trackState === 'active'")
    wait_until(video, "v => v.readyState >= 1")
    video.evaluate("v => { v.muted = true; v.currentTime = 80; }")
    wait_until(video, "v => !v.seeking && v.currentTime < 1")
    assert page.locator(".player-notice").inner_text() == "不能跳过未观看的内容"
    shot(page, "13-lesson-seeked")


def test_admin_uploads_a_video_in_chunks_and_sees_it_published(live_server, page, tmp_path):
    clip = tmp_path / "新课时.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=854x480:rate=25:duration=4",
                    "-f", "lavfi", "-i", "sine=frequency=660:duration=4", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-shortest", "-y", str(clip)], check=True)
    login(page, live_server["url"], "admin", live_server["password"])
    page.goto(live_server["url"] + "/admin/catalogue/courses")
    page.click("text=新能源汽车产业发展与政策")
    first = page.locator(".lesson-row").first
    first.locator("input[type=file]").set_input_files(str(clip))
    first.locator(".upload-form button").click()
    # the page reloads itself a second after the job succeeded
    with page.expect_navigation(timeout=90000):
        first.locator(".upload-text", has_text="完成").wait_for(timeout=60000)
        shot(page, "14-admin-upload-done")
    assert "00:04" in page.locator(".lesson-row").first.inner_text()
    # a non-video is refused with the reason, and the lesson keeps its video
    bad = tmp_path / "notes.mp4"
    bad.write_text("这不是视频" * 100, encoding="utf-8")
    first = page.locator(".lesson-row").first
    first.locator("input[type=file]").set_input_files(str(bad))
    first.locator(".upload-form button").click()
    first.locator(".uploader.failed").wait_for(timeout=20000)
    assert "视频" in first.locator(".upload-text").inner_text()
    shot(page, "15-admin-upload-refused")
