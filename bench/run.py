"""`make bench`: each figure measured in this run, as a ratio to a reference measured alongside.

    range_last_vs_first   req/s of a 1 MiB Range request at the end of a 200 MB video
                          ÷ req/s of the same request at its start (gunicorn, app serving);
                          ≈1 means the server seeks instead of reading from byte zero.
    accel_vs_nginx        req/s of the app's X-Accel-Redirect answer served by nginx
                          ÷ req/s of nginx serving the same file directly (8 MiB ranges, what
                          a player reads per request; the 1 MiB ratio is printed alongside).
    search_p95_ms_10k     p95 of a catalogue search on a generated 10,000-course index.
    progress_vs_ping_sqlite, progress_vs_ping_postgres, progress_p99_ms_50c
                          progress reports against GET /healthz, and their p99 with 50
                          connections: see bench/progress_bench.py.
    unit_report_vs_sql_sqlite, unit_report_vs_sql_postgres
                          the city-level unit report on the 50,000-cadre city dataset against
                          the bare SQL it needs: see bench/report_bench.py (the datasets are
                          generated once and kept in instance/bench/ and PostgreSQL).
    archive_ms, archive_ms_postgres
                          a cadre's learning archive for the year on the same city (median of
                          25 cadres spread across it).
    watchers_at_p99_200ms, load_errors
                          the load run on the production stack (PostgreSQL, Redis worker,
                          gunicorn, nginx with TLS): concurrent watchers reporting progress at the
                          real interval, with browsing and exams alongside, at p99 < 200 ms; and
                          its failed requests (must be 0): see bench/load_bench.py.

The media figures run on loopback in a temporary directory: SQLite database, media files, gunicorn
(2 workers × 4 threads as `make run`), nginx (installed through apt when missing).

Each figure prints as `name: value` when its part is done; at the end one table of every figure
(value, and what it is a ratio of or measured against), headed by the date and the machine, which
is also written to instance/bench/results-YYYY-MM-DD.json (figures of an earlier run that day that
this run did not measure are kept there, each with its own time).

    BENCH_ONLY=load make bench        only some parts: media (range + accel), search, progress, workers,
                                      report, load (comma-separated)
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
VENV_BIN = os.path.dirname(sys.executable)
MIB = 1024 * 1024
FILE_MB = 200
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
CLIENTS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def setup(tmp: str) -> dict:
    """Database with an admin and a published course whose lesson video is a 200 MB file."""
    os.environ.update(DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3", CADRE_MEDIA_ROOT=f"{tmp}/media",
                      CADRE_SEARCH_INDEX_DIR=f"{tmp}/index", CADRE_ENV="development",
                      CADRE_RATELIMIT_PER_USER="1000000 per minute")  # one client as fast as it can
    from flask_migrate import upgrade

    from app import create_app
    from app.accounts import services as accounts
    from app.accounts.models import Role
    from app.catalogue import services
    from app.catalogue.models import CourseState, VideoAsset
    from app.extensions import db

    app = create_app()
    with app.app_context():
        upgrade()
        city = accounts.create_unit(None, "基准市", parent=None)
        accounts.create_staff(None, username="bench", name="基准", role=Role.ORGADMIN, unit=city,
                              password="Quick#Seek2026")
        cat = services.create_category(None, code="bench", name="基准", kind="subject")
        course = services.create_course(None, services.CourseInfo(title="基准课程", category_id=cat.id,
                                                                  lecturer="某", description="", class_hours=1,
                                                                  credits=5))
        lesson = services.add_lesson(None, course, "第一讲 大文件")
        d = os.path.join(app.config["MEDIA_ROOT"], "bench")
        os.makedirs(d)
        with open(os.path.join(d, "video.mp4"), "wb") as fh:
            block = os.urandom(MIB)
            for _ in range(FILE_MB):
                fh.write(block)
        lesson.video = VideoAsset(storage_dir="bench", duration=3600, width=1280, height=720,
                                  size_bytes=FILE_MB * MIB, origin="upload")
        db.session.flush()
        services.set_course_state(None, course, CourseState.PUBLISHED)
        db.session.commit()
        return {"url": f"/media/lessons/{lesson.id}/{lesson.video_id}.mp4", "media": app.config["MEDIA_ROOT"]}


def gunicorn(port: int, extra_env: dict) -> subprocess.Popen:
    env = dict(os.environ, **extra_env)
    p = subprocess.Popen([os.path.join(VENV_BIN, "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
                          "--threads", "4", "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    wait_port(port)
    return p


def login(port: int) -> str:
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("POST", "/api/v1/auth/login", body=json.dumps({"login": "bench", "password": "Quick#Seek2026"}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        raise RuntimeError(f"login failed: {r.status}")
    return r.getheader("Set-Cookie").split(";", 1)[0]


def rate(port: int, path: str, headers: dict, expect: int, nbytes: int, seconds: float | None = None,
         warm: bool = True) -> float:
    """Requests per second with CLIENTS keep-alive connections for SECONDS (after a short warm-up
    so that fresh gunicorn workers and nginx are measured in their steady state)."""
    if warm:
        rate(port, path, headers, expect, nbytes, seconds=0.5, warm=False)
    stop = time.time() + (seconds or SECONDS)
    counts = [0] * CLIENTS
    errors: list[str] = []

    def worker(i: int) -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.time() < stop:
            c.request("GET", path, headers=headers)
            r = c.getresponse()
            body = r.read()
            if r.status != expect or len(body) != nbytes:
                errors.append(f"{r.status} {len(body)} bytes")
                return
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{path}: unexpected answer {errors[0]}")
    return sum(counts) / (time.time() - started)


def ensure_nginx() -> str | None:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if path:
        return path
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("installing nginx (apt-get)…", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "nginx-light"], check=False, env=env,
                   stdout=subprocess.DEVNULL)
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def nginx(binary: str, tmp: str, port: int, app_port: int, media: str) -> subprocess.Popen:
    conf = os.path.join(tmp, "nginx.conf")
    snippet = open(os.path.join(ROOT, "deploy", "nginx-media.conf"), encoding="utf-8").read()
    snippet = snippet.replace("/srv/cadre/media/", media.rstrip("/") + "/").replace("aio threads;", "")
    with open(conf, "w") as fh:
        fh.write(f"""
{'user root;' if os.geteuid() == 0 else ''}
worker_processes 2;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fastcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  upstream cadre_app {{ server 127.0.0.1:{app_port}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port};
    {snippet}
    location /direct/ {{ alias {media.rstrip('/')}/; sendfile on; }}
    location / {{
      proxy_pass http://cadre_app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }}
  }}
}}
""")
    p = subprocess.Popen([binary, "-c", conf, "-p", tmp], stderr=subprocess.DEVNULL)
    wait_port(port)
    return p


REFERENCES = {
    "range_last_vs_first": "req/s of a 1 MiB Range at the end ÷ at the start of a 200 MB video (gunicorn); ≈1: it seeks",
    "accel_vs_nginx": "req/s of the app's X-Accel-Redirect answer ÷ nginx serving the file directly (8 MiB ranges)",
    "search_p95_ms_10k": "p95 ms of a catalogue search on a generated 10,000-course index",
    "progress_vs_ping_sqlite": "req/s of progress reports ÷ req/s of GET /healthz, 8 connections, SQLite",
    "progress_vs_ping_postgres": "req/s of progress reports ÷ req/s of GET /healthz, 8 connections, PostgreSQL",
    "progress_p99_ms_50c": "p99 ms of back-to-back progress reports over 50 connections (PostgreSQL)",
    "unit_report_vs_sql_sqlite": "city unit report (50,000 cadres) ÷ the bare SQL it needs, SQLite; aim ≤ 2",
    "unit_report_ms_sqlite": "the city unit report's median ms, SQLite",
    "archive_ms": "a cadre's year archive, median ms over 25 cadres of the city, SQLite",
    "unit_report_vs_sql_postgres": "city unit report (50,000 cadres) ÷ the bare SQL it needs, PostgreSQL; aim ≤ 2",
    "unit_report_ms_postgres": "the city unit report's median ms, PostgreSQL",
    "archive_ms_postgres": "a cadre's year archive, median ms over 25 cadres of the city, PostgreSQL",
    "workers_gthread_vs_sync2": "progress reports req/s (8 connections, PostgreSQL): gunicorn gthread 2×4 ÷ sync 2 "
                                "(deploy/bench_worker_model.py)",
    "workers_gthread_vs_sync5": "the same, gthread 2×4 ÷ sync 5 (gunicorn's classic 2 × cores + 1)",
    "workers_gthread_p99_ms_50c": "p99 ms of progress reports with 50 connections, gthread 2×4",
    "workers_sync5_rss_vs_gthread": "memory (RSS of master and workers): sync 5 ÷ gthread 2×4",
    "watchers_at_p99_200ms": "most concurrent watchers (+1 browser, 1 exam taker per 8) with p99 of all requests "
                             "< 200 ms, 0 errors; production stack, generator on the same machine",
    "load_errors": "failed requests over the whole load run, logins included (must be 0)",
}
PARTS = ("media", "search", "progress", "workers", "load", "report")  # report last: its datasets take minutes the first time
ALIASES = {"range": "media", "accel": "media", "reports": "report"}


def selected_parts() -> list[str]:
    raw = os.environ.get("BENCH_ONLY", "").strip()
    if not raw:
        return list(PARTS)
    wanted = {ALIASES.get(x.strip(), x.strip()) for x in raw.split(",") if x.strip()}
    unknown = wanted - set(PARTS)
    if unknown:
        raise SystemExit(f"BENCH_ONLY: unknown part(s) {', '.join(sorted(unknown))}; parts: {', '.join(PARTS)}")
    return [p for p in PARTS if p in wanted]


def machine() -> dict:
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "?")
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kb = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal:"))
            mem = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gib": mem, "python": sys.version.split()[0],
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}


def table(results: dict[str, str], started: time.struct_time, box: dict, parts: list[str]) -> str:
    lines = [f"## make bench — {time.strftime('%Y-%m-%d %H:%M %Z', started)} — {box['nproc']} × {box['cpu']}, "
             f"{box['memory_gib']} GiB, Python {box['python']}, load average at start "
             f"{' '.join(str(x) for x in box['loadavg_at_start'])} (parts: {', '.join(parts)})",
             "", "| figure | value | ratio of / reference |", "| --- | --- | --- |"]
    for name, value in results.items():
        lines.append(f"| {name} | {value} | {REFERENCES.get(name, '')} |")
    return "\n".join(lines)


def write_json(results: dict[str, str], started: time.struct_time, box: dict, parts: list[str]) -> str:
    folder = os.path.join(ROOT, "instance", "bench")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"results-{time.strftime('%Y-%m-%d', started)}.json")
    doc: dict = {}
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError):
            doc = {}
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z", started)
    figures = {f["name"]: f for f in doc.get("figures", [])}
    for name, value in results.items():
        figures[name] = {"name": name, "value": value, "reference": REFERENCES.get(name, ""), "measured_at": when,
                         "parts": parts}
    order = list(REFERENCES) + sorted(set(figures) - set(REFERENCES))
    doc = {"date": time.strftime("%Y-%m-%d", started), "machine": box, "last_run": {"at": when, "parts": parts},
           "figures": [figures[n] for n in order if n in figures]}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    return path


def media_figures() -> dict[str, str]:
    """range_last_vs_first and accel_vs_nginx."""
    tmp = tempfile.mkdtemp(prefix="cadre-bench-")
    procs: list[subprocess.Popen] = []
    results: dict[str, str] = {}
    try:
        info = setup(tmp)
        port = free_port()
        procs.append(gunicorn(port, {}))
        cookie = login(port)
        first = rate(port, info["url"], {"Cookie": cookie, "Range": f"bytes=0-{MIB - 1}"}, 206, MIB)
        last = rate(port, info["url"], {"Cookie": cookie, "Range": f"bytes={FILE_MB * MIB - MIB}-"}, 206, MIB)
        results["range_last_vs_first"] = f"{last / first:.2f}"
        print(f"  (first MiB {first:.0f} req/s, last MiB {last:.0f} req/s)", file=sys.stderr)

        binary = ensure_nginx()
        if binary is None:
            results["accel_vs_nginx"] = "n/a (nginx could not be installed)"
        else:
            accel_port, nginx_port = free_port(), free_port()
            procs.append(gunicorn(accel_port, {"CADRE_MEDIA_ACCEL": "nginx"}))
            procs.append(nginx(binary, tmp, nginx_port, accel_port, info["media"]))
            # A player asks for open-ended ranges and reads until its buffer is full (tens of
            # seconds of video: several MiB at 720p); 8 MiB is the headline, 1 MiB shows the
            # worst case where the app's per-request check dominates.
            ratios = {}
            for size in (8, 1):
                start = FILE_MB * MIB // 2
                rng = {"Range": f"bytes={start}-{start + size * MIB - 1}"}
                accel = rate(nginx_port, info["url"], {"Cookie": cookie, **rng}, 206, size * MIB)
                direct = rate(nginx_port, "/direct/bench/video.mp4", rng, 206, size * MIB)
                ratios[size] = accel / direct
                print(f"  ({size} MiB ranges: X-Accel-Redirect {accel:.0f} req/s, nginx direct {direct:.0f} req/s,"
                      f" ratio {accel / direct:.2f})", file=sys.stderr)
            results["accel_vs_nginx"] = f"{ratios[8]:.2f}"
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def search_figures() -> dict[str, str]:
    import search_bench

    figures = search_bench.run(10_000, 300)
    print(f"  (search: {figures['docs']} docs indexed in {figures['build_seconds']} s, "
          f"p50 {figures['p50_ms']} ms)", file=sys.stderr)
    return {"search_p95_ms_10k": f"{figures['p95_ms']}"}


def progress_figures() -> dict[str, str]:
    import progress_bench

    return progress_bench.run()


def report_figures() -> dict[str, str]:
    import report_bench

    return report_bench.run()


def workers_figures() -> dict[str, str]:
    sys.path.insert(0, os.path.join(ROOT, "deploy"))
    import bench_worker_model

    return bench_worker_model.run()


def load_figures() -> dict[str, str]:
    import load_bench

    return load_bench.run()


def main() -> int:
    parts = selected_parts()
    started = time.localtime()
    box = machine()
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    runners = {"media": media_figures, "search": search_figures, "progress": progress_figures,
               "report": report_figures, "load": load_figures, "workers": workers_figures}
    results: dict[str, str] = {}
    for part in parts:
        print(f"  (bench: {part}…)", file=sys.stderr, flush=True)
        t0 = time.time()
        got = runners[part]()
        for name, value in got.items():
            print(f"{name}: {value}", flush=True)
        results.update({k: str(v) for k, v in got.items()})
        print(f"  (bench: {part} took {time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    print()
    print(table(results, started, box, parts))
    path = write_json(results, started, box, parts)
    print(f"\n(written to {os.path.relpath(path, ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
