"""Screenshots of the report pages on the 50,000-cadre city (the dataset of bench/report_bench.py,
generated on the first run and kept): the unit dashboard for the city and a district, the course
report and one course, the weekly trends, a cadre's learning archive and the export jobs (the year-end
assessment report of the city being built by the worker). Headless Debian Chromium via Playwright;
the JPEGs go to docs/screenshots/.

    .venv/bin/python bench/report_screenshots.py
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
OUT = os.path.join(ROOT, "docs", "screenshots")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "Demo@2026"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    from bench.report_bench import _env, ensure_sqlite

    src = ensure_sqlite().removeprefix("sqlite:///")
    tmp = tempfile.mkdtemp(prefix="cadre-shots-")
    db_path = os.path.join(tmp, "city.sqlite3")
    shutil.copy(src, db_path)  # the pages write a little (sessions, exports, audit): not into the bench copy
    env = _env(f"sqlite:///{db_path}")
    if _redis_up():  # a real worker builds the export while the page follows it
        env.update({"CADRE_JOBS_BACKEND": "redis", "CADRE_REDIS_URL": "redis://127.0.0.1:6379/7"})
    else:
        env["CADRE_JOBS_BACKEND"] = "immediate"
    flask = [os.path.join(os.path.dirname(sys.executable), "flask")]
    port = _free_port()
    log = open(os.path.join(tmp, "server.log"), "w")
    procs = [subprocess.Popen(flask + ["run", "--port", str(port), "--no-reload", "--with-threads"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)]
    if env["CADRE_JOBS_BACKEND"] == "redis":
        procs.append(subprocess.Popen(flask + ["worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                if procs[0].poll() is not None:
                    raise SystemExit("the server stopped:\n" + open(log.name).read()[-3000:])
                time.sleep(0.2)
        shoot(base, db_path)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)


def shoot(base: str, db_path: str) -> None:
    import sqlite3

    from playwright.sync_api import sync_playwright

    con = sqlite3.connect(db_path)
    district = con.execute("SELECT id FROM units WHERE parent_id = (SELECT id FROM units WHERE parent_id IS NULL) "
                           "ORDER BY id LIMIT 1").fetchone()[0]
    course = con.execute("SELECT course_id FROM course_progress GROUP BY course_id ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    cadre = con.execute("SELECT user_id FROM exam_attempts WHERE passed GROUP BY user_id ORDER BY count(*) DESC, user_id "
                        "LIMIT 1").fetchone()[0]
    con.close()
    os.makedirs(OUT, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(base + "/login")
        page.fill("input[name=login]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        shots = [
            ("reports-unit-city", "/reports/units"),
            ("reports-unit-district", f"/reports/units?unit={district}"),
            ("reports-courses", "/reports/courses"),
            ("reports-course", f"/reports/courses?course={course}"),
            ("reports-trends-week", "/reports/trends?granularity=week"),
            ("reports-archive", f"/archive/cadres/{cadre}"),
        ]
        for name, path in shots:
            t = time.perf_counter()
            page.goto(base + path, timeout=120_000)
            print(f"{name}: {path} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            page.screenshot(path=os.path.join(OUT, name + ".jpg"), full_page=True, type="jpeg", quality=70)
        page.goto(base + "/reports/units")
        page.click("form:has(input[name=kind][value=year_end]) button")
        page.wait_for_load_state()
        time.sleep(2.5)
        page.screenshot(path=os.path.join(OUT, "reports-exports-running.jpg"), full_page=True, type="jpeg", quality=70)
        page.wait_for_selector("tr[data-state=done]", timeout=300_000)
        page.screenshot(path=os.path.join(OUT, "reports-exports-done.jpg"), full_page=True, type="jpeg", quality=70)
        browser.close()
    print(f"screenshots in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
