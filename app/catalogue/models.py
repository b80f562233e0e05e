"""Categories, courses, lessons, video assets and media (upload/transcode) jobs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, StrEnum, TimestampMixin, str_enum, utcnow


class CategoryKind(StrEnum):
    SUBJECT = "subject"  # 专题分类
    LOCAL = "local"  # 地方特色模块


class CourseState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"  # withdrawn from the catalogue; records stay


class MediaJobState(StrEnum):
    UPLOADING = "uploading"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


RANK_VALUES = ("county", "township", "other")


class Category(TimestampMixin, Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    kind: Mapped[CategoryKind] = mapped_column(str_enum(CategoryKind))
    position: Mapped[int] = mapped_column(default=0)
    description: Mapped[str] = mapped_column(Text, default="")
    # Retired categories leave the catalogue home; their courses are kept and stay reachable.
    retired_at: Mapped[datetime | None]

    courses: Mapped[list[Course]] = relationship(back_populates="category")

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


class Course(TimestampMixin, Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(100), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    lecturer: Mapped[str] = mapped_column(String(50))
    lecturer_title: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    class_hours: Mapped[int]
    credits: Mapped[int]
    required: Mapped[bool] = mapped_column(default=False)
    # Comma-separated ranks the course is meant for ("county,township,other").
    target_ranks: Mapped[str] = mapped_column(String(40), default=",".join(RANK_VALUES))
    state: Mapped[CourseState] = mapped_column(str_enum(CourseState), default=CourseState.DRAFT, index=True)
    published_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # sha256 of the course package it was imported from; an unchanged package is skipped.
    package_hash: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    category: Mapped[Category] = relationship(back_populates="courses")
    lessons: Mapped[list[Lesson]] = relationship(back_populates="course", order_by="Lesson.position",
                                                 cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint("credits BETWEEN 5 AND 20", name="credits_range"),
        CheckConstraint("class_hours BETWEEN 1 AND 100", name="class_hours_range"),
    )

    @property
    def rank_list(self) -> list[str]:
        return [r for r in self.target_ranks.split(",") if r]

    @property
    def published(self) -> bool:
        return self.state == CourseState.PUBLISHED

    @property
    def duration(self) -> float:
        return sum(lesson.video.duration for lesson in self.lessons if lesson.video)


class VideoAsset(TimestampMixin, Base):
    """A playable MP4 and its poster under MEDIA_ROOT/<storage_dir>/ (video.mp4, poster.jpg)."""

    __tablename__ = "video_assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    storage_dir: Mapped[str] = mapped_column(String(255))
    duration: Mapped[float]
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    origin: Mapped[str] = mapped_column(String(16))  # upload | package | sample

    @property
    def video_relpath(self) -> str:
        return f"{self.storage_dir}/video.mp4"

    @property
    def poster_relpath(self) -> str:
        return f"{self.storage_dir}/poster.jpg"


class Lesson(TimestampMixin, Base):
    __tablename__ = "lessons"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(Text, default="")
    video_id: Mapped[int | None] = mapped_column(ForeignKey("video_assets.id"))
    # What the package asked for (a sample's title+length or a file's hash): re-imports regenerate
    # the video only when this changes.
    video_source: Mapped[str | None] = mapped_column(String(64))

    course: Mapped[Course] = relationship(back_populates="lessons")
    video: Mapped[VideoAsset | None] = relationship()

    __table_args__ = (UniqueConstraint("course_id", "position", name="uq_lessons_course_position"),)


class MediaJob(TimestampMixin, Base):
    """One uploaded video on its way to a lesson: upload (possibly in chunks) → probe → transcode."""

    __tablename__ = "media_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    state: Mapped[MediaJobState] = mapped_column(str_enum(MediaJobState), default=MediaJobState.UPLOADING)
    progress: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    original_name: Mapped[str] = mapped_column(String(255))
    # The upload as received, kept (also after a failure) under MEDIA_ROOT/originals/.
    original_relpath: Mapped[str] = mapped_column(String(255), default="")
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    received_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Moves with every progress step: a running job whose worker died stops moving.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("video_assets.id"))

    lesson: Mapped[Lesson] = relationship()
    asset: Mapped[VideoAsset | None] = relationship()

    __table_args__ = (CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),)
