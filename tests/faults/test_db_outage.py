"""The database briefly unavailable: the API answers 503 with Retry-After and a Chinese problem+json
body, pages a 503 page, nothing is half-written, and once the database is back the same request
succeeds; in Chromium the lesson player shows that it is retrying, waits as told, and after the
outage the played seconds are credited exactly once.

"Unavailable" is made for real. On SQLite another connection holds `BEGIN EXCLUSIVE` (the server's
busy timeout is 1 s here): writers get "database is locked", readers go on (WAL). On PostgreSQL the
server reaches the database through a TCP relay of the test, which is taken down (every connection
cut, new ones refused: what the application sees when PostgreSQL stops or the network goes) and
brought up again; only the test's own database is involved."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from tests.e2e.conftest import CHROMIUM
from tests.faults.conftest import Api, Server, is_postgres, own_database, proxied, seed

EXPECTED = {"sqlite": ("busy", "1"), "postgresql": ("db_unavailable", "5")}


class SqliteLock:
    """An exclusive lock held by another connection: the server's writers time out."""

    def __init__(self, url: str):
        self.path = url[len("sqlite:///"):]
        self.con = None

    def begin(self):
        self.con = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        self.con.execute("BEGIN EXCLUSIVE")

    def end(self):
        if self.con is not None:
            self.con.execute("ROLLBACK")
            self.con.close()
            self.con = None


class ProxyOutage:
    def __init__(self, proxy):
        self.proxy = proxy
        self.is_down = False

    def begin(self):
        self.proxy.down()
        self.is_down = True

    def end(self):
        if self.is_down:
            self.proxy.up()
            self.is_down = False


@dataclass
class Env:
    server: Server
    info: dict
    outage: object
    url: str  # the database as the test reaches it (directly, not through the relay)
    backend: str


@contextmanager
def outage_env(tmp_path, label: str, **spec):
    media = tmp_path / "media"
    server_env = spec.pop("server_env", {})
    with own_database(tmp_path, label) as url:
        info = seed(url, media, **spec)
        if is_postgres():
            with proxied(url) as (proxy, via_proxy):
                server = Server(tmp_path, via_proxy, media, **server_env)
                outage = ProxyOutage(proxy)
                try:
                    server.start()
                    yield Env(server, info, outage, url, "postgresql")
                finally:
                    outage.end()
                    server.stop()
        else:
            server = Server(tmp_path, url, media, CADRE_SQLITE_BUSY_TIMEOUT_MS=1000, **server_env)
            outage = SqliteLock(url)
            try:
                server.start()
                yield Env(server, info, outage, url, "sqlite")
            finally:
                outage.end()
                server.stop()


def _counts(engine) -> dict:
    with engine.connect() as db:
        return {t: db.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar()
                for t in ("login_sessions", "audit_events", "study_days", "lesson_progress", "online_days")}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_database_outage_gives_503_with_retry_after_and_the_same_request_then_succeeds(tmp_path, engine_for):
    with outage_env(tmp_path, "outage_api", cadres=2, lessons=[60]) as env:
        code, retry_after = EXPECTED[env.backend]
        base, info = env.server.url, env.info
        api = Api(base)
        assert api.login(info["cadres"][0]["card"], info["password"]).status_code == 200
        r = api.request("POST", f"/api/v1/lessons/{info['lessons'][0]}/watch-sessions")
        assert r.status_code == 201, r.text
        report_url = r.json()["report_url"]
        r = api.request("POST", report_url, json={"seq": 1, "position": 1, "playing": True, "ranges": [[0, 1]]})
        assert r.status_code == 200 and r.json()["credited"] == 1.0, r.text
        second = {"seq": 2, "position": 2, "playing": True, "ranges": [[1, 2]]}
        browser = Api(base)  # a page visitor: the login form
        form = {"login": info["cadres"][1]["card"], "password": info["password"],
                "csrf_token": _csrf(browser.s.get(base + "/login").text)}
        engine = engine_for(env.url)
        before = _counts(engine)

        env.outage.begin()
        try:
            t0 = time.monotonic()
            r = api.request("POST", report_url, json=second)
            took = time.monotonic() - t0
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == retry_after
            assert r.headers["Content-Type"].startswith("application/problem+json")
            body = r.json()
            assert body["code"] == code and body["status"] == 503 and body["title"] == "服务暂不可用", body
            assert body["detail"] in ("系统繁忙,请稍后重试", "数据库暂时无法连接,本次操作未保存,请稍后重试"), body
            assert took < 5, f"the answer took {took:.1f} s"
            reading = api.request("GET", f"/api/v1/lessons/{info['lessons'][0]}/progress")
            if env.backend == "sqlite":
                assert reading.status_code == 200  # WAL: readers are not blocked by a writer
            else:
                assert reading.status_code == 503 and reading.headers["Retry-After"] == retry_after
                assert reading.json()["code"] == code
            page = browser.s.post(base + "/login", data=form, allow_redirects=False)
            assert page.status_code == 503 and page.headers["Retry-After"] == retry_after
            assert page.headers["Content-Type"].startswith("text/html")
            assert "服务暂不可用" in page.text and body["detail"] in page.text
            again = Api(base).login(info["cadres"][0]["card"], info["password"])  # the login API too
            assert again.status_code == 503 and again.headers["Retry-After"] == retry_after
        finally:
            env.outage.end()

        # nothing half-written: no login session, audit entry, study time or progress from the 503s,
        # and the report's sequence number was not taken
        assert _counts(engine) == before
        with engine.connect() as db:
            assert tuple(db.execute(text("SELECT last_seq, credited_seconds FROM watch_sessions")).one()) == (1, 1.0)

        # back: the very same requests succeed, and the report counts as new (nothing of it was kept)
        r = api.request("POST", report_url, json=second)
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] and not r.json()["duplicate"] and r.json()["credited"] == 1.0
        assert browser.s.post(base + "/login", data=form, allow_redirects=False).status_code == 302

        if env.backend == "postgresql":
            # connections cut while idle in the pools (a PostgreSQL restart between two requests):
            # pool_pre_ping replaces them, and no request fails
            env.outage.begin()
            env.outage.end()
            for _ in range(8):
                r = api.request("GET", f"/api/v1/lessons/{info['lessons'][0]}/progress")
                assert r.status_code == 200, r.text

        log = env.server.tail(100_000)
        assert "Traceback" not in log, log[-3000:]
        assert f"database {code}" in log


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is missing (make test installs it)")
def test_player_retries_through_a_database_outage_and_every_second_counts_once(tmp_path, engine_for):
    with outage_env(tmp_path, "outage_player", cadres=1, lessons=[30], video_seconds=30,
                    server_env={"CADRE_LEARNING_REPORT_SECONDS": 1}) as env:
        result = _in_thread(lambda: _play_through_outage(env))
        code, retry_after = EXPECTED[env.backend]
        engine = engine_for(env.url)
        with engine.connect() as db:
            lp = db.execute(text("SELECT ranges, covered_seconds, credited_seconds FROM lesson_progress")).one()
            study = db.execute(text("SELECT SUM(seconds) FROM study_days")).scalar()
            ws = db.execute(text("SELECT SUM(credited_seconds), MAX(last_seq) FROM watch_sessions")).one()
    ranges = lp.ranges if isinstance(lp.ranges, list) else json.loads(lp.ranges)
    played = result["played"]
    reports = sorted(result["reports"])
    failed = [r for r in reports if r[2] == 503]
    assert failed and all(r[3] == retry_after and r[4] == code for r in failed), reports
    # the player waited as told before sending the failed report again
    gaps = [b[0] - a[1] for a, b in zip(reports, reports[1:]) if a[2] == 503]
    assert gaps and min(gaps) >= int(retry_after) - 0.05, gaps
    # the server's record is what was played: every range, each second once
    assert len(ranges) == len(played), (ranges, played)
    for (a, b), (pa, pb) in zip(ranges, played):
        assert abs(a - pa) < 0.7 and abs(b - pb) < 0.7, (ranges, played)
    total = sum(b - a for a, b in played)
    assert result["outage_played"] >= 2.0, result  # seconds played while the database was away
    assert abs(lp.covered_seconds - total) < 1.0, (lp, total)
    assert abs(lp.credited_seconds - lp.covered_seconds) < 0.05, lp  # nothing counted twice
    assert abs(study - lp.credited_seconds) < 0.05 and abs(ws[0] - lp.credited_seconds) < 0.05, (study, ws, lp)
    print(f"\nplayer through a {result['outage']:.1f} s outage ({env.backend}): {len(result['reports'])} reports, "
          f"{len(failed)} answered 503 (Retry-After {retry_after}), played {played}, server {ranges}, "
          f"credited {lp.credited_seconds} s")


def _in_thread(fn):
    """Playwright's sync API in a thread of its own: the browser tests of tests/e2e may hold one in
    this process's main thread already (two cannot share a thread)."""
    out, err = {}, []

    def run():
        try:
            out["v"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            err.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=150)
    assert not t.is_alive(), "the browser scenario hung"
    if err:
        raise err[0]
    return out["v"]


def _wait(locator, js: str, timeout: float = 15) -> None:
    locator.wait_for(state="attached", timeout=timeout * 1000)
    end = time.monotonic() + timeout
    while not locator.evaluate(js):
        assert time.monotonic() < end, f"timed out waiting for {js}"
        time.sleep(0.05)


def _start_playing(page, env: Env, before_lesson=None):
    """The first cadre signs in and plays the first lesson until the player says it is timing;
    `before_lesson(page)` runs once signed in (to route requests, say). Returns (video, status)."""
    info, base = env.info, env.server.url
    page.goto(base + "/login")
    page.fill("input[name=login]", info["cadres"][0]["card"])
    page.fill("input[name=password]", info["password"])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if before_lesson:
        before_lesson(page)
    page.goto(f"{base}/courses/{info['course_id']}/lessons/{info['lessons'][0]}")
    box, video, status = page.locator("#tracked-player"), page.locator("video"), page.locator("[data-track-status]")
    _wait(box, "b => b.dataset.trackState === 'active'")
    _wait(video, "v => v.readyState >= 1")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    _wait(status, "s => s.textContent === '正在计时'")
    return video, status


def _play_through_outage(env: Env) -> dict:
    from playwright.sync_api import sync_playwright

    reports = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
            page = ctx.new_page()

            def on_finished(req):
                # (sent, answered) by the browser's own clock: Python sees the events later under load
                if "/reports" in req.url and req.method == "POST":
                    r, timing = req.response(), req.timing
                    body = {}
                    try:
                        body = r.json()
                    except Exception:  # noqa: BLE001
                        pass
                    sent = timing["startTime"] / 1000
                    reports.append((sent, sent + timing["responseEnd"] / 1000, r.status, r.headers.get("retry-after"),
                                    body.get("code"), time.monotonic()))

            page.on("requestfinished", on_finished)
            video, status = _start_playing(page, env)
            time.sleep(3)

            t_down = time.monotonic()
            at_down = video.evaluate("v => v.currentTime")
            env.outage.begin()
            try:
                _wait(status, "s => s.textContent === '网络中断,恢复后继续计时' && s.classList.contains('off')", timeout=10)
                assert not video.evaluate("v => v.paused")  # the lesson plays on while reports wait
                time.sleep(max(0.0, 6 - (time.monotonic() - t_down)))
            finally:
                env.outage.end()
            outage = time.monotonic() - t_down
            outage_played = video.evaluate("v => v.currentTime") - at_down
            _wait(status, "s => s.textContent === '正在计时'", timeout=15)
            time.sleep(2.5)
            video.evaluate("v => v.pause()")
            _wait(status, "s => s.textContent === '已暂停,不计时'", timeout=10)
            # the pause report and its answer; then nothing is left to send
            end = time.monotonic() + 10
            while page.locator("#tracked-player").evaluate("b => !!b") and time.monotonic() < end:
                if reports and reports[-1][2] == 200 and time.monotonic() - reports[-1][5] > 1.0:
                    break
                time.sleep(0.1)
            played = video.evaluate(
                "v => Array.from({length: v.played.length}, (_, i) => [v.played.start(i), v.played.end(i)])")
            return {"played": played, "reports": reports, "outage": outage, "outage_played": outage_played}
        finally:
            browser.close()
