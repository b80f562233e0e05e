"""Domain errors and their HTTP mapping (RFC 9457 problem details for the API)."""
from __future__ import annotations

import errno
from contextlib import contextmanager

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code
        self.extra = extra


class Invalid(DomainError):
    status = 400
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class RuleViolation(DomainError):
    status = 422
    code = "rule_violation"


class InsufficientStorage(DomainError):
    """The disk (or quota) holding uploads is full: nothing of the upload was kept. 507 (RFC 4918):
    the server could not store what the request carried; not the client's fault, and not a 503,
    which would invite automatic retries that cannot succeed until an operator frees space."""

    status = 507
    code = "insufficient_storage"


@contextmanager
def storage_write(cleanup=None):
    """Around a write to the upload folders: any OSError first runs `cleanup` (remove or truncate
    what was partly written); a full disk or an exhausted quota then becomes InsufficientStorage
    (507), anything else goes on as it was."""
    try:
        yield
    except OSError as err:
        if cleanup is not None:
            try:
                cleanup()
            except OSError:
                pass
        if err.errno in {errno.ENOSPC, getattr(errno, "EDQUOT", 122)}:
            raise InsufficientStorage(_("服务器存储空间不足,文件未保存;请稍后再试或联系管理员"), field="file") from err
        raise


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


def wants_json() -> bool:
    return request.path.startswith("/api/")


def problem(status: int, code: str, title: str, detail: str | None = None, **extra):
    body = {"type": f"/problems/{code}", "code": code, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    return resp


_TITLES = {
    400: "请求有误",
    401: "未登录",
    403: "无权操作",
    404: "未找到",
    405: "不支持的请求方法",
    409: "操作冲突",
    413: "文件过大",
    422: "不符合规则",
    429: "请求过于频繁",
    500: "服务器内部错误",
    503: "服务暂不可用",
    507: "存储空间不足",
}


def _title(status: int) -> str:
    return _(_TITLES.get(status, "错误"))


# Seconds a client waits before trying again after a 503 for the database (the Retry-After header):
# a lock or a serialization failure clears at once; a database that is down or restarting takes longer.
RETRY_AFTER = {"busy": 1, "db_unavailable": 5}


def transient_database_error(err: BaseException) -> str | None:
    """"busy", "db_unavailable" or None: whether a database error is one that trying again later can
    cure (answered 503 with Retry-After) or a bug or bad data (a 500). Decided by SQLAlchemy's own
    disconnect detection and the DB-API error's class and SQLSTATE; SQLite says it only in words."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError, PendingRollbackError, TimeoutError as PoolTimeout

    if isinstance(err, PoolTimeout):
        return "busy"  # every pooled connection in use for pool_timeout seconds
    if isinstance(err, PendingRollbackError):
        if err.code == "8s2b":
            return "db_unavailable"  # the connection broke earlier in this request
        # 7s2a: a flush failed earlier and someone caught the error and went on. That is a bug (a
        # swallowed IntegrityError, say) unless the flush itself failed for a transient reason.
        cause = _rollback_cause()
        return None if cause is None or isinstance(cause, PendingRollbackError) else transient_database_error(cause)
    if not isinstance(err, DBAPIError):
        return None
    if err.connection_invalidated:
        return "db_unavailable"  # SQLAlchemy saw the connection die (and dropped it from the pool)
    orig = err.orig
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        if "locked" in message or "busy" in message:
            return "busy"
        if "unable to open database" in message or "disk i/o error" in message:
            return "db_unavailable"
        return None
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return None
    if isinstance(orig, (psycopg.OperationalError, psycopg.InterfaceError)):
        state = getattr(orig, "sqlstate", None) or ""
        # 40001 could not serialize / 40P01 deadlock, 55P03 lock not available, 57014 statement
        # timeout, 53300 too many connections: the server is there, but busy.
        if state.startswith("40") or state in ("53300", "55P03", "57014"):
            return "busy"
        # No SQLSTATE (connection refused, server closed the connection, the connection is closed),
        # 08xxx connection exceptions, 53100/53200 the server's disk or memory full (an operator must
        # act: not retried every second), 57P01-57P05 shutdown / crash / starting up, 58xxx I/O errors.
        if not state or state.startswith(("08", "53", "57P", "58")):
            return "db_unavailable"
    return None


def _rollback_cause() -> BaseException | None:
    """The exception that made the request's session unusable (SQLAlchemy keeps it for the message
    of PendingRollbackError), or None."""
    from app.extensions import db

    try:
        return getattr(getattr(db.session(), "_transaction", None), "_rollback_exception", None)
    except Exception:  # noqa: BLE001 - no session here: nothing to say
        return None


def _discard_session() -> None:
    """Roll back the request's work; when the connection is too broken even for that, drop it (the
    pool replaces it). The logged-in user is treated as anonymous from here on: their row expired with
    the rollback and must not be reloaded from a database that is not answering (the error page and
    the locale would try)."""
    from flask import g
    from flask_login import AnonymousUserMixin

    from app.extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is gone; closing the session releases it
        try:
            db.session.close()
        except Exception:  # noqa: BLE001
            pass
    g._login_user = AnonymousUserMixin()


def retry_later(status: int, code: str, detail: str, seconds: int):
    """A refusal the client should try again after `seconds` (429, 503): problem+json for the API,
    the error page otherwise, with Retry-After on both (the player and the exam page read it)."""
    from flask import current_app

    if wants_json():
        resp = problem(status, code, _title(status), detail, retry_after=seconds)
    else:
        resp = current_app.make_response((render_template("error.html", status=status, title=_title(status),
                                                          detail=detail), status))
    resp.headers["Retry-After"] = str(seconds)
    return resp


def _csrf_detail(err) -> str:
    """Flask-WTF's reason for refusing a form or API write, in words a user can act on."""
    reason = err.description or ""
    if "referrer" in reason.lower():
        return _("无法确认请求来自本站(HTTPS 下须带同源的 Referer),请从本站页面重新提交。")
    if "expired" in reason or "session token" in reason:
        return _("页面已过期,请刷新页面后重新提交。")
    return _("缺少或无效的 CSRF 令牌,请刷新页面或重新登录后再试。")


def register_error_handlers(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    @app.errorhandler(DomainError)
    def handle_domain_error(err: DomainError):
        # Bad input changes nothing: whatever the request flushed before the error is undone
        # (a view that must keep something, like a login failure counter, commits first).
        from app.extensions import db

        db.session.rollback()
        headers = {}
        if isinstance(err, RateLimited):
            headers["Retry-After"] = str(err.retry_after)
        if wants_json():
            resp = problem(err.status, err.code, _title(err.status), err.message, field=err.field, **err.extra)
            resp.headers.update(headers)
            return resp
        return render_template("error.html", status=err.status, title=_title(err.status), detail=err.message), err.status, headers

    @app.errorhandler(HTTPException)
    def handle_http(err: HTTPException):
        status = err.code or 500
        if wants_json():
            detail = None
            field = None
            # webargs puts field messages in err.data["messages"]; surface them as 400.
            data = getattr(err, "data", None) or {}
            messages = data.get("messages") if isinstance(data, dict) else None
            if messages:
                status = 400
                loc_messages = next(iter(messages.values())) if messages else {}
                if isinstance(loc_messages, dict) and loc_messages:
                    field = next(iter(loc_messages))
                    detail = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                                       for k, v in loc_messages.items())
                if not isinstance(loc_messages, dict):  # a body that is not JSON at all: a list of messages
                    loc_messages = {"json": loc_messages}
                return problem(status, "invalid", _title(400), detail, field=field, errors=loc_messages)
            if isinstance(err, CSRFError):
                return problem(400, "csrf", _("CSRF 校验失败"), _csrf_detail(err))
            return problem(status, err.name.lower().replace(" ", "_"), _title(status), detail)
        if isinstance(err, CSRFError):
            return render_template("error.html", status=400, title=_("CSRF 校验失败"), detail=_csrf_detail(err)), 400
        # Werkzeug's own descriptions are English sentences: a page shows only the ones a view wrote.
        own = err.description if status < 500 and err.description != type(err).description else None
        return render_template("error.html", status=status, title=_title(status), detail=own), status

    from sqlalchemy.exc import DBAPIError, PendingRollbackError, TimeoutError as PoolTimeout

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PendingRollbackError)
    @app.errorhandler(PoolTimeout)
    def handle_database_unavailable(err: Exception):
        # The database is busy (SQLite's write lock, a serialization failure, a full pool) or out of
        # reach (down, restarting, the connection broken or terminated): the request's transaction is
        # rolled back, so it changed nothing, and the client is told when to try again rather than
        # shown a 500. Anything else from the database (a constraint, a bug) stays a 500.
        kind = transient_database_error(err)
        if kind is None:
            return handle_unexpected(err)
        _discard_session()
        app.logger.warning("database %s: %s", kind, str(getattr(err, "orig", None) or err).splitlines()[0][:200])
        detail = _("系统繁忙,请稍后重试") if kind == "busy" else _("数据库暂时无法连接,本次操作未保存,请稍后重试")
        return retry_later(503, kind, detail, RETRY_AFTER[kind])

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception):
        app.logger.exception("unhandled error")
        if app.config.get("TESTING_RAISE"):
            raise err
        if wants_json():
            return problem(500, "internal", _title(500))
        return render_template("error.html", status=500, title=_title(500), detail=None), 500
