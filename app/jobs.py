"""Background jobs on huey: SQLite storage by default (no server), Redis across machines,
immediate (in-process) for tests. ``flask worker`` runs the consumer."""
from __future__ import annotations

import functools
import os

from flask import Flask, has_app_context
from huey import MemoryHuey
from huey.storage import RedisStorage, SqliteStorage

# Storage is chosen in init_app from the configuration; memory until then.
huey = MemoryHuey("cadre", immediate=True)
_worker_app: Flask | None = None


def init_app(app: Flask) -> None:
    backend = app.config["JOBS_BACKEND"]
    if backend == "immediate":
        huey.immediate = True
        return
    huey.immediate = False
    if backend == "redis":
        huey.storage = RedisStorage(name="cadre", url=app.config["REDIS_URL"])
    elif backend == "sqlite":
        path = os.path.join(app.instance_path, "jobs.sqlite3")
        huey.storage = SqliteStorage(name="cadre", filename=path)
    else:
        raise RuntimeError(f"unknown JOBS_BACKEND {backend!r}")


def job(fn):
    """A huey task that runs inside a Flask app context and commits/rolls back its own work."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if has_app_context():
            return fn(*args, **kwargs)
        assert _worker_app is not None, "worker app not set"
        with _worker_app.app_context():
            from app.extensions import db

            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()

    return huey.task(name=fn.__name__)(run)


def periodic_job(schedule):
    """A huey periodic task (run by ``flask worker``) inside an app context; it commits its own work."""

    def wrap(fn):
        @functools.wraps(fn)
        def run():
            assert _worker_app is not None, "worker app not set"
            with _worker_app.app_context():
                from app.extensions import db

                try:
                    return fn()
                finally:
                    db.session.remove()

        return huey.periodic_task(schedule, name=fn.__name__)(run)

    return wrap


# Every module that defines jobs; the worker imports them so that its registry knows the tasks.
JOB_MODULES = ("app.accounts.jobs", "app.catalogue.jobs", "app.exams.jobs", "app.reports.jobs")


def load_job_modules() -> set[str]:
    import importlib

    for name in JOB_MODULES:
        importlib.import_module(name)
    return set(huey._registry._registry)


def run_worker(app: Flask, workers: int = 2) -> None:
    from huey.consumer import Consumer

    global _worker_app
    _worker_app = app
    load_job_modules()
    Consumer(huey, workers=workers, worker_type="thread", periodic=bool(app.config["JOBS_PERIODIC"])).run()


