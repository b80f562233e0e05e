"""Learning records after Kolibri's split: one row per visit (WatchSession) and one summary row
per cadre × lesson (LessonProgress) and cadre × course (CourseProgress); 防挂机 checks; daily
roll-ups of study time and time online written with the report that produced them."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, StrEnum, TimestampMixin, str_enum, utcnow


class SessionState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # a still-studying check went unanswered: a new session is needed
    ENDED = "ended"


class WatchSession(TimestampMixin, Base):
    __tablename__ = "watch_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the browser holds; random so that a session cannot be guessed.
    key: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    state: Mapped[SessionState] = mapped_column(str_enum(SessionState), default=SessionState.ACTIVE)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    ended_at: Mapped[datetime | None]
    last_seq: Mapped[int] = mapped_column(default=0)
    # Server time of the last accepted report (or of the start): the clock credit is measured by.
    last_report_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_position: Mapped[float] = mapped_column(Float, default=0.0)
    credited_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # Credited playing time after which the next still-studying check is due.
    next_check_at: Mapped[float] = mapped_column(Float, default=0.0)
    # The unanswered check, if any (saves a query on every report; study_checks.session_id is the
    # foreign key, this is only a pointer back).
    pending_check_id: Mapped[int | None]
    user_agent: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("ix_watch_sessions_user_state", "user_id", "state"),)


class LessonProgress(Base):
    __tablename__ = "lesson_progress"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    # Union of watched seconds as sorted, disjoint [start, end] pairs.
    ranges: Mapped[list] = mapped_column(JSON, default=list)
    covered_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    furthest: Mapped[float] = mapped_column(Float, default=0.0)
    last_position: Mapped[float] = mapped_column(Float, default=0.0)
    credited_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("user_id", "lesson_id", name="uq_lesson_progress_user_lesson"),)


class CourseProgress(Base):
    __tablename__ = "course_progress"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    lessons_completed: Mapped[int] = mapped_column(default=0)
    # Sum of the lessons' covered seconds, kept in step by each report.
    covered_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    credited_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("user_id", "course_id", name="uq_course_progress_user_course"),)


class StudyCheck(TimestampMixin, Base):
    """A still-studying (防挂机) challenge: pick the number shown in a picture. The answer stays
    on the server until the cadre has answered."""

    __tablename__ = "study_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("watch_sessions.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    answer: Mapped[int]
    options: Mapped[list] = mapped_column(JSON)
    expires_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    wrong_answers: Mapped[int] = mapped_column(default=0)

    session: Mapped[WatchSession] = relationship()


class StudyDay(Base):
    """Credited watch seconds per cadre per day (Asia/Shanghai) per course."""

    __tablename__ = "study_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    day: Mapped[date] = mapped_column(Date)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (UniqueConstraint("user_id", "day", "course_id", name="uq_study_days_user_day_course"),
                      Index("ix_study_days_day", "day"))


class OnlineDay(Base):
    """Time with the site open and active per cadre per day; gaps between activity are capped."""

    __tablename__ = "online_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    day: Mapped[date] = mapped_column(Date)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "day", name="uq_online_days_user_day"),
                      Index("ix_online_days_day", "day"))
