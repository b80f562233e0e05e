"""Domain errors and their HTTP mapping (RFC 9457 problem details for the API)."""
from __future__ import annotations

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
}


def _title(status: int) -> str:
    return _(_TITLES.get(status, "错误"))


def register_error_handlers(app: Flask) -> None:
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
                return problem(status, "invalid", _title(400), detail, field=field, errors=loc_messages)
            if status == 400 and "CSRF" in (err.description or ""):
                return problem(400, "csrf", _("CSRF 校验失败"), _("缺少或无效的 CSRF 令牌,请重新登录后再试。"))
            return problem(status, err.name.lower().replace(" ", "_"), _title(status), detail)
        return render_template("error.html", status=status, title=_title(status), detail=err.description if status < 500 else None), status

    from sqlalchemy.exc import OperationalError

    @app.errorhandler(OperationalError)
    def handle_database_busy(err: OperationalError):
        # SQLite answers "database is locked" when writers collide (the embedded default); the
        # request changed nothing, so the client is told to retry rather than shown a 500.
        if "database is locked" not in str(err) and "could not serialize" not in str(err):
            return handle_unexpected(err)
        from app.extensions import db

        db.session.rollback()
        detail = _("系统繁忙,请稍后重试")
        if wants_json():
            resp = problem(503, "busy", _title(503), detail)
        else:
            resp = app.make_response((render_template("error.html", status=503, title=_title(503), detail=detail), 503))
        resp.headers["Retry-After"] = "1"
        return resp

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception):
        app.logger.exception("unhandled error")
        if app.config.get("TESTING_RAISE"):
            raise err
        if wants_json():
            return problem(500, "internal", _title(500))
        return render_template("error.html", status=500, title=_title(500), detail=None), 500
