"""One app per test session on a database built by the Alembic migrations; each test runs in
a transaction that is rolled back at its end (SQLAlchemy's "join an external transaction"
recipe with create_savepoint), so tests never see each other's rows.

DATABASE_URL=postgresql://… runs the same suite on PostgreSQL (a database per xdist worker).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import scoped_session, sessionmaker

from app import create_app
from app.accounts import services
from app.accounts.models import Rank, Role
from app.accounts.idnumber import check_digit
from app.extensions import db

PASSWORD = "Passw0rd!x"


def _database_url(tmp_path_factory, worker: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql")):
        base = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)
        name = base.rsplit("/", 1)[1] + f"_{worker}"
        admin = create_engine(base.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return base.rsplit("/", 1)[0] + "/" + name
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    from flask_migrate import upgrade

    url = _database_url(tmp_path_factory, os.environ.get("PYTEST_XDIST_WORKER", "main"))
    instance = tmp_path_factory.mktemp("instance")
    application = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance),
                              "MEDIA_ROOT": str(tmp_path_factory.mktemp("media"))})
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _transaction(app):
    """Every test inside one outer transaction, rolled back at the end."""
    with app.app_context():
        engine = db.engine
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    original = db.session
    db.session = scoped_session(factory, scopefunc=original.registry.scopefunc)
    try:
        yield
    finally:
        with app.app_context():
            db.session.remove()
        db.session = original
        outer.rollback()
        connection.close()


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


def make_id(region: str = "610302", born: str = "19850315", seq: str = "123") -> str:
    first17 = region + born + seq
    return first17 + check_digit(first17)


@dataclass
class World:
    city: int
    wb: int
    wb_bureau: int
    jt: int
    orgadmin: int
    wb_admin: int
    jt_admin: int
    wb_viewer: int
    wb_cadre: int
    jt_cadre: int


@pytest.fixture
def world(app) -> World:
    """A small city: two districts with a network administrator each, a viewer, two cadres."""
    with app.test_request_context():
        city = services.create_unit(None, "测试市", parent=None, code="T61")
        org = services.create_staff(None, username="org", name="组织部", role=Role.ORGADMIN, unit=city,
                                    password=PASSWORD)
        wb = services.create_unit(org, "渭滨区", parent=city)
        wb_b = services.create_unit(org, "渭滨区财政局", parent=wb)
        jt = services.create_unit(org, "金台区", parent=city)
        wb_admin = services.create_staff(org, username="wbadmin", name="渭滨管理员", role=Role.NETADMIN,
                                         unit=wb, password=PASSWORD)
        jt_admin = services.create_staff(org, username="jtadmin", name="金台管理员", role=Role.NETADMIN,
                                         unit=jt, password=PASSWORD)
        viewer = services.create_staff(org, username="wbview", name="渭滨查看", role=Role.VIEWER, unit=wb,
                                       password=PASSWORD)
        c1 = services.register_cadre(wb_admin, services.CadreInfo(
            name="李明", id_number=make_id("610302", "19800101", "111"), unit_id=wb_b.id, rank=Rank.TOWNSHIP))
        c2 = services.register_cadre(jt_admin, services.CadreInfo(
            name="王芳", id_number=make_id("610303", "19820202", "222"), unit_id=jt.id, rank=Rank.OTHER))
        db.session.commit()
        return World(city.id, wb.id, wb_b.id, jt.id, org.id, wb_admin.id, jt_admin.id, viewer.id, c1.id, c2.id)


class ApiClient:
    """A test client that logs in through the API and sends the CSRF token on mutating calls."""

    def __init__(self, client):
        self.c = client
        self.csrf = None

    def login(self, login, password=PASSWORD):
        r = self.c.post("/api/v1/auth/login", json={"login": login, "password": password})
        if r.status_code == 200:
            self.csrf = r.json["csrf_token"]
        return r

    def _h(self):
        return {"X-CSRFToken": self.csrf} if self.csrf else {}

    def get(self, url, **kw):
        return self.c.get(url, **kw)

    def post(self, url, **kw):
        return self.c.post(url, headers=self._h(), **kw)

    def patch(self, url, **kw):
        return self.c.patch(url, headers=self._h(), **kw)

    def put(self, url, **kw):
        return self.c.put(url, headers=self._h(), **kw)


@pytest.fixture
def api(app):
    return ApiClient(app.test_client())


@pytest.fixture
def make_api(app):
    return lambda: ApiClient(app.test_client())


def get(model, id_):
    return db.session.get(model, id_)


