"""Question bank and exam settings per course (attempts arrive with the exams issue)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, StrEnum, TimestampMixin, str_enum, utcnow


class QuestionKind(StrEnum):
    SINGLE = "single"  # 单选
    MULTIPLE = "multiple"  # 多选
    TRUEFALSE = "truefalse"  # 判断


class Question(TimestampMixin, Base):
    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    kind: Mapped[QuestionKind] = mapped_column(str_enum(QuestionKind))
    stem: Mapped[str] = mapped_column(Text)
    options: Mapped[list] = mapped_column(JSON, default=list)
    # Letters of the correct options ("B", "ACD"); "T" or "F" for true/false.
    answer: Mapped[str] = mapped_column(String(8))
    explanation: Mapped[str] = mapped_column(Text, default="")
    retired_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("course_id", "position", name="uq_questions_course_position"),)


class ExamSetting(Base):
    __tablename__ = "exam_settings"

    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    question_count: Mapped[int] = mapped_column(default=10)
    time_limit_minutes: Mapped[int] = mapped_column(default=30)
    pass_mark: Mapped[int] = mapped_column(default=60)
    attempts_per_day: Mapped[int] = mapped_column(default=3)
    attempts_total: Mapped[int] = mapped_column(default=0)  # 0: unlimited
    show_answers_after_pass: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (CheckConstraint("pass_mark BETWEEN 1 AND 100", name="pass_mark_range"),)
