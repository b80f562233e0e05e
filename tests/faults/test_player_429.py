"""A report refused with 429 (the per-user request budget, app/ratelimit.py) is not a malformed
report: nothing of it was saved, so the player keeps its ranges, waits the Retry-After and sends
them again; every second played is credited, once. (Before, the player dropped the ranges of a 429
as it does for a 400, and the seconds played meanwhile were lost.)"""
from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import text

from tests.faults.test_db_outage import CHROMIUM, _in_thread, _start_playing, _wait, outage_env


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is missing (make test installs it)")
def test_player_keeps_and_resends_the_ranges_of_a_report_refused_with_429(tmp_path, engine_for):
    with outage_env(tmp_path, "player_429", cadres=1, lessons=[30], video_seconds=30,
                    server_env={"CADRE_LEARNING_REPORT_SECONDS": 1}) as env:
        result = _in_thread(lambda: _play_with_429s(env))
        with engine_for(env.url).connect() as db:
            lp = db.execute(text("SELECT ranges, covered_seconds, credited_seconds FROM lesson_progress")).one()
            study = db.execute(text("SELECT SUM(seconds) FROM study_days")).scalar()
    statuses = [s for s, _after in result["reports"]]
    assert statuses.count(429) >= 2 and statuses[-1] == 200, statuses
    first_429 = statuses.index(429)
    # what came after a 429 (once the answers were 200 again) is a report, not nothing
    assert 200 in statuses[first_429:], statuses
    total = sum(b - a for a, b in result["played"])
    assert abs(lp.covered_seconds - total) < 1.0, (lp, result["played"])   # nothing of the refused window lost
    assert abs(lp.credited_seconds - lp.covered_seconds) < 0.05, lp       # nothing counted twice
    assert abs(study - lp.credited_seconds) < 0.05
    ranges = lp.ranges if isinstance(lp.ranges, list) else json.loads(lp.ranges)
    assert len(ranges) == len(result["played"]), (ranges, result["played"])


def _play_with_429s(env) -> dict:
    from playwright.sync_api import sync_playwright

    # (route handlers run while the test calls into Playwright: it waits with wait_for_timeout)
    reports, refusing = [], {"on": False}

    def on_report(route):
        if refusing["on"]:
            reports.append((429, "1"))
            route.fulfill(status=429, headers={"Retry-After": "1", "Content-Type": "application/problem+json"},
                          body=json.dumps({"type": "about:blank", "code": "rate_limited", "status": 429,
                                           "title": "请求过于频繁", "detail": "操作过于频繁,请 1 秒后再试"}))
            return
        response = route.fetch()
        reports.append((response.status, response.headers.get("retry-after")))
        route.fulfill(response=response)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN").new_page()
            video, status = _start_playing(page, env, lambda pg: pg.route("**/reports", on_report))
            page.wait_for_timeout(2500)
            refusing["on"] = True
            _wait(status, "s => s.textContent === '网络中断,恢复后继续计时'", timeout=10)
            page.wait_for_timeout(3000)
            refusing["on"] = False
            _wait(status, "s => s.textContent === '正在计时'", timeout=15)
            page.wait_for_timeout(2500)
            video.evaluate("v => v.pause()")
            _wait(status, "s => s.textContent === '已暂停,不计时'", timeout=10)
            page.wait_for_timeout(2000)   # the pause report and its answer
            played = video.evaluate(
                "v => Array.from({length: v.played.length}, (_, i) => [v.played.start(i), v.played.end(i)])")
            return {"played": played, "reports": reports}
        finally:
            browser.close()
