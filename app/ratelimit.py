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

from flask import Flask, current_app, request
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

# Never refused: health checks, static files, and the requests that end something a person must
# be able to end even over budget (signing out in a shared training room, handing in an exam at
# the deadline: each is done once).
EXEMPT_ENDPOINTS = {"static", "main.healthz", "main.readyz", "auth.logout", "accounts_api.logout",
                    "exams.submit", "exams_api.submit_exam_attempt"}


def _user_key() -> str:
    # The user's id, not get_id(): that is the login session's token, a credential (it would be
    # written to the log and to Redis's key names) and one per sign-in (a script signing in again
    # and again would get a fresh budget each time).
    return f"user:{getattr(current_user, 'id', None)}"


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
        from app.errors import retry_later

        current = limiter.current_limit
        retry = max(1, int(current.reset_at - time.time())) if current else 60
        current_app.logger.warning("rate limit: %s over %s on %s", _user_key(), err.description, request.path)
        return retry_later(429, "rate_limited", _("操作过于频繁,请 %(n)d 秒后再试", n=retry), retry)
