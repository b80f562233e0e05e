"""What an operator relies on: readiness that reports the database and the queue, static URLs that
change when the file does, the instance folder and the CSRF referrer check set by configuration."""
from __future__ import annotations

import os
import re
import socket

from app import create_app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readyz_reports_the_database_and_the_queue(app):
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"ok": True, "database": "ok", "queue": "ok"}


def test_readyz_is_503_with_retry_after_when_the_database_is_gone(tmp_path):
    # A SQLite file in a folder that does not exist: every connection fails, as a database server
    # that went away does. /healthz (liveness) still answers: the process itself is fine.
    broken = create_app({"ENV_NAME": "testing", "INSTANCE_PATH": str(tmp_path / "instance"),
                         "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/db.sqlite3"})
    client = broken.test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5"
    assert resp.get_json() == {"ok": False, "database": "unavailable", "queue": "ok"}
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_redis_queue_is_unreachable(app, tmp_path):
    from app import jobs

    storage = jobs.huey.storage
    try:
        other = create_app({"ENV_NAME": "testing", "INSTANCE_PATH": str(tmp_path / "instance"),
                            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                            "JOBS_BACKEND": "redis", "REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"})
        jobs.init_app(other)
        resp = other.test_client().get("/readyz")
        assert resp.status_code == 503
        assert resp.get_json()["queue"] == "unavailable"
    finally:
        jobs.huey.storage = storage
        jobs.init_app(app)


def test_static_urls_carry_a_version_that_follows_the_file(app, tmp_path):
    with app.test_request_context():
        from flask import url_for

        url = url_for("static", filename="js/app.js")
    st = os.stat(os.path.join(app.static_folder, "js", "app.js"))
    assert url == f"/static/js/app.js?v={int(st.st_mtime):x}{st.st_size:x}"
    # the pages link the versioned URL, and it is served
    html = app.test_client().get("/login").get_data(as_text=True)
    assert re.search(r'/static/[\w/.-]+\.(css|js)\?v=[0-9a-f]+"', html)
    assert app.test_client().get(url).status_code == 200
    # a file that changes gets a new URL (a fresh app: versions are read once per process)
    static = tmp_path / "static"
    static.mkdir()
    (static / "a.js").write_text("1")
    other = create_app({"ENV_NAME": "testing", "INSTANCE_PATH": str(tmp_path / "i1"),
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    other.static_folder = str(static)
    with other.test_request_context():
        from flask import url_for

        first = url_for("static", filename="a.js")
    (static / "a.js").write_text("22")
    os.utime(static / "a.js", (1_900_000_000, 1_900_000_000))
    again = create_app({"ENV_NAME": "testing", "INSTANCE_PATH": str(tmp_path / "i2"),
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    again.static_folder = str(static)
    with again.test_request_context():
        second = url_for("static", filename="a.js")
    assert first != second and second.endswith(f"?v={1_900_000_000:x}2")


def test_the_instance_folder_is_set_by_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("CADRE_INSTANCE_PATH", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    other = create_app("testing")
    assert other.instance_path == str(tmp_path / "var")
    assert os.path.isdir(tmp_path / "var")
    assert other.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/var/cadre.sqlite3"


def test_the_csrf_referrer_check_over_https_can_be_turned_off(app, world):
    from tests.conftest import PASSWORD

    def login_over_https(strict: bool) -> tuple[int, str]:
        app.config["WTF_CSRF_SSL_STRICT"] = strict
        client = app.test_client()
        page = client.get("/login", base_url="https://cadre.example").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        resp = client.post("/login", base_url="https://cadre.example",
                           data={"csrf_token": token, "login": "org", "password": PASSWORD})
        return resp.status_code, resp.get_data(as_text=True)

    try:
        status, body = login_over_https(True)     # no Referer: refused by default
        assert status == 400 and "同源的 Referer" in body
        assert login_over_https(False)[0] == 302  # the token alone is enough
    finally:
        app.config["WTF_CSRF_SSL_STRICT"] = True


def test_each_signed_in_user_has_a_request_budget_and_429_says_when_to_retry(app, world, monkeypatch):
    from app.ratelimit import limiter
    from tests.conftest import PASSWORD, ApiClient

    monkeypatch.setitem(app.config, "RATELIMIT_PER_USER", "5 per minute")
    limiter.reset()
    try:
        cadre, admin = ApiClient(app.test_client()), ApiClient(app.test_client())
        assert cadre.login("org").status_code == 200   # an anonymous request: not counted
        assert admin.login("wbadmin").status_code == 200
        assert [cadre.get("/api/v1/me").status_code for _ in range(5)] == [200] * 5
        # pages and API share the one budget
        page = cadre.get("/")
        assert page.status_code == 429 and 1 <= int(page.headers["Retry-After"]) <= 60
        assert "操作过于频繁" in page.get_data(as_text=True)
        api = cadre.get("/api/v1/me")
        assert api.status_code == 429 and api.json["code"] == "rate_limited" and "秒后再试" in api.json["detail"]
        # a refused write changes nothing
        changed = cadre.post("/api/v1/me/password", json={"old_password": PASSWORD, "new_password": "Other@2026xy"})
        assert changed.status_code == 429
        # another user, health checks and anonymous pages are not affected
        assert admin.get("/api/v1/me").status_code == 200
        assert cadre.get("/healthz").status_code == 200 and cadre.get("/readyz").status_code == 200
        anonymous = app.test_client()
        assert [anonymous.get("/login").status_code for _ in range(8)] == [200] * 8
        # signing out is never refused (a shared training room), and the password is still the old one
        assert cadre.post("/api/v1/auth/logout").status_code == 204
        assert ApiClient(app.test_client()).login("org").status_code == 200
    finally:
        limiter.reset()


def test_the_request_budget_is_the_user_s_across_sign_ins_and_the_log_names_no_session_token(app, world, monkeypatch):
    # Keyed by the user, not by the login session: signing in again gives no fresh budget, and the
    # 429's log line (and Redis's key names) never carry the session token, which is a credential.
    import logging

    from sqlalchemy import select

    from app.accounts.models import LoginSession, User
    from app.extensions import db
    from app.ratelimit import limiter
    from tests.conftest import ApiClient

    monkeypatch.setitem(app.config, "RATELIMIT_PER_USER", "4 per minute")
    limiter.reset()
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    disabled, app.logger.disabled = app.logger.disabled, False
    app.logger.addHandler(handler)
    try:
        first, second = ApiClient(app.test_client()), ApiClient(app.test_client())
        assert first.login("org").status_code == 200 and second.login("org").status_code == 200
        assert [first.get("/api/v1/me").status_code for _ in range(4)] == [200] * 4
        assert second.get("/api/v1/me").status_code == 429   # the same user: the same budget
        with app.app_context():
            user = db.session.scalar(select(User).where(User.username == "org"))
            tokens = db.session.scalars(select(LoginSession.token).where(LoginSession.user_id == user.id)).all()
            user_id = user.id
        logged = [r.getMessage() for r in records if "rate limit" in r.getMessage()]
        assert logged and all(f"user:{user_id} " in m for m in logged), logged
        assert tokens and not any(t in m for t in tokens for m in logged)
    finally:
        app.logger.removeHandler(handler)
        app.logger.disabled = disabled
        limiter.reset()


def test_a_session_left_broken_by_a_swallowed_integrity_error_is_a_500_not_a_database_outage(app, world):
    # PendingRollbackError has two causes: a connection that died earlier in the request (the
    # database went away: 503) and a flush that failed and whose error someone caught and went on
    # from (a bug: 500, not "the database is unavailable, try again in 5 s" for ever).
    import sqlite3

    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError, OperationalError, PendingRollbackError

    from app.accounts.models import LoginSession, User
    from app.errors import transient_database_error
    from app.extensions import db

    with app.test_request_context("/api/v1/me"):
        user_id = db.session.scalar(select(User.id).where(User.username == "org"))
        db.session.add(LoginSession(token=None, user_id=user_id))   # NOT NULL: the flush fails
        try:
            db.session.flush()
        except IntegrityError:
            pass   # swallowed, as a careless service would
        try:
            db.session.scalar(select(User.id))
        except PendingRollbackError as err:
            broken = err
        assert transient_database_error(broken) is None
        resp = app.handle_user_exception(broken)
        assert resp.status_code == 500 and "Retry-After" not in resp.headers
        db.session.rollback()

    # the connection-level kind (SQLAlchemy's code 8s2b) stays a database outage
    assert transient_database_error(PendingRollbackError("Can't reconnect until invalid transaction is rolled back",
                                                         code="8s2b")) == "db_unavailable"
    assert transient_database_error(OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))) == "busy"
