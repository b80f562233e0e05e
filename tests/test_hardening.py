"""Hardening that every response and every deployment relies on: the security headers (a CSP with
no inline script or style), the session cookie's flags (Secure in production), the audit log that
neither the application nor SQL can rewrite, and no route that writes to it."""
from __future__ import annotations

import pytest
from sqlalchemy import text

import config
from app.audit.models import AppendOnlyError, AuditEvent
from app.extensions import db
from tests.conftest import ApiClient


def test_every_page_carries_the_security_headers(app, world):
    c = ApiClient(app.test_client())
    assert c.login("wbadmin").status_code == 200
    for path in ("/", "/reports/units", "/admin/audit/", "/api/v1/openapi.json", "/static/css/app.css"):
        r = c.get(path)
        assert r.status_code == 200, path
        csp = r.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'", path
        assert directives["frame-ancestors"] == "'none'" and directives["default-src"] == "'self'"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "same-origin"
    anonymous = app.test_client().get("/login")
    assert anonymous.status_code == 200 and "script-src 'self'" in anonymous.headers["Content-Security-Policy"]


def test_the_session_cookie_is_httponly_and_lax_and_secure_in_production(app, world, monkeypatch):
    c = ApiClient(app.test_client())
    r = c.login("wbadmin")
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith(app.config["SESSION_COOKIE_NAME"] + "="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    prod = config.load("production", environ={"SECRET_KEY": "x" * 40})
    assert prod["SESSION_COOKIE_SECURE"] is True and prod["REMEMBER_COOKIE_SECURE"] is True
    assert prod["SESSION_COOKIE_HTTPONLY"] is True
    with pytest.raises(config.ConfigError):
        config.load("production", environ={})  # no secret key: no start


def test_the_audit_log_cannot_be_altered(app, world):
    with app.app_context():
        event = db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id)).first()
        assert event is not None  # the world's registrations were audited
        event.action = "nothing.happened"
        with pytest.raises(AppendOnlyError):
            db.session.flush()
        db.session.rollback()
        event = db.session.get(AuditEvent, event.id)
        db.session.delete(event)
        with pytest.raises(AppendOnlyError):
            db.session.flush()
        db.session.rollback()
        # below the ORM, the database's own triggers refuse it
        for sql in ("UPDATE audit_events SET action = 'x' WHERE id = :id", "DELETE FROM audit_events WHERE id = :id"):
            savepoint = db.session.begin_nested()
            with pytest.raises(Exception) as err:
                db.session.execute(text(sql), {"id": event.id})
            savepoint.rollback()
            assert "append" in str(err.value).lower() or "audit" in str(err.value).lower(), err.value
        assert db.session.get(AuditEvent, event.id).action != "x"


def test_no_route_writes_to_the_audit_log(app):
    writes = [(r.rule, sorted(r.methods - {"GET", "HEAD", "OPTIONS"})) for r in app.url_map.iter_rules()
              if "audit" in r.rule and r.methods - {"GET", "HEAD", "OPTIONS"}]
    assert writes == []
