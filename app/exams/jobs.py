"""Background jobs of the exams: closing attempts whose time ran out, so that an abandoned attempt
is graded (and a pass earns its credits) even if the cadre never comes back."""
from __future__ import annotations

from huey import crontab

from app.db import commit
from app.exams import services
from app.jobs import periodic_job


def sweep_overdue_attempts() -> int:
    """Close every overdue attempt in batches; how many were closed."""
    total = 0
    while True:
        n = services.close_overdue_attempts(limit=200)
        commit()
        total += n
        if n < 200:
            return total


@periodic_job(crontab(minute="*"))
def close_overdue_exam_attempts():
    return sweep_overdue_attempts()
