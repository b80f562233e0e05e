"""Protected video and poster files: only for logged-in users who may see the course.

HTTP Range is served by seeking: the file is positioned at the range's start and handed to the
server's wsgi.file_wrapper (gunicorn then uses sendfile from that offset for exactly the range's
length), so the last MiB costs what the first does. With MEDIA_ACCEL=nginx the app only checks
access and answers with X-Accel-Redirect; nginx serves the bytes (deploy/nginx-media.conf).
"""
from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.http import http_date, parse_range_header

from app.catalogue.services import get_lesson
from app.errors import NotFound

bp = Blueprint("media", __name__, url_prefix="/media")

BLOCK = 256 * 1024


@bp.get("/lessons/<int:lesson_id>/<int:asset_id>.mp4")
@login_required
def lesson_video(lesson_id: int, asset_id: int):
    return _serve(lesson_id, asset_id, "video")


@bp.get("/lessons/<int:lesson_id>/<int:asset_id>.jpg")
@login_required
def lesson_poster(lesson_id: int, asset_id: int):
    return _serve(lesson_id, asset_id, "poster")


def _serve(lesson_id: int, asset_id: int, kind: str):
    lesson = get_lesson(current_user, lesson_id)
    asset = lesson.video
    if asset is None or asset.id != asset_id:
        raise NotFound(_("视频不存在"))
    rel = asset.video_relpath if kind == "video" else asset.poster_relpath
    mimetype = "video/mp4" if kind == "video" else "image/jpeg"
    if current_app.config["MEDIA_ACCEL"] == "nginx":
        resp = Response(status=200, mimetype=mimetype)
        resp.headers["X-Accel-Redirect"] = current_app.config["MEDIA_ACCEL_PREFIX"].rstrip("/") + "/" + rel
        resp.headers["Cache-Control"] = "private, max-age=86400"
        return resp
    return send_range(os.path.join(current_app.config["MEDIA_ROOT"], rel), mimetype)


def send_range(path: str, mimetype: str) -> Response:
    """Serve a file with Range/If-Range/If-None-Match support, seeking instead of reading through."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise NotFound(_("视频文件缺失,请联系管理员"))
    st = os.fstat(fh.fileno())
    size = st.st_size
    etag = f'"{st.st_ino:x}-{size:x}-{int(st.st_mtime):x}"'
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Last-Modified": http_date(st.st_mtime),
               "Cache-Control": "private, max-age=86400"}
    if etag in request.headers.get("If-None-Match", "") and not request.headers.get("Range"):
        fh.close()
        return Response(status=304, headers=headers)
    status, start, length = 200, 0, size
    raw_range = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    rng = parse_range_header(raw_range) if raw_range and (not if_range or if_range == etag) else None
    # RFC 9110: an unparsable header, another unit or several ranges are ignored (whole file);
    # only a well-formed single range that lies beyond the end is 416.
    if rng is not None and rng.units == "bytes" and len(rng.ranges) == 1:
        first, last = rng.ranges[0]
        if first < 0:  # suffix "bytes=-N": the last N bytes, all of them when N exceeds the size
            first = max(0, size + first)
        last = size if last is None else min(last, size)
        if first >= size or size == 0:
            fh.close()
            headers["Content-Range"] = f"bytes */{size}"
            return Response(status=416, headers=headers)
        start, stop = first, last
        status, length = 206, stop - start
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        fh.close()
        return Response(status=status, headers=headers, mimetype=mimetype)
    fh.seek(start)
    wrapper = request.environ.get("wsgi.file_wrapper")
    gunicorn = request.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn")
    if wrapper is not None and (gunicorn or start + length == size):
        # gunicorn sends exactly Content-Length bytes from the current offset (sendfile, or
        # iteration trimmed to the length); other servers only get spans that end at EOF.
        body = wrapper(fh, BLOCK)
    else:
        body = _read_span(fh, length)
    return Response(body, status=status, headers=headers, mimetype=mimetype, direct_passthrough=True)


def _read_span(fh, length: int):
    try:
        remaining = length
        while remaining > 0:
            block = fh.read(min(BLOCK, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block
    finally:
        fh.close()
