"""Unbound extension instances; bound in create_app."""
import flask_smorest
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from app.api.schemas import Problem, ProblemDetailsPlugin
from app.db import Base

# pool_pre_ping: a pooled connection that the database dropped (a restart, a failover, an idle
# timeout) is noticed when it is checked out and replaced, instead of failing the next request on
# it; CADRE_SQLALCHEMY_ENGINE_OPTIONS may still set it otherwise.
db = SQLAlchemy(metadata=Base.metadata, engine_options={"pool_pre_ping": True})
migrate = Migrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


class Api(flask_smorest.Api):
    # errors are RFC 9457 problem details (app/errors.py), not flask-smorest's own error body
    ERROR_SCHEMA = Problem


api = Api(spec_kwargs={"extra_plugins": [ProblemDetailsPlugin()]})
