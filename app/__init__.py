"""Application factory of 干部在线学习中心."""
from __future__ import annotations

import logging
import os

from flask import Flask, g, request, session

import config as config_module


def create_app(config: str | dict | None = None) -> Flask:
    """config: a configuration name ('development', 'testing', 'production') or a dict of
    overrides applied on top of the environment's configuration."""
    app = Flask(__name__, instance_relative_config=False)
    overrides = config if isinstance(config, dict) else {}
    name = config if isinstance(config, str) else overrides.pop("ENV_NAME", None) if overrides else None
    app.config.update(config_module.load(name))
    app.config.update(overrides)
    if app.config.get("INSTANCE_PATH"):
        app.instance_path = os.path.abspath(app.config["INSTANCE_PATH"])
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "cadre.sqlite3")
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri[len("postgres://"):]
    elif uri.startswith("postgresql://"):
        uri = app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri[len("postgresql://"):]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app.config["MEDIA_ROOT"] = os.path.abspath(app.config.get("MEDIA_ROOT") or os.path.join(root, "media"))
    app.config["COURSES_DIR"] = os.path.abspath(app.config.get("COURSES_DIR") or os.path.join(root, "courses"))
    if uri.startswith("sqlite"):
        opts = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        opts.setdefault("connect_args", {"timeout": app.config["SQLITE_BUSY_TIMEOUT_MS"] / 1000})
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = opts

    _init_extensions(app)
    _register_blueprints(app)
    from app import cli, errors

    errors.register_error_handlers(app)
    cli.register(app)
    _register_template_helpers(app)
    _install_log_filter(app)
    return app


def _init_extensions(app: Flask) -> None:
    from app import jobs
    from app.extensions import api, babel, csrf, db, login_manager, migrate

    db.init_app(app)
    # Before CSRFProtect's hook, which reads the body: the size limit must already be right,
    # and text with NUL characters is refused before anything parses it further.
    app.before_request(_request_limits)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=lambda: app.config["BABEL_DEFAULT_TIMEZONE"])
    login_manager.init_app(app)
    jobs.init_app(app)
    from app import ratelimit, search

    ratelimit.init_app(app)

    search.init_app(app)
    from app.catalogue import search_sync

    search_sync.install()
    from app.credits import services as credit_services

    credit_services.register_handlers()

    from app.accounts.services import load_session_user

    login_manager.user_loader(load_session_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = None  # sessions are server-side and rotated on login

    @login_manager.unauthorized_handler
    def _unauthorized():
        from flask import redirect, url_for
        from flask_babel import gettext as _

        from app.errors import problem

        # A session cookie that still names a login the server has ended (card reported lost,
        # password changed, signed out elsewhere, idle too long): say so instead of a bare login page.
        ended = session.pop("_user_id", None) is not None
        if request.path.startswith("/api/"):
            if ended:
                return problem(401, "session_ended", _("登录已失效"), _("登录已失效,请重新登录"))
            return problem(401, "unauthenticated", _("未登录"), _("请先登录"))
        if ended:
            from flask import flash

            flash(_("登录已失效,请重新登录。学习卡挂失、修改密码、在别处退出或长时间未操作后,原来的登录随之结束。"), "info")
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))

    api.init_app(app, spec_kwargs={"info": {"description": "干部在线学习中心 JSON API v1"}})
    models_loaded()


VIDEO_UPLOAD_ENDPOINTS = {"catalogue_api.upload_lesson_video", "catalogue_admin.lesson_video"}


def _request_limits():
    from flask import current_app

    from app.errors import Invalid

    if request.endpoint in VIDEO_UPLOAD_ENDPOINTS:
        # video arrives in chunks larger than the general upload limit
        request.max_content_length = current_app.config["VIDEO_CHUNK_BYTES"] + 1024 * 1024
    if any("\x00" in v for v in request.args.values()):
        raise Invalid(_nul_message(), code="invalid_characters")
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.is_json:
            raw = request.get_data(cache=True)
            if b"\\u0000" in raw or b"\x00" in raw:
                raise Invalid(_nul_message(), code="invalid_characters")
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            if any("\x00" in v for v in request.form.values()):
                raise Invalid(_nul_message(), code="invalid_characters")


def _nul_message() -> str:
    from flask_babel import gettext as _

    return _("输入中含有不允许的控制字符")


def models_loaded() -> None:
    """Import every model module so that the metadata is complete (Alembic, tests)."""
    import app.accounts.models  # noqa: F401
    import app.audit.models  # noqa: F401
    import app.catalogue.models  # noqa: F401
    import app.credits.models  # noqa: F401
    import app.exams.models  # noqa: F401
    import app.learning.models  # noqa: F401
    import app.notifications.models  # noqa: F401
    import app.reports.models  # noqa: F401


def _select_locale():
    from flask import current_app, has_request_context
    from flask_login import current_user

    langs = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("locale")
    if chosen in langs:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in langs:
        return current_user.locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _register_blueprints(app: Flask) -> None:
    from werkzeug.routing import IntegerConverter

    class DatabaseInt(IntegerConverter):
        """<int:…> in URLs stops at the database's integer range: a larger id is simply not found."""

        def __init__(self, url_map, *args, **kwargs):
            kwargs.setdefault("max", 2**31 - 1)
            super().__init__(url_map, *args, **kwargs)

    app.url_map.converters["int"] = DatabaseInt

    from app.accounts.views import admin_bp, auth_bp
    from app.catalogue.admin_views import bp as catalogue_admin_bp
    from app.catalogue.media_views import bp as media_bp
    from app.catalogue.views import bp as catalogue_bp
    from app.api import register_api
    from app.audit.views import bp as audit_bp
    from app.main.views import bp as main_bp
    from app.learning.views import bp as learning_bp
    from app.credits.training_views import bp as credits_training_bp
    from app.credits.views import bp as credits_bp
    from app.credits.application_views import bp as credits_applications_bp
    from app.notifications.views import bp as notifications_bp
    from app.exams.views import bp as exams_bp
    from app.exams.paper_views import bp as papers_bp
    from app.exams.admin_views import bp as exams_admin_bp
    from app.reports.unit_views import bp as reports_bp
    from app.reports import course_views, export_views, trend_views  # noqa: F401  (routes on reports_bp)
    from app.reports.archive_views import bp as archive_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(catalogue_bp)
    app.register_blueprint(catalogue_admin_bp)
    app.register_blueprint(media_bp)
    app.register_blueprint(learning_bp)
    app.register_blueprint(credits_training_bp)
    app.register_blueprint(credits_bp)
    app.register_blueprint(credits_applications_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(exams_bp)
    app.register_blueprint(papers_bp)
    app.register_blueprint(exams_admin_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(archive_bp)
    register_api(app)

    @app.after_request
    def _security_headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        )
        return resp

    @app.teardown_request
    def _rollback_uncommitted(exc):
        # Nothing half-done survives a failed request: the one commit is explicit in the view.
        from app.extensions import db

        if exc is not None:
            db.session.rollback()


class _NoIdNumbers(logging.Filter):
    """Masks 18-character ID numbers in log records (they must never reach the logs)."""

    import re as _re

    _pattern = _re.compile(r"(?<![0-9])(\d{4})\d{10}(\d{3}[\dXx])(?![0-9])")

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        masked = self._pattern.sub(r"\1**********\2", msg)
        if masked != msg:
            record.msg, record.args = masked, ()
        return True


def _install_log_filter(app: Flask) -> None:
    f = _NoIdNumbers()
    app.logger.addFilter(f)
    for h in logging.getLogger().handlers:
        h.addFilter(f)
    logging.getLogger("werkzeug").addFilter(f)


def _register_template_helpers(app: Flask) -> None:
    from zoneinfo import ZoneInfo

    from flask_babel import gettext as _

    from app.audit.views import ACTIONS

    tz = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    roles = {"cadre": "学员", "netadmin": "网络管理员", "viewer": "部门查看", "orgadmin": "组织部管理员"}
    ranks = {"county": "县处级及以上", "township": "乡科级", "other": "其他"}

    def _v(x):
        return getattr(x, "value", x)

    from flask_babel import get_locale

    app.jinja_env.globals.update(
        get_locale=get_locale,
        role_label=lambda r: _(roles.get(_v(r), _v(r))),
        rank_label=lambda r: _(ranks.get(_v(r), _v(r))),
        action_label=lambda a: _(ACTIONS.get(a, a)),
        has_endpoint=lambda endpoint: endpoint in app.view_functions,
    )
    from markupsafe import Markup, escape

    state_labels = {"draft": "草稿", "published": "已发布", "retired": "已下架"}

    def course_state_badge(state) -> Markup:
        value = _v(state)
        return Markup(f'<span class="badge badge-state-{escape(value)}">{escape(_(state_labels.get(value, value)))}</span>')

    def duration(seconds) -> str:
        s = int(round(seconds or 0))
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"

    _static_versions: dict[str, str] = {}

    @app.url_defaults
    def _static_version(endpoint, values):
        # Static files are cached for days by browsers and nginx: their URLs carry the file's
        # modification time and size, so a deployment that changes a file changes its URL.
        if endpoint != "static" or "filename" not in values or "v" in values:
            return
        name = values["filename"]
        version = _static_versions.get(name)
        if version is None:
            try:
                st = os.stat(os.path.join(app.static_folder, name))
                version = f"{int(st.st_mtime):x}{st.st_size:x}"
            except OSError:
                version = ""
            _static_versions[name] = version
        if version:
            values["v"] = version

    app.jinja_env.globals["course_state_badge"] = course_state_badge
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["localtime"] = lambda d: d.astimezone(tz).strftime("%Y-%m-%d %H:%M") if d else ""
    app.jinja_env.filters["localdate"] = lambda d: d.astimezone(tz).strftime("%Y-%m-%d") if d else ""

    @app.context_processor
    def _unread_notifications():
        # The header's badge: the logged-in user's unread notifications (0 when it cannot be counted).
        from flask import has_request_context
        from flask_login import current_user
        from sqlalchemy.exc import SQLAlchemyError

        from app.notifications.services import unread_count

        if not has_request_context() or not getattr(current_user, "is_authenticated", False):
            return {"unread_notifications": 0}
        try:
            return {"unread_notifications": unread_count(current_user.id)}
        except SQLAlchemyError:
            return {"unread_notifications": 0}
