"""Question bank, exam settings and attempts per course; papers (论文) with their versions and
review decisions; appointed paper reviewers."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, StrEnum, TimestampMixin, str_enum, utcnow


class QuestionKind(StrEnum):
    SINGLE = "single"  # 单选
    MULTIPLE = "multiple"  # 多选
    TRUEFALSE = "truefalse"  # 判断


class Question(TimestampMixin, Base):
    """A question of a course's bank. Once a paper has used it, it is never changed in place: an
    edit retires it and adds its successor, so that every past paper still reads as it was."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    # Order in the bank; a retired question that was replaced moves to -id to free its place.
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
    # Per-type counts; when any is set, they decide the paper (and question_count is their sum).
    single_count: Mapped[int | None]
    multiple_count: Mapped[int | None]
    truefalse_count: Mapped[int | None]
    time_limit_minutes: Mapped[int] = mapped_column(default=30)
    pass_mark: Mapped[int] = mapped_column(default=60)
    attempts_per_day: Mapped[int] = mapped_column(default=3)  # 0: unlimited
    attempts_total: Mapped[int] = mapped_column(default=0)  # 0: unlimited
    show_answers_after_pass: Mapped[bool] = mapped_column(default=True)
    # Multiple choice: all-or-nothing unless this is set (then a correct subset earns half).
    multiple_partial: Mapped[bool] = mapped_column(default=False)
    # Whether papers (论文) may be submitted for this course instead of the exam.
    papers_allowed: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (CheckConstraint("pass_mark BETWEEN 1 AND 100", name="pass_mark_range"),)

    @property
    def per_type(self) -> dict[str, int] | None:
        counts = {QuestionKind.SINGLE.value: self.single_count, QuestionKind.MULTIPLE.value: self.multiple_count,
                  QuestionKind.TRUEFALSE.value: self.truefalse_count}
        if all(v is None for v in counts.values()):
            return None
        return {k: v or 0 for k, v in counts.items()}


class AttemptEnd(StrEnum):
    SUBMITTED = "submitted"  # the cadre handed it in
    DEADLINE = "deadline"  # closed by the server at its deadline, graded with what was saved


class ExamAttempt(Base):
    """One sitting of a course's exam. The paper is drawn from `pool_ids` by `seed`; its questions
    and option orders are stored as items, so the paper can be shown and re-drawn for an audit."""

    __tablename__ = "exam_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    number: Mapped[int]  # 1, 2, … per cadre and course
    seed: Mapped[int] = mapped_column(BigInteger)
    pool_ids: Mapped[dict] = mapped_column(JSON)  # the active bank when drawn: {kind: [id, …]}
    per_type: Mapped[dict | None] = mapped_column(JSON)  # per-kind counts drawn, if the settings had them
    # The settings the attempt was sat under (a later change does not alter it).
    pass_mark: Mapped[int]
    time_limit_minutes: Mapped[int]
    multiple_partial: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    end: Mapped[AttemptEnd | None] = mapped_column(str_enum(AttemptEnd))
    score: Mapped[int | None]
    correct_count: Mapped[int | None]
    passed: Mapped[bool | None]
    # The ledger entry this attempt earned (the course's first pass only).
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("credit_entries.id"))

    items: Mapped[list[AttemptItem]] = relationship(back_populates="attempt", order_by="AttemptItem.position",
                                                    cascade="all, delete-orphan")
    course = relationship("Course")
    user = relationship("User")
    entry = relationship("CreditEntry")

    __table_args__ = (
        UniqueConstraint("user_id", "course_id", "number", name="uq_exam_attempts_user_course_number"),
        Index("ix_exam_attempts_user_course", "user_id", "course_id"),
        # One open attempt per cadre and course, decided by the database.
        Index("uq_exam_attempts_open", "user_id", "course_id", unique=True,
              sqlite_where=text("closed_at IS NULL"), postgresql_where=text("closed_at IS NULL")),
        Index("ix_exam_attempts_open_deadline", "deadline", sqlite_where=text("closed_at IS NULL"),
              postgresql_where=text("closed_at IS NULL")),
    )

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class AttemptItem(Base):
    """A question on an attempt's paper: its place, the order its options were shown in, the
    cadre's saved response (in the question's own letters) and, after grading, the points."""

    __tablename__ = "exam_attempt_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("exam_attempts.id", ondelete="CASCADE"))
    position: Mapped[int]
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), index=True)
    # option_order[i] = index in question.options of the option shown i-th.
    option_order: Mapped[list] = mapped_column(JSON, default=list)
    response: Mapped[str | None] = mapped_column(String(8))
    saved_at: Mapped[datetime | None]
    points: Mapped[float | None]

    attempt: Mapped[ExamAttempt] = relationship(back_populates="items")
    question: Mapped[Question] = relationship()

    __table_args__ = (UniqueConstraint("attempt_id", "position", name="uq_exam_attempt_items_attempt_position"),)


class PaperState(StrEnum):
    SUBMITTED = "submitted"  # waiting for review
    RETURNED = "returned"  # returned with comments; the cadre may revise
    APPROVED = "approved"
    WITHDRAWN = "withdrawn"


class Paper(Base):
    """A paper (论文) for a course, or on a free topic (course_id None) where that is allowed."""

    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[PaperState] = mapped_column(str_enum(PaperState), default=PaperState.SUBMITTED, index=True)
    version: Mapped[int] = mapped_column(default=1)  # the current version's number
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)  # of the current version
    score: Mapped[int | None]
    credits: Mapped[int | None]  # what the approval granted (the ledger may have earned less)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("credit_entries.id"))
    decided_at: Mapped[datetime | None]

    user = relationship("User")
    course = relationship("Course")
    entry = relationship("CreditEntry")
    versions: Mapped[list[PaperVersion]] = relationship(back_populates="paper", order_by="PaperVersion.number")
    reviews: Mapped[list[PaperReview]] = relationship(back_populates="paper", order_by="PaperReview.id")

    __table_args__ = (
        # One live paper per cadre and course.
        Index("uq_papers_live", "user_id", "course_id", unique=True,
              sqlite_where=text("state IN ('submitted', 'returned') AND course_id IS NOT NULL"),
              postgresql_where=text("state IN ('submitted', 'returned') AND course_id IS NOT NULL")),
    )

    @property
    def current(self) -> PaperVersion:
        return self.versions[-1]


class PaperVersion(Base):
    """What the cadre handed in, each time: never changed afterwards."""

    __tablename__ = "paper_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    file_path: Mapped[str | None] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(120))
    file_size: Mapped[int | None]
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)

    paper: Mapped[Paper] = relationship(back_populates="versions")

    __table_args__ = (UniqueConstraint("paper_id", "number", name="uq_paper_versions_paper_number"),)


class PaperDecision(StrEnum):
    APPROVE = "approve"
    RETURN = "return"


class PaperReview(Base):
    """A reviewer's decision on one version."""

    __tablename__ = "paper_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id"), index=True)
    version: Mapped[int]
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[PaperDecision] = mapped_column(str_enum(PaperDecision))
    score: Mapped[int | None]
    credits: Mapped[int | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

    paper: Mapped[Paper] = relationship(back_populates="reviews")
    reviewer = relationship("User")

    __table_args__ = (UniqueConstraint("paper_id", "version", name="uq_paper_reviews_paper_version"),)


class PaperReviewer(Base):
    """A staff member appointed to review papers (organisation-department admins always may)."""

    __tablename__ = "paper_reviewers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    appointed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    appointed_at: Mapped[datetime] = mapped_column(default=utcnow)

    user = relationship("User", foreign_keys=[user_id])


class PaperPolicy(Base):
    """The organisation department's paper settings (one row, id 1)."""

    __tablename__ = "paper_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    free_topic: Mapped[bool] = mapped_column(default=False)  # papers outside any course
    free_topic_credits: Mapped[int] = mapped_column(default=5)  # default for an approved one
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
