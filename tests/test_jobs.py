"""The worker process must know every task the web process can enqueue."""
import subprocess
import sys
from pathlib import Path


def test_worker_registry_knows_the_roster_import_task():
    # A fresh interpreter, as `flask worker` is: only what load_job_modules imports is known.
    code = ("from app.jobs import load_job_modules; "
            "print('app.accounts.jobs.run_roster_import' in load_job_modules())")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "True"


def test_worker_registry_knows_the_exam_sweep():
    code = ("from app.jobs import load_job_modules, huey; load_job_modules(); "
            "print([t.__name__ for t in huey._registry._periodic_tasks])")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert "close_overdue_exam_attempts" in out
