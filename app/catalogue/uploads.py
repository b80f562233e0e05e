"""Lesson video uploads: whole or in chunks (resumable), checked with ffprobe, then transcoded by
a background job that publishes the lesson's video only when everything succeeded."""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import timedelta
from typing import BinaryIO

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from app.accounts.models import Role, User
from app.accounts.scope import require_role
from app.audit.services import CLI, Origin, record_event
from app.catalogue import media
from app.catalogue.models import Lesson, MediaJob, MediaJobState, VideoAsset
from app.db import enqueue_after_commit, utcnow
from app.errors import Conflict, Invalid, NotFound, storage_write
from app.extensions import db

VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".3gp"}
ACTIVE_STATES = (MediaJobState.UPLOADING, MediaJobState.QUEUED, MediaJobState.RUNNING)


def media_path(relpath: str) -> str:
    return os.path.join(current_app.config["MEDIA_ROOT"], relpath)


def _safe_name(filename: str) -> str:
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    return name[:255] or "video"


def get_job(actor: User, job_id: int) -> MediaJob:
    require_role(actor, Role.ORGADMIN)
    job = db.session.get(MediaJob, job_id)
    if job is None:
        raise NotFound(_("任务不存在"))
    fail_if_stale(job)
    return job


def fail_if_stale(job: MediaJob) -> bool:
    """A running job that stopped moving lost its worker: fail it (the original is kept)."""
    limit = timedelta(minutes=current_app.config["MEDIA_JOB_STALE_MINUTES"])
    if job.state == MediaJobState.QUEUED:
        limit = timedelta(hours=current_app.config["MEDIA_JOB_QUEUE_STALE_HOURS"])
    if job.state in (MediaJobState.RUNNING, MediaJobState.QUEUED) and utcnow() - job.updated_at > limit:
        _fail(job, _("转码中断:后台任务长时间没有进展(后台进程可能已重启),原文件已保留,请重新上传"))
        return True
    return False


def latest_job(lesson: Lesson) -> MediaJob | None:
    return db.session.scalar(select(MediaJob).where(MediaJob.lesson_id == lesson.id).order_by(MediaJob.id.desc()))


def start_upload(actor: User, lesson: Lesson, filename: str, total_bytes: int, *, origin: Origin = CLI) -> MediaJob:
    """Open an upload for a lesson; the file then arrives in one or more chunks."""
    require_role(actor, Role.ORGADMIN)
    limit = current_app.config["VIDEO_MAX_BYTES"]
    name = _safe_name(filename)
    if os.path.splitext(name)[1].lower() not in VIDEO_EXTENSIONS:
        raise Invalid(_("请上传视频文件(mp4、mov、mkv、webm、avi、wmv、flv、mpg 等)"), field="file", code="not_video")
    if not isinstance(total_bytes, int) or total_bytes <= 0:
        raise Invalid(_("文件为空"), field="file", code="empty")
    if total_bytes > limit:
        raise Invalid(_("视频文件不能超过 %(mb)s MB", mb=limit // (1024 * 1024)), field="file", code="too_large")
    busy = db.session.scalar(select(MediaJob).where(MediaJob.lesson_id == lesson.id,
                                                   MediaJob.state.in_([MediaJobState.QUEUED, MediaJobState.RUNNING])))
    if busy is not None and fail_if_stale(busy):
        busy = None
    if busy is not None:
        raise Conflict(_("该课时的视频正在转码,请等待完成后再上传"), code="busy", job_id=busy.id)
    job = MediaJob(lesson=lesson, state=MediaJobState.UPLOADING, original_name=name, total_bytes=total_bytes,
                   received_bytes=0, created_by_id=actor.id)
    db.session.add(job)
    db.session.flush()
    job.original_relpath = f"originals/{job.id:06d}-{uuid.uuid4().hex[:8]}/original{os.path.splitext(name)[1].lower()}"
    with storage_write(cleanup=lambda: discard_original(job)):
        os.makedirs(os.path.dirname(media_path(job.original_relpath)), exist_ok=True)
        open(media_path(job.original_relpath), "wb").close()
    record_event(actor, "video.upload", target=lesson, target_label=f"{lesson.course.title} · {lesson.title}",
                 origin=origin, job_id=job.id, filename=name, bytes=total_bytes)
    return job


def append_chunk(actor: User, job: MediaJob, offset: int, stream: BinaryIO) -> MediaJob:
    """Append bytes at `offset`, which must equal what was received so far (a retried chunk gets a
    409 that tells the client where to resume). The last chunk triggers the check and the job."""
    require_role(actor, Role.ORGADMIN)
    # Claim the upload at this offset with a write (row lock on PostgreSQL, the write lock on
    # SQLite): of two requests carrying the same chunk, the second finds the offset moved on.
    claimed = db.session.execute(
        update(MediaJob).where(MediaJob.id == job.id, MediaJob.state == MediaJobState.UPLOADING,
                               MediaJob.received_bytes == offset)
        .values(received_bytes=offset).execution_options(synchronize_session=False))
    db.session.refresh(job)
    if claimed.rowcount != 1:
        if job.state != MediaJobState.UPLOADING:
            raise Conflict(_("该上传已结束"), code="upload_closed", received=job.received_bytes,
                           job_id=job.id, state=job.state.value)
        raise Conflict(_("分片位置不符:服务器已收到 %(n)s 字节,请从该位置继续", n=job.received_bytes),
                       code="offset_mismatch", received=job.received_bytes)
    path = media_path(job.original_relpath)
    remaining = job.total_bytes - job.received_bytes
    written = 0
    # A full disk: the chunk's bytes are dropped again (the upload resumes from `offset` once there
    # is room), and the client hears 507 instead of a 500.
    with storage_write(cleanup=lambda: os.truncate(path, offset)):
        with open(path, "r+b") as out:
            out.seek(offset)
            out.truncate()
            while True:
                block = stream.read(1024 * 1024)
                if not block:
                    break
                written += len(block)
                if written > remaining:
                    out.truncate(offset)
                    raise Invalid(_("上传的数据超过了声明的文件大小"), field="file", code="too_large")
                out.write(block)
    if written == 0:
        raise Invalid(_("分片为空"), field="file", code="empty")
    job.received_bytes += written
    if job.received_bytes == job.total_bytes:
        _finish_upload(job)
    return job


def discard_original(job: MediaJob) -> None:
    """Remove the received file of an upload whose job is being rolled back."""
    path = media_path(job.original_relpath)
    try:
        os.remove(path)
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass


def upload_whole(actor: User, lesson: Lesson, filename: str, stream: BinaryIO, size: int, *,
                 origin: Origin = CLI) -> MediaJob:
    job = start_upload(actor, lesson, filename, size, origin=origin)
    try:
        return append_chunk(actor, job, 0, stream)
    except BaseException:
        discard_original(job)  # the caller rolls the job back: leave no file behind
        raise


def _finish_upload(job: MediaJob) -> None:
    """Check the file with ffprobe; a good one is queued for transcoding, a bad one fails at once."""
    try:
        media.probe(media_path(job.original_relpath))
    except media.MediaError as err:
        _fail(job, err.reason)
        return
    job.state = MediaJobState.QUEUED
    db.session.flush()
    from app.catalogue.jobs import transcode_lesson_video

    # The job must see the committed row: enqueue after the commit (immediate mode runs it then too).
    enqueue_after_commit(transcode_lesson_video, job.id)


def _fail(job: MediaJob, reason: str) -> None:
    job.state = MediaJobState.FAILED
    job.error = reason
    job.finished_at = utcnow()
    record_event(None, "video.failed", target=job.lesson, target_label=job.lesson.title, job_id=job.id, reason=reason)


def transcode_job(job_id: int, on_commit) -> None:
    """Run one queued job: transcode, then publish the lesson video; any failure keeps the original."""
    # Only one worker runs a job: the QUEUED → RUNNING step is a conditional write.
    claimed = db.session.execute(
        update(MediaJob).where(MediaJob.id == job_id, MediaJob.state == MediaJobState.QUEUED)
        .values(state=MediaJobState.RUNNING, started_at=utcnow(), progress=0, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    on_commit()
    if claimed.rowcount != 1:
        return
    job = db.session.get(MediaJob, job_id)
    db.session.refresh(job)
    rel_dir = f"videos/{uuid.uuid4().hex[:2]}/{uuid.uuid4().hex}"
    dest = media_path(rel_dir)
    os.makedirs(dest, exist_ok=True)

    def progress(pct: int) -> None:
        pct = max(0, min(99, pct))  # 100 only once the lesson is published
        if pct > job.progress:
            job.progress = pct
            on_commit()

    try:
        result = media.transcode(media_path(job.original_relpath), dest, progress,
                                 max_height=current_app.config["VIDEO_MAX_HEIGHT"])
    except media.MediaError as err:
        shutil.rmtree(dest, ignore_errors=True)
        _fail(job, err.reason)
        on_commit()
        return
    except Exception as exc:  # keep the original and say why, whatever happened
        shutil.rmtree(dest, ignore_errors=True)
        _fail(job, _("转码失败:%(e)s", e=str(exc)[:300]))
        on_commit()
        return
    db.session.refresh(job)
    if job.state != MediaJobState.RUNNING:  # declared stale meanwhile: a newer upload may own the lesson
        shutil.rmtree(dest, ignore_errors=True)
        return
    asset = VideoAsset(storage_dir=rel_dir, duration=result.duration, width=result.width, height=result.height,
                       size_bytes=result.size_bytes, origin="upload")
    db.session.add(asset)
    db.session.flush()
    lesson = job.lesson
    lesson.video = asset
    lesson.video_source = f"upload:{job.id}"
    job.asset = asset
    job.state = MediaJobState.SUCCEEDED
    job.progress = 100
    job.finished_at = utcnow()
    record_event(None, "video.publish", target=lesson, target_label=f"{lesson.course.title} · {lesson.title}",
                 job_id=job.id, duration=round(result.duration, 1), height=result.height)
    on_commit()
