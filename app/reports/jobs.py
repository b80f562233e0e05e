"""Background jobs of the reports: building exports, and removing them after a week."""
from __future__ import annotations

from huey import crontab

from app.db import commit
from app.jobs import job, periodic_job
from app.reports import export_jobs


@job
def build_report_export(export_id: int) -> str:
    return export_jobs.run_export(export_id)


@periodic_job(crontab(hour="3", minute="20"))
def expire_report_exports() -> int:
    n = export_jobs.expire_exports()
    commit()
    return n
