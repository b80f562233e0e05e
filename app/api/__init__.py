"""JSON API v1: flask-smorest blueprints whose OpenAPI document is generated from the code
and served at /api/v1/openapi.json."""
from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    from app.accounts.api import blp as accounts_blp
    from app.audit.api import blp as audit_blp
    from app.catalogue.api import blp as catalogue_blp
    from app.credits.training_api import blp as credits_training_blp
    from app.credits.api import blp as credits_blp
    from app.credits.application_api import blp as credits_applications_blp
    from app.notifications.api import blp as notifications_blp
    from app.learning.api import blp as learning_blp
    from app.exams.api import blp as exams_blp
    from app.reports.api import blp as reports_blp
    from app.extensions import api

    api.spec.components.security_scheme("cookieAuth", {"type": "apiKey", "in": "cookie",
                                                       "name": app.config["SESSION_COOKIE_NAME"]})
    api.spec.components.security_scheme("csrfToken", {"type": "apiKey", "in": "header", "name": "X-CSRFToken"})
    api.register_blueprint(accounts_blp, url_prefix="/api/v1")
    api.register_blueprint(audit_blp, url_prefix="/api/v1")
    api.register_blueprint(catalogue_blp, url_prefix="/api/v1")
    api.register_blueprint(learning_blp, url_prefix="/api/v1")
    api.register_blueprint(credits_training_blp, url_prefix="/api/v1")
    api.register_blueprint(credits_blp, url_prefix="/api/v1")
    api.register_blueprint(credits_applications_blp, url_prefix="/api/v1")
    api.register_blueprint(notifications_blp, url_prefix="/api/v1")
    api.register_blueprint(exams_blp, url_prefix="/api/v1")
    api.register_blueprint(reports_blp, url_prefix="/api/v1")
