"""The demo city comes with a year of credits made through the real workflows."""
from __future__ import annotations

from sqlalchemy import func, select

from app.credits import services
from app.credits.models import ApplicationState, CreditApplication, CreditEntry, CreditKind, TrainingClass
from app.demo import seed_demo
from app.extensions import db


def test_demo_has_training_applications_and_a_mixed_assessment(ctx, clock):
    seed_demo(cadres=30)
    assert db.session.scalar(select(func.count()).select_from(TrainingClass)) >= 4
    states = set(db.session.scalars(select(CreditApplication.state)))
    assert {ApplicationState.SUBMITTED, ApplicationState.REVIEWED, ApplicationState.APPROVED,
            ApplicationState.REJECTED} <= states
    kinds = set(db.session.scalars(select(CreditEntry.kind)))
    assert {CreditKind.OFFLINE_TRAINING, CreditKind.AWARD} <= kinds
    # every approved application is in the ledger once
    approved = db.session.scalars(select(CreditApplication).where(CreditApplication.state == ApplicationState.APPROVED))
    assert all(a.entry_id is not None for a in approved)
    from app.accounts.models import Unit, User

    org = db.session.scalar(select(User).where(User.username == "admin"))
    root = db.session.scalar(select(Unit).where(Unit.parent_id.is_(None)))
    ua = services.assess_unit(org, root, clock().year)
    assert ua.total == 30 and 0 < ua.qualified < 30
