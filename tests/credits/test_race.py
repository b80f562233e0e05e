"""A source earns at most once even when two requests race: two threads, each with its own database
connection and transaction, award the same source at the same moment; the database's partial
unique index lets exactly one of them in. Runs on a database of its own (committed rows in the
ledger cannot be deleted, so they must not land in the shared test database)."""
from __future__ import annotations

import threading
import uuid
from datetime import date

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import scoped_session, sessionmaker

from app.accounts import services as accounts
from app.accounts.models import Rank, Role
from app.credits import services
from app.credits.models import CreditEntry, CreditKind
from app.db import Base
from app.extensions import db
from tests.conftest import PASSWORD, make_id


@pytest.fixture
def own_database(app, tmp_path):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgresql"):
        base, name = url.rsplit("/", 1)[0], f"race_{uuid.uuid4().hex[:10]}"
        admin = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        engine = create_engine(f"{base}/{name}")
    else:
        admin, name = None, None
        engine = create_engine(f"sqlite:///{tmp_path}/race.sqlite3", connect_args={"timeout": 30})
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()
    if admin is not None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("round_", range(3))
def test_two_racing_awards_of_one_source_earn_once(app, own_database, monkeypatch, round_):
    # One session per thread, each on its own connection.
    monkeypatch.setattr(db, "session", scoped_session(sessionmaker(bind=own_database)))
    with app.test_request_context():
        city = accounts.create_unit(None, "竞态市", parent=None, code="R1")
        org = accounts.create_staff(None, username="race_org", name="组织部", role=Role.ORGADMIN, unit=city,
                                    password=PASSWORD)
        cadre = accounts.register_cadre(org, accounts.CadreInfo(
            name="赵竞", id_number=make_id("610302", "19800101", "777"), unit_id=city.id, rank=Rank.OTHER))
        db.session.commit()
        user_id = cadre.id
        db.session.remove()

    barrier = threading.Barrier(2)
    results, errors = [], []

    def request():
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                entry = services.award(user_id, kind=CreditKind.ONLINE_COURSE, credits=3, source_type="course_credits",
                                       source_id=42, title="课程", earned_on=date(2026, 6, 1))
                db.session.commit()
                results.append(entry.id if entry else None)
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            db.session.remove()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(results) == 2 and results.count(None) == 1
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(CreditEntry).where(
            CreditEntry.user_id == user_id, CreditEntry.source_type == "course_credits", CreditEntry.source_id == 42))
        total = db.session.scalar(select(func.sum(CreditEntry.credits)).where(CreditEntry.user_id == user_id))
        db.session.remove()
    assert (rows, total) == (1, 3)
