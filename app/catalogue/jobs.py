"""Background jobs of the catalogue: transcoding uploaded lesson videos."""
from __future__ import annotations

from app.catalogue.uploads import transcode_job
from app.extensions import db
from app.jobs import job


@job
def transcode_lesson_video(job_id: int):
    """Transcode a queued upload; progress is committed as it moves so pages can show it."""
    transcode_job(job_id, on_commit=db.session.commit)
