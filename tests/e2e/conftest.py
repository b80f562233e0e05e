"""A real server in a subprocess (its own SQLite database, migrated and seeded with the demo
city) and Debian's Chromium driven by Playwright."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
E2E_COURSES = ("rural-revitalisation-strategy", "new-energy-vehicle-industry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    env = {**os.environ, "FLASK_APP": "wsgi.py", "CADRE_ENV": "development",
           "DATABASE_URL": f"sqlite:///{tmp}/e2e.sqlite3", "CADRE_JOBS_BACKEND": "immediate",
           "CADRE_MEDIA_ROOT": str(tmp / "media"), "CADRE_INSTANCE_PATH": str(tmp / "instance"),
           "CADRE_SEARCH_INDEX_DIR": str(tmp / "index"),
           # study-time tracking at test speed: a report a second, a still-studying check after
           # every 3 s of credited play (0.05 min)
           "CADRE_LEARNING_REPORT_SECONDS": "1", "CADRE_LEARNING_CHECK_MIN_MINUTES": "0.05",
           "CADRE_LEARNING_CHECK_MAX_MINUTES": "0.05"}
    env.pop("CADRE_ARGON2_TIME_COST", None)
    flask = [sys.executable, "-m", "flask"]
    subprocess.run(flask + ["db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    out = subprocess.run(flask + ["demo", "--cadres", "40"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    cards = re.findall(r"学员 cadre \S+\s+([\d ]{19})\s", out)
    # Two real course packages (one from courses/, one local module) with generated videos.
    packages = tmp / "courses"
    packages.mkdir()
    for name in ("categories.toml", "schema"):
        src = ROOT / "courses" / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, packages / name)
    for code in E2E_COURSES:
        shutil.copytree(ROOT / "courses" / code, packages / code)
    subprocess.run(flask + ["courses", "import", str(packages)], cwd=ROOT, env=env, check=True, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen(flask + ["run", "--port", str(port), "--no-reload"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # a loaded machine (the suite runs in two workers) starts slowly
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"server did not start (exit code {proc.poll()})") from None
            time.sleep(0.1)
    yield {"url": url, "cards": cards, "password": "Demo@2026", "db": str(tmp / "e2e.sqlite3"), "env": env}
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    pg = ctx.new_page()
    yield pg
    ctx.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
