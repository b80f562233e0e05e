"""Video uploads: a real ffmpeg transcode publishes the lesson video; bad files publish nothing."""
from __future__ import annotations

import io
import os
import subprocess

import pytest

from app.catalogue import media
from app.catalogue.models import Lesson, MediaJob
from app.extensions import db


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> bytes:
    """A 2-second 640x480 clip without audio, made with ffmpeg."""
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=640x480:rate=25:duration=2",
                    "-c:v", "mpeg4", "-q:v", "5", "-y", str(path)], check=True)
    return path.read_bytes()


def _upload(api, lesson_id, data, name="clip.avi", **form):
    return api.post(f"/api/v1/lessons/{lesson_id}/video", content_type="multipart/form-data",
                    data={"file": (io.BytesIO(data), name), **{k: str(v) for k, v in form.items()}})


def test_chunked_upload_is_transcoded_and_replaces_the_lesson_video(app, org_api, catalogue, tiny_clip, ctx):
    old_asset = catalogue.asset
    half = len(tiny_clip) // 2
    r = _upload(org_api, catalogue.lesson, tiny_clip[:half], total_size=len(tiny_clip))
    assert r.status_code == 202, r.json
    assert r.json["state"] == "uploading" and r.json["received_bytes"] == half
    # A retried chunk at a stale offset is refused with the offset to resume from.
    stale = _upload(org_api, catalogue.lesson, tiny_clip[:half], upload_id=r.json["id"], offset=0)
    assert stale.status_code == 409 and stale.json["received"] == half
    done = _upload(org_api, catalogue.lesson, tiny_clip[half:], upload_id=r.json["id"], offset=half)
    assert done.status_code == 202, done.json
    job = org_api.get(f"/api/v1/media-jobs/{r.json['id']}").json  # the job ran (immediate queue in tests)
    assert job["state"] == "succeeded" and job["progress"] == 100 and job["error"] is None
    assert 1.5 < job["duration"] < 2.6
    lesson = db.session.get(Lesson, catalogue.lesson)
    db.session.refresh(lesson)
    assert lesson.video_id != old_asset and lesson.video.height == 480 and lesson.video.origin == "upload"
    produced = os.path.join(app.config["MEDIA_ROOT"], lesson.video.video_relpath)
    info = media.probe(produced)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    with open(os.path.join(app.config["MEDIA_ROOT"], lesson.video.poster_relpath), "rb") as fh:
        assert fh.read(3) == b"\xff\xd8\xff"
    # the original stays where it was received
    assert os.path.getsize(os.path.join(app.config["MEDIA_ROOT"], db.session.get(MediaJob, job["id"]).original_relpath)) == len(tiny_clip)
    # and the new video is served
    video = org_api.get(job["video_url"])
    assert video.status_code == 200 and video.data[4:8] == b"ftyp"


def test_a_renamed_text_file_is_rejected_with_a_reason_and_nothing_is_published(app, org_api, catalogue, ctx):
    r = _upload(org_api, catalogue.lesson, "这不是视频,只是改了扩展名的文本文件。\n".encode() * 50, name="lecture.mp4")
    assert r.status_code == 422
    assert r.content_type.startswith("application/problem+json")
    assert "视频" in r.json["detail"] and r.json["field"] == "file"
    job = db.session.get(MediaJob, r.json["job_id"])
    assert job.state.value == "failed" and job.error == r.json["detail"]
    assert os.path.exists(os.path.join(app.config["MEDIA_ROOT"], job.original_relpath))  # original kept
    lesson = db.session.get(Lesson, catalogue.lesson)
    db.session.refresh(lesson)
    assert lesson.video_id == catalogue.asset


def test_wrong_extension_and_oversize_are_refused_before_storing(app, org_api, catalogue, ctx):
    r = _upload(org_api, catalogue.lesson, b"%PDF-1.4", name="slides.pdf")
    assert r.status_code == 400 and r.json["code"] == "not_video"
    r = _upload(org_api, catalogue.lesson, b"x" * 10, total_size=app.config["VIDEO_MAX_BYTES"] + 1)
    assert r.status_code == 400 and r.json["code"] == "too_large"
    assert db.session.scalar(db.select(db.func.count(MediaJob.id))) == 0


def test_only_the_organisation_department_uploads(cadre_api, catalogue, tiny_clip):
    r = _upload(cadre_api, catalogue.lesson, tiny_clip)
    assert r.status_code == 403
    assert cadre_api.get("/api/v1/media-jobs/1").status_code == 403


def test_transcode_failure_keeps_the_original_and_says_why(app, ctx, world, catalogue, monkeypatch, tiny_clip):
    from app.accounts.models import User
    from app.catalogue import uploads

    def broken(*a, **kw):
        raise media.MediaError("转码失败:测试注入的错误")

    monkeypatch.setattr(media, "transcode", broken)
    org = db.session.get(User, world.orgadmin)
    lesson = db.session.get(Lesson, catalogue.lesson)
    clip = tiny_clip
    job = uploads.upload_whole(org, lesson, "a.avi", io.BytesIO(clip), len(clip))
    db.session.commit()
    from app.db import commit
    commit()  # runs the queued job
    db.session.refresh(job)
    assert job.state.value == "failed" and "测试注入的错误" in job.error
    assert lesson.video_id == catalogue.asset
    assert os.path.getsize(os.path.join(app.config["MEDIA_ROOT"], job.original_relpath)) == len(clip)


def test_a_job_whose_worker_died_is_failed_and_the_lesson_takes_a_new_upload(app, ctx, world, catalogue, tiny_clip):
    from datetime import timedelta

    from app.accounts.models import User
    from app.catalogue import uploads
    from app.catalogue.models import MediaJobState
    from app.db import utcnow

    org = db.session.get(User, world.orgadmin)
    lesson = db.session.get(Lesson, catalogue.lesson)
    job = uploads.start_upload(org, lesson, "a.avi", len(tiny_clip))
    job.state = MediaJobState.RUNNING  # as a worker leaves it when killed mid-transcode
    db.session.flush()
    with pytest.raises(uploads.Conflict):
        uploads.start_upload(org, lesson, "b.avi", len(tiny_clip))
    db.session.execute(db.update(MediaJob).where(MediaJob.id == job.id)
                       .values(updated_at=utcnow() - timedelta(minutes=app.config["MEDIA_JOB_STALE_MINUTES"] + 1)))
    db.session.expire_all()
    fresh = uploads.start_upload(org, lesson, "b.avi", len(tiny_clip))
    old = db.session.get(MediaJob, job.id)
    assert old.state == MediaJobState.FAILED and "转码中断" in old.error
    assert fresh.state == MediaJobState.UPLOADING


def test_a_first_chunk_refused_leaves_no_job_and_no_file(app, org_api, catalogue, ctx):
    originals = os.path.join(app.config["MEDIA_ROOT"], "originals")
    before = set(os.listdir(originals)) if os.path.isdir(originals) else set()
    r = _upload(org_api, catalogue.lesson, b"x" * 100, total_size=10)
    assert r.status_code == 400 and r.json["code"] == "too_large"
    after = set(os.listdir(originals)) if os.path.isdir(originals) else set()
    assert after == before
    assert db.session.scalar(db.select(db.func.count(MediaJob.id))) == 0
