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
