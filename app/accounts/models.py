"""Units, users (with their roles), cadre profiles, study cards, login sessions and throttles."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, StrEnum, TimestampMixin, str_enum as _enum, utcnow


class UnitLevel(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    BUREAU = "bureau"
    SECTION = "section"


class Role(StrEnum):
    CADRE = "cadre"
    NETADMIN = "netadmin"  # 网络管理员, scoped to a unit subtree
    VIEWER = "viewer"  # 部门查看, scoped and read-only
    ORGADMIN = "orgadmin"  # 组织部管理员, whole city


class Rank(StrEnum):
    COUNTY = "county"  # 县处级及以上
    TOWNSHIP = "township"  # 乡科级
    OTHER = "other"  # 其他


class Gender(StrEnum):
    MALE = "M"
    FEMALE = "F"


class CardState(StrEnum):
    ACTIVE = "active"
    LOST = "lost"
    CANCELLED = "cancelled"


class RegistrationKind(StrEnum):
    REGULAR = "regular"
    SUPPLEMENTARY = "supplementary"  # 补录
    IMPORT = "import"


class Unit(TimestampMixin, Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[UnitLevel] = mapped_column(_enum(UnitLevel))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # Materialised path "/1/4/17/": a subtree is one indexed prefix match.
    path: Mapped[str] = mapped_column(String(255), index=True, default="")
    sort_order: Mapped[int] = mapped_column(default=0)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent", order_by="Unit.sort_order, Unit.id")

    __table_args__ = (UniqueConstraint("parent_id", "name", name="uq_units_parent_name"),)

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    def contains(self, other: Unit) -> bool:
        return other.path.startswith(self.path)

    @property
    def local_name(self) -> str:
        """The unit's names below the city, "渭滨区 · 区财政局 · 预算绩效股": a section's name alone
        repeats across the city (every bureau has its 办公室), and a printed card must say whose it is."""
        parts, unit = [], self
        while unit is not None and unit.level != UnitLevel.CITY:
            parts.append(unit.name)
            unit = unit.parent
        return " · ".join(reversed(parts)) or self.name


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[Role] = mapped_column(_enum(Role), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(default=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    locale: Mapped[str | None] = mapped_column(String(16))

    unit: Mapped[Unit] = relationship()
    cadre: Mapped[Cadre | None] = relationship(back_populates="user", uselist=False,
                                               foreign_keys="Cadre.user_id")
    cards: Mapped[list[StudyCard]] = relationship(back_populates="user", order_by="StudyCard.id",
                                                  foreign_keys="StudyCard.user_id")

    # Flask-Login protocol; the id it stores is the server-side login session's token.
    login_token = None  # not mapped: set per request by the session loader

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self.login_token

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.NETADMIN, Role.ORGADMIN)

    @property
    def active_card(self) -> StudyCard | None:
        return next((c for c in self.cards if c.state == CardState.ACTIVE), None)


class Cadre(Base):
    """The real-name profile of a learner; one per cadre user."""

    __tablename__ = "cadres"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    gender: Mapped[Gender] = mapped_column(_enum(Gender))
    birth_date: Mapped[date]
    rank: Mapped[Rank] = mapped_column(_enum(Rank), index=True)
    position: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    registration_kind: Mapped[RegistrationKind] = mapped_column(_enum(RegistrationKind))
    supplementary_reason: Mapped[str | None] = mapped_column(Text)
    supplementary_date: Mapped[date | None]
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="cadre", foreign_keys=[user_id])
    transfers: Mapped[list[UnitTransfer]] = relationship(order_by="UnitTransfer.id", back_populates="cadre")


class UnitTransfer(Base):
    """A cadre's move between units; the history is kept whole."""

    __tablename__ = "unit_transfers"

    id: Mapped[int] = mapped_column(primary_key=True)
    cadre_id: Mapped[int] = mapped_column(ForeignKey("cadres.user_id"), index=True)
    from_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    cadre: Mapped[Cadre] = relationship(back_populates="transfers")
    from_unit: Mapped[Unit] = relationship(foreign_keys=[from_unit_id])
    to_unit: Mapped[Unit] = relationship(foreign_keys=[to_unit_id])
    by: Mapped[User] = relationship()


class StudyCard(Base):
    __tablename__ = "study_cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[CardState] = mapped_column(_enum(CardState), default=CardState.ACTIVE)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    lost_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("study_cards.id"))
    # Whether the initial password sheet has been printed (the password itself is never stored).
    batch: Mapped[str | None] = mapped_column(String(32), index=True)

    user: Mapped[User] = relationship(back_populates="cards", foreign_keys=[user_id])
    issued_by: Mapped[User] = relationship(foreign_keys=[issued_by_id])
    replaces: Mapped[StudyCard | None] = relationship(remote_side=[id])

    __table_args__ = (
        # One cadre, one active card: enforced by the database, not only by the service.
        Index("uq_study_cards_one_active", "user_id", unique=True,
              sqlite_where=text("state = 'active'"), postgresql_where=text("state = 'active'")),
    )

    @property
    def display_number(self) -> str:
        n = self.number
        return " ".join(n[i:i + 4] for i in range(0, len(n), 4))


class LoginSession(Base):
    """A server-side login session; the cookie carries only its token."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    card_id: Mapped[int | None] = mapped_column(ForeignKey("study_cards.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Failed-login counters per client address (per-account counters live on users)."""

    __tablename__ = "login_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]


class RosterImport(Base):
    """An uploaded roster file: previewed first, applied on confirmation."""

    __tablename__ = "roster_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="previewed")  # previewed/running/done/failed
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    unchanged_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
