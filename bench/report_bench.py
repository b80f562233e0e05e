"""Reports on the city dataset (`flask demo --size city`: 50,000 cadres, ~290 units, a year of study).

    unit_report_vs_sql_sqlite     time of the city-level unit report (app.reports.unit.unit_report)
                                  ÷ time of the bare SQL aggregations it needs, run directly on the
                                  same database (cadres, study time and participants, time online,
                                  credits per unit for the period; each cadre's name, unit and rank,
                                  and credits by category and hours per cadre for the year).
                                  Median of 5 runs each; aim ≤ 2.
    unit_report_vs_sql_postgres   the same on PostgreSQL (127.0.0.1:5432).
    unit_report_ms_sqlite/postgres the report's own median time.
    archive_ms                    a person's learning archive (app.reports.archive.person_archive) for
                                  the year, median over ARCHIVE_SAMPLE cadres spread across the city
                                  (SQLite; archive_ms_postgres on PostgreSQL).

The datasets take minutes to generate, so they are kept between runs: SQLite in
instance/bench/city-<cadres>.sqlite3, PostgreSQL in the database cadre_bench_city_<cadres>
(delete them to regenerate). BENCH_CITY_CADRES sets the size (default 50,000).

    .venv/bin/python bench/report_bench.py          # alone; `make bench` runs it too
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import date

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
CADRES = int(os.environ.get("BENCH_CITY_CADRES", "50000"))
RUNS = 5
ARCHIVE_SAMPLE = 25
PG_BASE = "postgresql://postgres@127.0.0.1:5432"  # the app maps it to the psycopg 3 driver
PG_DRIVER = "postgresql+psycopg://postgres@127.0.0.1:5432"

BARE_SQL = {
    "cadres": "SELECT u.unit_id, count(u.id) FROM users u WHERE u.role = 'cadre' AND u.is_active GROUP BY u.unit_id",
    "members": "SELECT u.id, u.name, u.unit_id, n.name, c.rank FROM users u JOIN cadres c ON c.user_id = u.id "
               "JOIN units n ON n.id = u.unit_id WHERE u.role = 'cadre' AND u.is_active",
    "study": "SELECT u.unit_id, count(DISTINCT s.user_id), sum(s.seconds) FROM study_days s JOIN users u ON u.id = s.user_id "
             "WHERE u.role = 'cadre' AND u.is_active AND s.day BETWEEN :start AND :end GROUP BY u.unit_id",
    "online": "SELECT u.unit_id, sum(o.seconds) FROM online_days o JOIN users u ON u.id = o.user_id "
              "WHERE u.role = 'cadre' AND u.is_active AND o.day BETWEEN :start AND :end GROUP BY u.unit_id",
    "credits": "SELECT u.unit_id, sum(e.credits) FROM credit_entries e JOIN users u ON u.id = e.user_id "
               "WHERE u.role = 'cadre' AND u.is_active AND e.earned_on BETWEEN :start AND :end GROUP BY u.unit_id",
    "by_category": "SELECT e.user_id, e.year, sum(CASE WHEN e.category = 'basic' THEN e.credits ELSE 0 END), "
                   "sum(CASE WHEN e.category = 'additional' THEN e.credits ELSE 0 END), "
                   "sum(CASE WHEN e.category = 'reward' THEN e.credits ELSE 0 END), "
                   "sum(CASE WHEN e.category = 'adjustment' THEN e.credits ELSE 0 END), sum(e.hours) "
                   "FROM credit_entries e WHERE e.year = :year GROUP BY e.user_id, e.year",
}


def _env(url: str) -> dict:
    return {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi.py", "CADRE_ENV": "development",
            "CADRE_MEDIA_ROOT": os.path.join(ROOT, "instance", "bench", "media"),
            "CADRE_SEARCH_INDEX_DIR": os.path.join(ROOT, "instance", "bench", "index"), "PYTHONUNBUFFERED": "1"}


def _flask(url: str, *args: str) -> None:
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "flask"), *args], cwd=ROOT, env=_env(url),
                   check=True, stdout=sys.stderr)


def ensure_sqlite() -> str:
    folder = os.path.join(ROOT, "instance", "bench")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"city-{CADRES}.sqlite3")
    url = f"sqlite:///{path}"
    if not os.path.exists(path + ".ready"):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        print(f"generating the SQLite city ({CADRES} cadres; minutes)…", file=sys.stderr)
        _flask(url, "db", "upgrade")
        _flask(url, "demo", "--size", "city", "--cadres", str(CADRES))
        open(path + ".ready", "w").close()
    else:
        _flask(url, "db", "upgrade")  # a dataset kept from an earlier run: bring its schema to the head
    return url


def ensure_postgres() -> str | None:
    from sqlalchemy import create_engine, text

    name = f"cadre_bench_city_{CADRES}"
    try:
        admin = create_engine(f"{PG_DRIVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            ready = False
            if exists:
                eng = create_engine(f"{PG_DRIVER}/{name}")
                with eng.connect() as d:
                    ready = bool(d.execute(text("SELECT to_regclass('public.bench_ready')")).scalar())
                eng.dispose()
            if not ready:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:  # noqa: BLE001 — no PostgreSQL here: skip that half
        print(f"  (PostgreSQL unreachable: {exc.__class__.__name__}; skipped)", file=sys.stderr)
        return None
    url = f"{PG_BASE}/{name}"
    if not ready:
        print(f"generating the PostgreSQL city ({CADRES} cadres; minutes)…", file=sys.stderr)
        _flask(url, "db", "upgrade")
        _flask(url, "demo", "--size", "city", "--cadres", str(CADRES))
        eng = create_engine(f"{PG_DRIVER}/{name}")
        with eng.begin() as d:
            d.execute(text("ANALYZE"))
            d.execute(text("CREATE TABLE bench_ready (at timestamptz DEFAULT now())"))
        eng.dispose()
    else:
        _flask(url, "db", "upgrade")
    return url


def _median(fn) -> float:
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(url: str) -> dict:
    """(report seconds, bare SQL seconds) on one database, in a fresh app."""
    os.environ.update(_env(url))
    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1)})
    with app.test_request_context():
        from sqlalchemy import select, text

        from app.accounts.models import Unit, User
        from app.extensions import db
        from app.reports.unit import unit_report

        admin = db.session.scalar(select(User).where(User.username == "admin"))
        root = db.session.scalar(select(Unit).where(Unit.parent_id.is_(None)))
        year = db.session.scalar(text("SELECT max(year) FROM credit_entries"))
        end = min(date.today(), date(year, 12, 31))
        start = date(year, 1, 1)
        params = {"start": start, "end": end, "year": year}
        conn = db.session.connection()

        def bare():
            for sql in BARE_SQL.values():
                conn.execute(text(sql), params).all()

        def report():
            r = unit_report(admin, root, start, end)
            db.session.expire_all()
            return r

        from app.reports.archive import person_archive

        step = max(1, db.session.scalar(text("SELECT count(*) FROM cadres")) // ARCHIVE_SAMPLE)
        sample = [db.session.get(User, uid) for uid in db.session.scalars(
            text("SELECT user_id FROM cadres ORDER BY user_id")).all()[::step][:ARCHIVE_SAMPLE]]
        person_archive(admin, sample[0], year)  # warm
        archive_times = []
        for cadre in sample:
            t = time.perf_counter()
            person_archive(admin, cadre, year)
            archive_times.append(time.perf_counter() - t)
        t_archive = statistics.median(archive_times)

        report()
        bare()  # warm both
        r = report()
        t_report = _median(report)
        t_sql = _median(bare)
        print(f"  ({db.engine.dialect.name}: {r.figures.cadres} cadres, {len(r.sub_units)} districts, qualified "
              f"{r.figures.qualified_rate:.1%}, report {t_report * 1000:.0f} ms, bare SQL {t_sql * 1000:.0f} ms, "
              f"archive {t_archive * 1000:.0f} ms)",
              file=sys.stderr)
        db.session.remove()
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()
    return {"report": t_report, "sql": t_sql, "archive": t_archive}


def run() -> dict:
    out = {}
    sqlite = measure(ensure_sqlite())
    out["unit_report_vs_sql_sqlite"] = round(sqlite["report"] / sqlite["sql"], 2)
    out["unit_report_ms_sqlite"] = round(sqlite["report"] * 1000)
    out["archive_ms"] = round(sqlite["archive"] * 1000, 1)
    pg_url = ensure_postgres()
    if pg_url:
        pg = measure(pg_url)
        out["unit_report_vs_sql_postgres"] = round(pg["report"] / pg["sql"], 2)
        out["unit_report_ms_postgres"] = round(pg["report"] * 1000)
        out["archive_ms_postgres"] = round(pg["archive"] * 1000, 1)
    return out


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}: {value}")
