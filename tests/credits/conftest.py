"""Credits fixtures: the small city of tests/conftest.py, a server clock set to a chosen date,
and helpers to put credits in the ledger."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from app.accounts.models import Rank, User
from app.accounts import services as accounts
from app.credits import services
from app.credits.models import CreditKind
from app.extensions import db
from app.learning import services as learning
from tests.conftest import make_id


class Clock:
    def __init__(self):
        self.t = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.t

    def set(self, y: int, m: int = 6, d: int = 15) -> None:
        self.t = datetime(y, m, d, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(learning, "now", c)
    return c


_counter = iter(range(10_000, 99_999))


def give(user_id: int, credits: int, year: int, *, kind: CreditKind = CreditKind.ADJUSTMENT, hours: int = 0,
         source_id: int | None = None):
    """Put `credits` in a cadre's ledger for `year` (a test shortcut for earned credits)."""
    return services.award(user_id, kind=kind, credits=credits, hours=hours, source_type="test",
                          source_id=source_id if source_id is not None else next(_counter),
                          title="测试", earned_on=date(year, 6, 1))


@pytest.fixture
def unit_of_nine(app, world):
    """Nine cadres in 渭滨区财政局 (with 李明 of the world: eight more), all 乡科级."""
    with app.test_request_context():
        admin = db.session.get(User, world.wb_admin)
        ids = [world.wb_cadre]
        for i in range(8):
            u = accounts.register_cadre(admin, accounts.CadreInfo(
                name=f"学员{i}", id_number=make_id("610302", f"1981030{i + 1}", f"{i:03d}"),
                unit_id=world.wb_bureau, rank=Rank.TOWNSHIP))
            ids.append(u.id)
        db.session.commit()
        return ids
