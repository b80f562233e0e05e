"""A full disk during an upload: the three kinds of uploaded file (papers, credit evidence, lesson
videos) are written to a small tmpfs mounted over their folder and filled up with a ballast file,
so the upload runs out of space half-way. The answer is 507 (Insufficient Storage) with a Chinese
message, no partial file is left, no row is created, the audit log is unchanged; once the ballast
is removed, the same upload succeeds (a video upload resumes at the chunk that failed).

Needs root for `mount -t tmpfs`; without it the test is skipped and says why."""
from __future__ import annotations

import io
import os
import subprocess
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.catalogue.models import MediaJob, MediaJobState
from app.credits.models import CreditApplication
from app.exams.models import Paper, PaperVersion
from app.extensions import db
from tests.catalogue.conftest import _cadre_login, catalogue, org_api, sample_files  # noqa: F401
from tests.exams.conftest import exam_course  # noqa: F401

TMPFS_BYTES = 1024 * 1024
MESSAGE = "服务器存储空间不足,文件未保存;请稍后再试或联系管理员"


@contextmanager
def small_disk(path: str, size: int = TMPFS_BYTES):
    """A tmpfs of `size` bytes mounted over `path` (whatever was there is hidden meanwhile), unmounted
    at the end whatever happened."""
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root: the full-disk test cannot run as this user")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", path],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", path], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", path], capture_output=True)


def fill(path: str, leave: int) -> str:
    """A ballast file that leaves about `leave` bytes free on the file system of `path`."""
    st = os.statvfs(path)
    ballast = os.path.join(path, "ballast.bin")
    with open(ballast, "wb") as fh:
        fh.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return ballast


def files_in(path: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _dirs, fs in os.walk(path) for f in fs
                  if f != "ballast.bin")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def pdf(size: int) -> bytes:
    head = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n"
    return head + b"%" + b"x" * (size - len(head) - 8) + b"\n%%EOF\n"


def assert_507(r) -> None:
    assert r.status_code == 507, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json["code"] == "insufficient_storage" and r.json["title"] == "存储空间不足"
    assert r.json["detail"] == MESSAGE and r.json["field"] == "file"


def test_paper_upload_on_a_full_disk(app, world, exam_course):
    cadre = _cadre_login(app, world.wb_cadre)
    folder = os.path.join(app.instance_path, "papers")
    with small_disk(folder):
        ballast = fill(folder, 256 * 1024)
        with app.app_context():
            before = (count(Paper), count(PaperVersion), count(AuditEvent))
        big = pdf(600 * 1024)  # more than the free space: the write stops half-way
        form = lambda: {"course_id": str(exam_course.id), "title": "关于基层党建的思考",  # noqa: E731
                        "file": (io.BytesIO(big), "论文.pdf")}
        r = cadre.post("/api/v1/papers", data=form(), content_type="multipart/form-data")
        assert_507(r)
        assert files_in(folder) == []
        with app.app_context():
            assert (count(Paper), count(PaperVersion), count(AuditEvent)) == before

        os.remove(ballast)  # space is freed: the same upload goes through
        r = cadre.post("/api/v1/papers", data=form(), content_type="multipart/form-data")
        assert r.status_code == 201, r.json
        assert len(files_in(folder)) == 1 and os.path.getsize(os.path.join(folder, files_in(folder)[0])) == len(big)
        with app.app_context():
            assert (count(Paper), count(PaperVersion)) == (before[0] + 1, before[1] + 1)
            assert count(AuditEvent) >= before[2]


def test_credit_evidence_upload_on_a_full_disk(app, world):
    cadre = _cadre_login(app, world.wb_cadre)
    folder = os.path.join(app.instance_path, "evidence")
    with small_disk(folder):
        ballast = fill(folder, 128 * 1024)
        with app.app_context():
            before = (count(CreditApplication), count(AuditEvent))
        big = pdf(400 * 1024)
        form = lambda: {"kind": "award", "level": "second", "title": "全市优秀调研成果",  # noqa: E731
                        "event_date": "2026-05-10", "evidence": (io.BytesIO(big), "获奖证书.pdf")}
        r = cadre.post("/api/v1/credits/applications", data=form(), content_type="multipart/form-data")
        assert r.status_code == 507 and r.json["code"] == "insufficient_storage" and r.json["detail"] == MESSAGE, r.json
        assert files_in(folder) == []
        with app.app_context():
            assert (count(CreditApplication), count(AuditEvent)) == before

        os.remove(ballast)
        r = cadre.post("/api/v1/credits/applications", data=form(), content_type="multipart/form-data")
        assert r.status_code == 201, r.json
        assert len(files_in(folder)) == 1
        with app.app_context():
            assert count(CreditApplication) == before[0] + 1


def test_video_upload_on_a_full_disk_fails_cleanly_and_resumes(app, world, catalogue, sample_files, org_api):
    rel, _res = sample_files
    with open(os.path.join(app.config["MEDIA_ROOT"], rel, "video.mp4"), "rb") as fh:
        video = fh.read()
    assert len(video) > 64 * 1024, len(video)
    folder = os.path.join(app.config["MEDIA_ROOT"], "originals")
    url = f"/api/v1/lessons/{catalogue.lesson}/video"
    with small_disk(folder):
        with app.app_context():
            before = (count(MediaJob), count(AuditEvent))

        # a whole upload that does not fit: no job, no file, no directory, no audit entry
        ballast = fill(folder, 16 * 1024)
        r = org_api.post(url, data={"file": (io.BytesIO(video), "讲座.mp4")}, content_type="multipart/form-data")
        assert_507(r)
        assert os.listdir(folder) == ["ballast.bin"]
        with app.app_context():
            assert (count(MediaJob), count(AuditEvent)) == before
        os.remove(ballast)

        # in chunks: the first fits, the second meets a full disk and is dropped again; the job waits
        # at the same offset, and once there is room the same chunk completes the upload
        half = len(video) // 2
        r = org_api.post(url, data={"file": (io.BytesIO(video[:half]), "讲座.mp4"), "total_size": str(len(video)),
                                    "offset": "0"}, content_type="multipart/form-data")
        assert r.status_code == 202, r.json
        job_id = r.json["id"]
        ballast = fill(folder, 8 * 1024)
        second = lambda: {"file": (io.BytesIO(video[half:]), "讲座.mp4"), "upload_id": str(job_id),  # noqa: E731
                          "offset": str(half)}
        r = org_api.post(url, data=second(), content_type="multipart/form-data")
        assert_507(r)
        [original] = files_in(folder)
        assert os.path.getsize(os.path.join(folder, original)) == half
        with app.app_context():
            job = db.session.get(MediaJob, job_id)
            assert (job.state, job.received_bytes) == (MediaJobState.UPLOADING, half)
            assert (count(MediaJob), count(AuditEvent)) == (before[0] + 1, before[1] + 1)  # the upload's start

        os.remove(ballast)
        r = org_api.post(url, data=second(), content_type="multipart/form-data")
        assert r.status_code == 202, r.json
        with open(os.path.join(folder, original), "rb") as fh:
            assert fh.read() == video
        with app.app_context():
            job = db.session.get(MediaJob, job_id)
            assert job.received_bytes == len(video) and job.state == MediaJobState.SUCCEEDED, (job.state, job.error)
