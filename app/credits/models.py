"""Credits (学分制, 附件三): the append-only ledger, the rules of each year, year closings and their
frozen assessments, offline training classes and credit applications."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, StrEnum, str_enum, utcnow


class CreditCategory(StrEnum):
    """第六条: basic, additional and reward credits; adjustments are the administrators' corrections."""

    BASIC = "basic"
    ADDITIONAL = "additional"
    REWARD = "reward"
    ADJUSTMENT = "adjustment"


class CreditKind(StrEnum):
    ONLINE_COURSE = "online_course"  # 第七条(二): course exam passed / paper approved; completion hours
    OFFLINE_TRAINING = "offline"  # 第七条(一): 脱产培训
    DEGREE = "degree"  # 第八条: 学历学位进修
    BOOK = "book"  # 第九条: 著作
    ARTICLE = "article"  # 第九条: 文章
    AWARD = "award"  # 第九条: 表彰奖励
    ADJUSTMENT = "adjustment"


CATEGORY_OF = {
    CreditKind.ONLINE_COURSE: CreditCategory.BASIC,
    CreditKind.OFFLINE_TRAINING: CreditCategory.BASIC,
    CreditKind.DEGREE: CreditCategory.ADDITIONAL,
    CreditKind.BOOK: CreditCategory.REWARD,
    CreditKind.ARTICLE: CreditCategory.REWARD,
    CreditKind.AWARD: CreditCategory.REWARD,
    CreditKind.ADJUSTMENT: CreditCategory.ADJUSTMENT,
}


class CreditEntry(Base):
    """One line of the ledger. Rows are never updated or deleted (database triggers refuse it); a
    correction is a new row that reverses another."""

    __tablename__ = "credit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The assessment year the entry counts in: the year of earned_on, or the first open year after
    # it when that year is already closed.
    year: Mapped[int]
    kind: Mapped[CreditKind] = mapped_column(str_enum(CreditKind))
    category: Mapped[CreditCategory] = mapped_column(str_enum(CreditCategory))
    credits: Mapped[int] = mapped_column(default=0)
    hours: Mapped[int] = mapped_column(default=0)  # 学时
    # What earned it: ("course_hours", course id), ("course_credits", course id),
    # ("offline_training", attendance id), ("application", application id), ("adjustment", None).
    source_type: Mapped[str] = mapped_column(String(24))
    source_id: Mapped[int | None]
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("credit_entries.id"), unique=True)
    title: Mapped[str] = mapped_column(String(200))  # what the cadre reads in the ledger
    reason: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    earned_on: Mapped[date]
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the platform
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    recorded_by = relationship("User", foreign_keys=[recorded_by_id])
    reverses: Mapped[CreditEntry | None] = relationship(remote_side=[id], foreign_keys=[reverses_id])

    __table_args__ = (
        Index("ix_credit_entries_user_year", "user_id", "year"),
        Index("ix_credit_entries_year", "year"),
        # A source earns at most once: enforced by the database, so that two racing requests
        # cannot both insert. Reversals repeat their original's source and are exempt.
        Index("uq_credit_entries_source", "user_id", "source_type", "source_id", unique=True,
              sqlite_where=text("reverses_id IS NULL AND source_id IS NOT NULL"),
              postgresql_where=text("reverses_id IS NULL AND source_id IS NOT NULL")),
    )


class CreditRuleVersion(Base):
    """The rules in force from `effective_year` on (until a later year has its own); every save is a
    new version, so the history is the table."""

    __tablename__ = "credit_rule_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    effective_year: Mapped[int] = mapped_column(index=True)
    values: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    created_by = relationship("User")


class CreditYear(Base):
    """An assessment year. The row exists once anything was recorded in the year; a closed year is
    frozen: its rules and every cadre's result are kept as they were at closing."""

    __tablename__ = "credit_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rules: Mapped[dict | None] = mapped_column(JSON)

    closed_by = relationship("User")


class AssessmentRecord(Base):
    """A cadre's result for a closed year, frozen at closing (rank and unit as they were then)."""

    __tablename__ = "assessment_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("credit_years.year"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    rank: Mapped[str] = mapped_column(String(16))
    basic: Mapped[int] = mapped_column(default=0)
    additional: Mapped[int] = mapped_column(default=0)
    reward: Mapped[int] = mapped_column(default=0)
    adjustment: Mapped[int] = mapped_column(default=0)
    hours: Mapped[int] = mapped_column(default=0)
    carried_in: Mapped[int] = mapped_column(default=0)
    requirement: Mapped[int]
    qualified: Mapped[bool]
    carried_out: Mapped[int] = mapped_column(default=0)

    __table_args__ = (UniqueConstraint("year", "user_id", name="uq_assessment_records_year_user"),)


class TrainingClass(Base):
    """An offline training class (脱产培训) recorded by a network administrator for their cadres."""

    __tablename__ = "training_classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organiser: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date]
    end_date: Mapped[date]
    days: Mapped[int]
    evidence_path: Mapped[str | None] = mapped_column(String(255))  # under CREDITS_EVIDENCE_DIR
    evidence_name: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # the recorder's unit
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    recorded_by = relationship("User")
    unit = relationship("Unit")
    attendances: Mapped[list[TrainingAttendance]] = relationship(back_populates="training_class",
                                                                 order_by="TrainingAttendance.id")

    __table_args__ = (
        CheckConstraint("days >= 1 AND days <= 366", name="days_range"),
        CheckConstraint("end_date >= start_date", name="dates_order"),
    )


class TrainingAttendance(Base):
    """One cadre's place in a training class: the ledger entry's source."""

    __tablename__ = "training_attendances"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("training_classes.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    credits: Mapped[int] = mapped_column(default=0)
    hours: Mapped[int] = mapped_column(default=0)

    training_class: Mapped[TrainingClass] = relationship(back_populates="attendances")
    user = relationship("User")

    __table_args__ = (UniqueConstraint("class_id", "user_id", name="uq_training_attendances_class_user"),)


class ApplicationKind(StrEnum):
    DEGREE = "degree"
    BOOK = "book"
    ARTICLE = "article"
    AWARD = "award"


class ApplicationState(StrEnum):
    SUBMITTED = "submitted"  # 待单位审核
    REVIEWED = "reviewed"  # 单位已审核, 待组织部审批
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class CreditApplication(Base):
    """A cadre's application for additional (degree) or reward (book, article, award) credits
    (第十二条): reviewed by their unit's network administrator, decided by the organisation department."""

    __tablename__ = "credit_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[ApplicationKind] = mapped_column(str_enum(ApplicationKind))
    # book: sole/co/contributor; article: sole/co; award: first/second/third/honour;
    # degree: none/doctorate/master/bachelor (the degree obtained in the year applied for).
    level: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    details: Mapped[str | None] = mapped_column(Text)
    event_date: Mapped[date]  # published / awarded / (degree) a date in the study year claimed
    study_year: Mapped[int | None]  # degree: the year of study claimed
    admission_date: Mapped[date | None]  # degree: 入学通知书
    evidence_path: Mapped[str | None] = mapped_column(String(255))
    evidence_name: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[int]  # by the rule table; recomputed at approval for the year it counts in
    state: Mapped[ApplicationState] = mapped_column(str_enum(ApplicationState), default=ApplicationState.SUBMITTED)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    review_comment: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("credit_entries.id"))

    user = relationship("User", foreign_keys=[user_id])
    reviewed_by = relationship("User", foreign_keys=[reviewed_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])
    entry = relationship(CreditEntry)

    __table_args__ = (
        Index("ix_credit_applications_state", "state"),
        # One live degree-study application per cadre and year of study.
        Index("uq_credit_applications_degree_year", "user_id", "study_year", unique=True,
              sqlite_where=text("kind = 'degree' AND state IN ('submitted', 'reviewed', 'approved')"),
              postgresql_where=text("kind = 'degree' AND state IN ('submitted', 'reviewed', 'approved')")),
    )
