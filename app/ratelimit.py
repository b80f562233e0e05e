"""Requests per signed-in user (Flask-Limiter).

One budget per user across every route (an application limit keyed by the user id), so that a
script with a stolen session or a runaway client cannot flood the database; a person clicking
through pages, a player reporting every 15 s and an exam saving each answer stay far below it.
Anonymous requests are left to the login throttle (app/accounts: failures per account and per
address): a county's training room behind one address must be able to sign in all at once.

The counters live in RATELIMIT_STORAGE_URI: memory:// on one machine, Redis when several web
processes or machines share the load (deploy/cadre.env.example). If that store fails, requests are
let through (and counted in memory) rather than refused.
"""
from __future__ import annotations

import time

from flask import Flask, current_app, render_template, request
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

EXEMPT_ENDPOINTS = {"static", "main.healthz", "main.readyz"}


def _user_key() -> str:
    return f"user:{current_user.get_id()}"


def _exempt() -> bool:
    if request.endpoint in EXEMPT_ENDPOINTS:
        return True
    try:
        return not current_user.is_authenticated
    except SQLAlchemyError:
        # The database did not answer while the user was loaded. Raised from here, Flask-Limiter
        # would take it for a failure of its counter store, fall back to memory and ask again, for
        # as long as the database keeps failing (a request held for minutes by a SQLite lock). The
        # request goes on unlimited and meets the same error in its view: 503 (app/errors.py).
        return True


limiter = Limiter(
    key_func=_user_key,
    application_limits=[lambda: current_app.config["RATELIMIT_PER_USER"]],
    application_limits_exempt_when=_exempt,
    key_prefix="cadre",
    swallow_errors=True,
    in_memory_fallback_enabled=True,
)


def init_app(app: Flask) -> None:
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def too_many_requests(err: RateLimitExceeded):
        from app.errors import _title, problem, wants_json

        current = limiter.current_limit
        retry = max(1, int(current.reset_at - time.time())) if current else 60
        detail = _("操作过于频繁,请 %(n)d 秒后再试", n=retry)
        current_app.logger.warning("rate limit: %s over %s on %s", _user_key(), err.description, request.path)
        if wants_json():
            resp = problem(429, "rate_limited", _title(429), detail)
        else:
            resp = current_app.make_response(
                (render_template("error.html", status=429, title=_title(429), detail=detail), 429))
        resp.headers["Retry-After"] = str(retry)
        return resp
