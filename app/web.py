"""Small helpers shared by the HTML views and the JSON API (request → service arguments)."""
from __future__ import annotations

from flask import flash, request

from app.audit.services import Origin


def origin_from_request() -> Origin:
    return Origin(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


def int_arg(name: str, default: int | None = None, *, minimum: int = 1, maximum: int = 2**31 - 1) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    value = max(minimum, value)
    return min(value, maximum)


def apply_error(form, err) -> None:
    """Show a service error beside its field when it names one, else at the top of the page."""
    field = getattr(form, err.field, None) if err.field else None
    if field is not None:
        field.errors = list(field.errors) + [err.message]
    else:
        flash(err.message, "error")


def flash_form_errors(form) -> None:
    for errors in form.errors.values():
        for message in errors:
            flash(message, "error")


def upload_size(upload) -> int:
    """Size of an uploaded file (werkzeug FileStorage), leaving its stream at the start."""
    stream = upload.stream
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size
