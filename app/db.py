"""Declarative base, shared column types and mixins, and the one place that commits."""
from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

# Alembic names constraints the same way on SQLite and PostgreSQL with this convention.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stores UTC, returns timezone-aware UTC on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class StrEnum(str, enum.Enum):
    def __str__(self) -> str:  # so that templates and JSON show the value
        return self.value


def str_enum(e):
    """A portable enum column: VARCHAR with a CHECK of the values, the same on SQLite and PostgreSQL."""
    from sqlalchemy import Enum

    return Enum(e, native_enum=False, length=16, values_callable=lambda x: [m.value for m in x],
                validate_strings=True, name=e.__name__.lower())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy control transactions (SAVEPOINT support, see SQLAlchemy's pysqlite notes).
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn):
    if conn.dialect.name == "sqlite":
        # A request that changes things takes SQLite's write lock at once (waiting up to the busy
        # timeout): a deferred transaction that reads first and writes later fails outright when
        # another writer committed in between.
        from flask import has_request_context, request

        writes = has_request_context() and request.method in ("POST", "PUT", "PATCH", "DELETE")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def enqueue_after_commit(task, *args) -> None:
    """Queue a job once commit() has committed the rows it reads."""
    from app.extensions import db

    db.session.info.setdefault("enqueue_after_commit", []).append((task, args))


def commit() -> None:
    """Commit the unit of work of the current request or command (the one place that commits)."""
    from app.extensions import db

    db.session.commit()
    # Background jobs queued by the services see committed rows only.
    for task, args in db.session.info.pop("enqueue_after_commit", []):
        task(*args)


@event.listens_for(Session, "after_rollback")
def _drop_pending_jobs(session) -> None:
    # Jobs queued by work that was rolled back must not run.
    session.info.pop("enqueue_after_commit", None)


def dialect_insert(model):
    """INSERT with ON CONFLICT support (SQLite and PostgreSQL speak the same clause)."""
    from sqlalchemy.dialects import postgresql, sqlite

    from app.extensions import db

    return (postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert)(model)
