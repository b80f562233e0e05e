"""Learning-archive certificates: a printed archive carries a code that /verify/<code> confirms
against the totals stored when it was issued."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow


class ArchiveCertificate(Base):
    """One issued verification code for a cadre's archive of one year; never changed afterwards."""

    __tablename__ = "archive_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random base32 (no separators); shown grouped in fours.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    year: Mapped[int]
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The archive's key totals as they were when issued (what the printed page showed).
    summary: Mapped[dict] = mapped_column(JSON, default=dict)

    user = relationship("User", foreign_keys=[user_id])
    issued_by = relationship("User", foreign_keys=[issued_by_id])


class ReportExport(Base):
    """A report export run in the background (a big unit's lists, the year-end assessment report):
    its request, progress and the file it produced, kept for EXPORT_KEEP_DAYS."""

    __tablename__ = "report_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # unit | course | trend | year_end
    fmt: Mapped[str] = mapped_column(String(8))  # xlsx | csv
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # resolved filters (ids and dates)
    title: Mapped[str] = mapped_column(String(200))  # what it is, for the list (e.g. 年度考核报表 · 宝鸡市 · 2026)
    state: Mapped[str] = mapped_column(String(12), default="queued")  # queued | running | done | failed
    progress: Mapped[int] = mapped_column(default=0)  # 0…100
    stage: Mapped[str | None] = mapped_column(String(80))
    filename: Mapped[str | None] = mapped_column(String(200))  # the download's name
    size: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    user = relationship("User")
