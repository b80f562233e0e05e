"""Small helpers shared by the HTML views and the JSON API (request → service arguments)."""
from __future__ import annotations

from flask import request

from app.audit.services import Origin


def origin_from_request() -> Origin:
    return Origin(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


def int_arg(name: str, default: int | None = None, *, minimum: int = 1, maximum: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    value = max(minimum, value)
    return min(value, maximum) if maximum else value
