"""Configuration classes.

Every key can be overridden by an environment variable prefixed with ``CADRE_``
(``CADRE_LOGIN_MAX_FAILURES=5``); ``DATABASE_URL``, ``SECRET_KEY`` and ``PORT`` are also read
without the prefix because every hosting tool sets them that way. Unknown ``CADRE_`` keys are
rejected at start-up so that a typo never silently falls back to a default.
"""
from __future__ import annotations

import json
import os
from datetime import timedelta


class Default:
    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None  # None: SQLite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SQLITE_BUSY_TIMEOUT_MS = 10_000
    # The instance folder (default SQLite database, job queue, uploads kept off the web root,
    # exports, search index). None: instance/ beside this file.
    INSTANCE_PATH: str | None = None

    # Sessions and cookies
    SESSION_COOKIE_NAME = "cadre_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    WTF_CSRF_HEADERS = ["X-CSRFToken", "X-CSRF-Token"]
    # Over HTTPS a write must also carry a same-origin Referer (Flask-WTF's default); API clients
    # that cannot send one may turn it off, the token is still required.
    WTF_CSRF_SSL_STRICT = True

    # i18n: Simplified Chinese first, English second
    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ["zh_Hans_CN", "en"]

    # Login throttling (per account and per client address)
    LOGIN_MAX_FAILURES = 10
    LOGIN_LOCK_MINUTES = 15
    LOGIN_IP_MAX_FAILURES = 50
    LOGIN_IP_WINDOW_MINUTES = 15

    # Requests per signed-in user, all routes together (app/ratelimit.py); "memory://" counts per
    # process, a Redis URL (redis://127.0.0.1:6379/1) across processes and machines.
    RATELIMIT_ENABLED = True
    RATELIMIT_PER_USER = "300 per minute"
    RATELIMIT_STORAGE_URI = "memory://"

    # Uploads
    MAX_CONTENT_LENGTH = 20 * 1024 * 1024
    ROSTER_MAX_ROWS = 20_000
    # An XLSX upload (roster, question bank) whose zip members unpack to more than this is refused
    # before it is parsed (app/spreadsheets.py).
    XLSX_MAX_UNPACKED_BYTES = 200 * 1024 * 1024
    # Evidence for credits (certificates, award letters, attendance sheets): PDF, JPEG or PNG,
    # checked by content, kept in the instance folder (never under the web root).
    CREDITS_EVIDENCE_MAX_BYTES = 10 * 1024 * 1024
    # Answers reaching the server this many seconds after an exam's deadline still count.
    EXAM_GRACE_SECONDS = 10
    PAPER_MAX_BYTES = 10 * 1024 * 1024

    # Video courseware. MEDIA_ROOT holds the served files (None: media/ beside this file).
    MEDIA_ROOT: str | None = None
    # "" streams files from the app (HTTP Range with seek/sendfile); "nginx" answers with
    # X-Accel-Redirect to MEDIA_ACCEL_PREFIX (see deploy/nginx-media.conf).
    MEDIA_ACCEL = ""
    MEDIA_ACCEL_PREFIX = "/_protected_media/"
    VIDEO_MAX_BYTES = 4 * 1024 * 1024 * 1024
    VIDEO_CHUNK_BYTES = 8 * 1024 * 1024  # the upload page sends files in chunks of this size
    VIDEO_MAX_HEIGHT = 720
    # A transcoding job that has not moved for this long lost its worker (killed, machine restarted):
    # it is marked failed so that the lesson can take a new upload.
    MEDIA_JOB_STALE_MINUTES = 15
    MEDIA_JOB_QUEUE_STALE_HOURS = 6  # queued but never picked up (the queue lost it)

    # Study-time tracking (learning): the player reports every LEARNING_REPORT_SECONDS; credit per
    # report is at most the wall-clock time since the previous one × LEARNING_SPEED_CAP + tolerance.
    LEARNING_REPORT_SECONDS = 15
    LEARNING_SPEED_CAP = 1.0  # at most 2.0
    LEARNING_TOLERANCE_SECONDS = 2.0
    LEARNING_COMPLETE_RATIO = 0.95
    # 防挂机: a check after a random 10–20 minutes of credited playing; unanswered for
    # LEARNING_CHECK_TIMEOUT_SECONDS the session is paused.
    LEARNING_CHECK_MIN_MINUTES = 10.0
    LEARNING_CHECK_MAX_MINUTES = 20.0
    LEARNING_CHECK_TIMEOUT_SECONDS = 120
    LEARNING_ONLINE_GAP_CAP_SECONDS = 300

    # Catalogue search (Whoosh + jieba). None: instance/search-index; ":memory:" for tests.
    SEARCH_INDEX_DIR: str | None = None
    COURSES_DIR: str | None = None  # None: courses/ beside this file

    # Background jobs (huey): "sqlite" needs no server, "redis" runs across machines,
    # "immediate" runs jobs in-process (tests).
    JOBS_BACKEND = "sqlite"
    REDIS_URL = "redis://127.0.0.1:6379/0"
    # The periodic jobs (exam deadline sweep, stale media jobs, export expiry) are idempotent, but
    # with workers on several machines one of them is enough: CADRE_JOBS_PERIODIC=0 on the others.
    JOBS_PERIODIC = True

    # OpenAPI (flask-smorest)
    API_TITLE = "干部在线学习中心 API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"

    DEMO_PASSWORD = "Demo@2026"
    TESTING = False
    DEBUG = False


class Development(Default):
    SECRET_KEY = "dev-only-not-secret"
    DEBUG = False


class Testing(Default):
    TESTING = True
    SECRET_KEY = "testing-not-secret"
    WTF_CSRF_ENABLED = True
    JOBS_BACKEND = "immediate"
    SEARCH_INDEX_DIR = ":memory:"
    # on, but out of reach of the suite's scripted clients (tests/test_operations.py lowers it)
    RATELIMIT_PER_USER = "1000000 per minute"
    # argon2 at full cost makes a suite of hundreds of logins slow; the parameters are
    # still argon2id, only cheaper.
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024


class Production(Default):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"


CONFIGS = {"development": Development, "testing": Testing, "production": Production}

# Read without the prefix as well, as the surrounding tools name them.
_UNPREFIXED = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI", "SECRET_KEY": "SECRET_KEY"}
PREFIX = "CADRE_"


class ConfigError(RuntimeError):
    pass


def _coerce(raw: str, current):
    if isinstance(current, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, (list, dict)):
        return json.loads(raw)
    if isinstance(current, timedelta):
        return timedelta(seconds=int(raw))
    return raw


def load(name: str | None, environ=None) -> dict:
    """Resolve a config class by name and apply environment overrides; returns a plain dict."""
    environ = os.environ if environ is None else environ
    name = name or environ.get("CADRE_ENV") or environ.get("FLASK_ENV") or "development"
    try:
        cls = CONFIGS[name]
    except KeyError:
        raise ConfigError(f"unknown configuration {name!r}; use one of {sorted(CONFIGS)}")
    values = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
    for env_key, key in _UNPREFIXED.items():
        if environ.get(env_key):
            values[key] = environ[env_key]
    for env_key, raw in environ.items():
        if not env_key.startswith(PREFIX) or env_key == "CADRE_ENV":
            continue
        key = env_key[len(PREFIX):]
        if key not in values:
            raise ConfigError(f"unknown configuration key {env_key}")
        values[key] = _coerce(raw, values[key])
    values["ENV_NAME"] = name
    if name == "production" and not values.get("SECRET_KEY"):
        raise ConfigError("SECRET_KEY must be set in production")
    return values
