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
    """Show a service error beside its field when it names one, else at the top of the page; an
    error that lists messages per field (errors={field: [messages]}) shows each one beside its field."""
    errors = err.extra.get("errors")
    if not isinstance(errors, dict):
        errors = {err.field: [err.message]}
    for name, messages in errors.items():
        messages = [messages] if isinstance(messages, str) else messages
        field = getattr(form, name, None) if name else None
        if field is None:
            for m in messages:
                flash(m, "error")
        else:
            field.errors = list(field.errors) + [m for m in messages if m not in field.errors]


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


def run_action(action, success: str) -> bool:
    """Run a service call for a POST button and commit, flashing `success`; a refusal (409, 422…)
    is rolled back and flashed; not found / not allowed propagate as error pages."""
    from app.db import commit
    from app.errors import DomainError
    from app.extensions import db

    try:
        action()
    except DomainError as err:
        db.session.rollback()
        if err.status in (403, 404):
            raise
        flash(err.message, "error")
        return False
    commit()
    flash(success, "success")
    return True
