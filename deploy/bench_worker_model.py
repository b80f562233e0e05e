"""Which gunicorn worker model for production: gthread (deploy/gunicorn.conf.py) against sync.

Each configuration gets a fresh PostgreSQL database (127.0.0.1:5432) prepared as
bench/progress_bench.py does (50 cadres logged in with their own watch sessions, a 10-hour lesson),
and gunicorn started with deploy/gunicorn.conf.py, the worker settings overridden on the command
line. Measured, straight to gunicorn on loopback, with bench/progress_bench.py's clients:
GET /healthz and progress reports (POST …/reports, operation reportWatchProgress) with 8 keep-alive
connections (req/s), then progress reports with 50 connections (req/s, p50, p99); then a morning
mix: 3 connections logging in back to back (argon2id at the production cost, ~0.5 s each) while
8 connections ask for /healthz (its p99 shows whether short requests wait behind slow ones); and
the memory of the master and its workers (RSS) at the end.

    .venv/bin/python deploy/bench_worker_model.py      (about 3 minutes; BENCH_SECONDS=4 by default)

The client is Python threads on the same 2 cores, so the figures include its overhead; they compare
the models with each other, not with a real city's traffic.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "bench")]

import progress_bench as pb  # noqa: E402
import run as base  # noqa: E402

CONFIGS = [  # label, gunicorn arguments after -c deploy/gunicorn.conf.py
    ("gthread 2×4", ["--worker-class", "gthread", "--workers", "2", "--threads", "4"]),
    ("sync 2", ["--worker-class", "sync", "--workers", "2"]),
    ("sync 5", ["--worker-class", "sync", "--workers", "5"]),
]


def gunicorn(port: int, env: dict, args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, **env, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_ACCESS_LOG="")
    p = subprocess.Popen([os.path.join(base.VENV_BIN, "gunicorn"), "--config", "deploy/gunicorn.conf.py", *args,
                          "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    base.wait_port(port)
    return p


def rss_mib(master: int) -> float:
    """Resident memory of the master and its children, MiB."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = open(f"/proc/{pid}/status").read()
        except OSError:
            continue
        ppid = int(status.split("PPid:")[1].split()[0])
        if int(pid) == master or ppid == master:
            total += int(status.split("VmRSS:")[1].split()[0])
    return total / 1024


def one(label: str, args: list[str], tmp: str) -> dict:
    db = f"cadre_bench_wm_{os.getpid()}"
    pb.pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    pb.pg_admin(f'CREATE DATABASE "{db}"')
    url = f"postgresql://postgres@{pb.PG_HOST}:{pb.PG_PORT}/{db}"
    work = os.path.join(tmp, label.replace(" ", "_").replace("×", "x"))
    os.makedirs(work)
    proc = None
    try:
        info = pb.setup(url, work, pb.P99_CLIENTS)
        env = {"DATABASE_URL": url, "CADRE_ENV": "development", "CADRE_MEDIA_ROOT": os.path.join(work, "media"),
               "CADRE_SEARCH_INDEX_DIR": os.path.join(work, "index"),
               "CADRE_LEARNING_CHECK_MIN_MINUTES": "100000", "CADRE_LEARNING_CHECK_MAX_MINUTES": "100000",
               "CADRE_RATELIMIT_PER_USER": "1000000 per minute"}  # the budget checked, out of reach
        port = base.free_port()
        proc = gunicorn(port, env, args)
        clients = [pb.Client(port) for _ in range(pb.P99_CLIENTS)]
        clients[0].open_session(*info["cadres"][0], info["lesson_id"])
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda i: clients[i].open_session(*info["cadres"][i], info["lesson_id"]),
                          range(1, pb.P99_CLIENTS)))
        pings = [pb.Client(port) for _ in range(pb.RATIO_CLIENTS)]
        ping_rps, _ = pb.measure([c.ping for c in pings])
        report_rps, _ = pb.measure([c.report for c in clients[:pb.RATIO_CLIENTS]])
        rps50, lats = pb.measure([c.report for c in clients], latencies=True)
        # morning mix: logins (slow, argon2) beside short requests
        logins = [pb.Client(port) for _ in range(3)]

        def login_job(c=None, i=0):
            return c.call("POST", "/api/v1/auth/login", {"login": info["cadres"][i][0], "password": pb.NEW_PASSWORD})

        jobs = [(lambda c=c, i=i: login_job(c, i)) for i, c in enumerate(logins)]
        short = [pb.Client(port) for _ in range(pb.RATIO_CLIENTS)]
        mixed = {}

        def run_logins():
            mixed["logins"] = pb.drive(jobs, base.SECONDS + 0.5)[0]

        import threading

        t = threading.Thread(target=run_logins)
        t.start()
        time.sleep(0.5)
        ping_mixed, ping_lats = pb.drive([c.ping for c in short], base.SECONDS, latencies=True)
        t.join()
        rss = rss_mib(proc.pid)
        out = {"ping": ping_rps, "report8": report_rps, "report50": rps50, "p50": pb.percentile(lats, 50),
               "p99": pb.percentile(lats, 99), "n": len(lats), "mixed_p99": pb.percentile(ping_lats, 99),
               "logins": mixed["logins"], "rss": rss}
        pb.log(f"  {label:<12} /healthz {ping_rps:5.0f} req/s | reports: 8 conn {report_rps:4.0f} req/s; "
               f"50 conn {rps50:4.0f} req/s, p50 {out['p50']:5.0f} ms, p99 {out['p99']:5.0f} ms | "
               f"logins {mixed['logins']:.1f}/s beside /healthz {ping_mixed:4.0f} req/s, p99 {out['mixed_p99']:4.0f} ms | "
               f"RSS {rss:.0f} MiB")
        return out
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
        pb.pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def run() -> dict[str, str]:
    """The three models measured; `make bench` (part `workers`) prints these ratios."""
    why = pb.pg_reachable()
    if why:
        return {"workers_gthread_vs_sync2": f"n/a (PostgreSQL needed: {why})"}
    pb.log(f"  worker models on PostgreSQL, {base.SECONDS:g} s per figure after a {pb.WARM_SECONDS} s warm-up")
    tmp = tempfile.mkdtemp(prefix="cadre-workermodel-")
    try:
        got = {label: one(label, args, tmp) for label, args in CONFIGS}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    g, s2, s5 = got["gthread 2×4"], got["sync 2"], got["sync 5"]
    return {"workers_gthread_vs_sync2": f"{g['report8'] / s2['report8']:.2f}",
            "workers_gthread_vs_sync5": f"{g['report8'] / s5['report8']:.2f}",
            "workers_gthread_p99_ms_50c": f"{g['p99']:.0f}",
            "workers_sync5_rss_vs_gthread": f"{s5['rss'] / g['rss']:.2f}"}


def main() -> int:
    why = pb.pg_reachable()
    if why:
        print(f"PostgreSQL needed: {why}", file=sys.stderr)
        return 1
    pb.log(f"worker models on PostgreSQL, {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} cores, "
           f"{base.SECONDS:g} s per figure after a {pb.WARM_SECONDS} s warm-up")
    pb.log(f"  (load average before: {open('/proc/loadavg').read().split()[0]})")
    tmp = tempfile.mkdtemp(prefix="cadre-workermodel-")
    try:
        for label, args in CONFIGS:
            one(label, args, tmp)
        pb.log(f"  (load average after: {open('/proc/loadavg').read().split()[0]})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
