"""Evidence files for credits (certificates, award letters, attendance sheets): checked by their
content, stored outside the web root under a random name, served only to who may see them."""
from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app, send_file
from flask_babel import gettext as _

from app.errors import Invalid, storage_write

# Signature → (extension, MIME type). The name a browser sends is never trusted for the type.
SIGNATURES = (
    (b"%PDF-", ".pdf", "application/pdf"),
    (b"\xff\xd8\xff", ".jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", ".png", "image/png"),
)
MIME_BY_EXT = {ext: mime for _sig, ext, mime in SIGNATURES}
_UNSAFE = re.compile(r"[^\w.\-()\[\] \u4e00-\u9fff]+")


@dataclass(frozen=True)
class StoredEvidence:
    path: str  # relative to the evidence folder
    name: str  # the uploaded name, cleaned, for display and download


def _folder(name: str = "evidence") -> str:
    path = os.path.join(current_app.instance_path, name)
    os.makedirs(path, exist_ok=True)
    return path


def safe_name(name: str | None, ext: str, default: str = "evidence") -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    stem = _UNSAFE.sub("_", os.path.splitext(base)[0]).strip("._ ")[:80] or default
    return stem + ext


def sniff(data: bytes) -> tuple[str, str] | None:
    """(extension, MIME type) of a PDF, JPEG or PNG by its first bytes; None for anything else."""
    return next(((ext, mime) for sig, ext, mime in SIGNATURES if data.startswith(sig)), None)


def write_private(folder: str, ext: str, data: bytes) -> str:
    """Write bytes under a random name in an instance folder (outside the web root); the name.
    A write that fails (a full disk: 507, InsufficientStorage) leaves no partial file behind."""
    rel = secrets.token_hex(16) + ext
    path: list[str] = []  # set once the folder exists (making it may be what fails)

    def remove_partial():
        if path and os.path.exists(path[0]):
            os.remove(path[0])

    with storage_write(cleanup=remove_partial):
        path.append(os.path.join(_folder(folder), rel))
        with open(path[0], "wb") as fh:
            fh.write(data)
    return rel


def remove_private(folder: str, rel: str) -> None:
    try:
        os.remove(os.path.join(_folder(folder), os.path.basename(rel)))
    except FileNotFoundError:
        pass


def send_private(folder: str, rel: str, name: str, mime: str):
    """A stored file as a download under a cleaned name (the caller has checked access)."""
    full = os.path.join(_folder(folder), os.path.basename(rel))
    return send_file(full, mimetype=mime, as_attachment=True, download_name=name, max_age=0)


def store_evidence(filename: str | None, data: bytes, *, field: str = "evidence") -> StoredEvidence:
    """Check an uploaded file (PDF, JPEG or PNG by its first bytes; size-limited) and store it."""
    if not data:
        raise Invalid(_("请选择证明材料文件"), field=field)
    limit = current_app.config["CREDITS_EVIDENCE_MAX_BYTES"]
    if len(data) > limit:
        raise Invalid(_("证明材料不能超过 %(mb)d MB", mb=limit // (1024 * 1024)), field=field)
    match = sniff(data)
    if match is None:
        raise Invalid(_("证明材料只能是 PDF、JPG 或 PNG 文件(按文件内容判断,不看扩展名)"), field=field)
    ext = match[0]
    return StoredEvidence(write_private("evidence", ext, data), safe_name(filename, ext))


def discard_evidence(stored: StoredEvidence | None) -> None:
    """Remove a file stored for work that was then refused (nothing is left behind)."""
    if stored is not None:
        remove_private("evidence", stored.path)


@contextmanager
def evidence_upload(upload, *, required: bool = True) -> Iterator[StoredEvidence | None]:
    """Store an uploaded file (werkzeug FileStorage) for the work inside the block, and remove it
    again if anything in the block fails, the commit included: a refused request leaves no file."""
    if upload is None or not upload.filename:
        if required:
            raise Invalid(_("请选择证明材料文件"), field="evidence")
        yield None
        return
    stored = store_evidence(upload.filename, upload.read())
    try:
        yield stored
    except BaseException:
        discard_evidence(stored)
        raise


def send_evidence(path: str, name: str):
    """The stored file as a download (the caller has checked that the user may see it)."""
    ext = os.path.splitext(path)[1]
    return send_private("evidence", path, name or ("evidence" + ext), MIME_BY_EXT.get(ext, "application/octet-stream"))
