"""The regulation's assessment rules (附件三), by article."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from app.accounts.models import Rank, Unit, User
from app.credits import services
from app.credits.models import CreditEntry, CreditKind
from app.errors import Conflict, PermissionDenied, RuleViolation
from app.extensions import db
from tests.credits.conftest import give


@pytest.fixture
def actors(app, world, clock):
    with app.test_request_context():
        yield (db.session.get(User, world.orgadmin), db.session.get(User, world.wb_cadre),
               db.session.get(Unit, world.wb_bureau))


def test_article_17_fifty_nine_is_unqualified_sixty_is_qualified(actors):
    org, cadre, _unit = actors
    give(cadre.id, 59, 2026)
    a = services.assess_cadre(org, cadre, 2026)
    assert (a.result.total, a.result.requirement, a.result.qualified, a.result.missing) == (59, 60, False, 1)
    give(cadre.id, 1, 2026)
    a = services.assess_cadre(org, cadre, 2026)
    assert (a.result.total, a.result.qualified, a.result.missing) == (60, True, 0)


def test_article_15_excess_of_year_one_is_carried_into_year_two(actors, clock):
    org, cadre, _unit = actors
    clock.set(2027)
    give(cadre.id, 75, 2026)
    one = services.assess_cadre(org, cadre, 2026)
    assert (one.result.total, one.result.carried_out) == (75, 15)
    two = services.assess_cadre(org, cadre, 2027)
    assert (two.result.carried_in, two.result.earned, two.result.total) == (15, 0, 15)
    give(cadre.id, 45, 2027)
    two = services.assess_cadre(org, cadre, 2027)
    assert two.result.total == 60 and two.result.qualified
    # The five-year cycle counts what was earned, not what was carried.
    assert two.cycle.credits == 120 and two.cycle.credits_required == 300 and two.cycle.status == "in_progress"


def test_article_5_a_new_cycle_starts_with_nothing_carried(actors, clock):
    org, cadre, _unit = actors
    clock.set(2031)
    give(cadre.id, 100, 2030)
    a = services.assess_cadre(org, cadre, 2031)
    assert a.cycle.first == 2031 and a.result.carried_in == 0


def test_rank_sets_the_requirement_and_the_admin_can_lower_it(actors):
    org, cadre, _unit = actors
    assert cadre.cadre.rank == Rank.TOWNSHIP
    services.set_rules(org, 2026, {"annual_township": 50}, reason="乡科级 50 学分")
    give(cadre.id, 50, 2026)
    a = services.assess_cadre(org, cadre, 2026)
    assert a.result.requirement == 50 and a.result.qualified
    assert a.cycle.hours_required == 500
    cadre.cadre.rank = Rank.COUNTY
    db.session.flush()
    a = services.assess_cadre(org, cadre, 2026)
    assert a.result.requirement == 60 and not a.result.qualified and a.cycle.hours_required == 550


def test_article_18_three_of_nine_unqualified_flags_the_unit(actors, unit_of_nine):
    org, _cadre, unit = actors
    for uid in unit_of_nine[:7]:
        give(uid, 60, 2026)
    ua = services.assess_unit(org, unit, 2026)
    assert (ua.total, len(ua.unqualified), ua.flagged) == (9, 2, False)
    assert round(ua.qualified_rate, 4) == round(7 / 9, 4)
    give(unit_of_nine[6], -1, 2026)
    ua = services.assess_unit(org, unit, 2026)
    assert (len(ua.unqualified), ua.flagged) == (3, True)


def test_a_source_earns_once(actors):
    _org, cadre, _unit = actors
    first = services.award(cadre.id, kind=CreditKind.OFFLINE_TRAINING, credits=15, source_type="offline_training",
                           source_id=7, title="班", earned_on=date(2026, 5, 1))
    again = services.award(cadre.id, kind=CreditKind.OFFLINE_TRAINING, credits=15, source_type="offline_training",
                           source_id=7, title="班", earned_on=date(2026, 5, 1))
    assert first is not None and again is None
    assert services.assess_cadre(cadre, cadre, 2026).result.basic == 15


def test_reversal_leaves_the_total_right_and_the_history_visible(actors):
    org, cadre, _unit = actors
    e = give(cadre.id, 20, 2026, kind=CreditKind.AWARD)
    give(cadre.id, 40, 2026)
    rev = services.reverse_entry(org, e.id, reason="证书有误")
    assert rev.credits == -20 and rev.reverses_id == e.id
    a = services.assess_cadre(org, cadre, 2026)
    assert a.result.total == 40 and a.result.reward == 0
    history = services.list_entries(org, cadre, year=2026).items
    assert [x.credits for x in history] == [-20, 40, 20]
    with pytest.raises(Conflict):
        services.reverse_entry(org, e.id, reason="再次")
    with pytest.raises(RuleViolation):
        services.reverse_entry(org, rev.id, reason="撤销的撤销")


def test_ledger_rows_cannot_be_changed_or_deleted(actors):
    _org, cadre, _unit = actors
    e = give(cadre.id, 5, 2026)
    db.session.commit()
    for sql in (f"UPDATE credit_entries SET credits = 50 WHERE id = {e.id}", f"DELETE FROM credit_entries WHERE id = {e.id}"):
        with pytest.raises(Exception, match="append-only"):
            with db.session.begin_nested():
                db.session.execute(text(sql))
    assert db.session.scalar(text(f"SELECT credits FROM credit_entries WHERE id = {e.id}")) == 5


def test_changing_next_years_rules_leaves_a_closed_year_unchanged(actors, clock):
    org, cadre, _unit = actors
    clock.set(2027, 1, 5)
    give(cadre.id, 55, 2026)
    services.close_year(org, 2026)
    before = services.assess_cadre(org, cadre, 2026).result
    assert (before.requirement, before.qualified, before.closed) == (60, False, True)
    services.set_rules(org, 2027, {"annual_township": 50})
    with pytest.raises(RuleViolation):
        services.set_rules(org, 2026, {"annual_township": 50})
    after = services.assess_cadre(org, cadre, 2026).result
    assert (after.requirement, after.qualified, after.total) == (60, False, 55)
    assert services.assess_cadre(org, cadre, 2027).result.requirement == 50


def test_entries_for_a_closed_year_count_in_the_next(actors, clock):
    org, cadre, _unit = actors
    clock.set(2027, 1, 5)
    services.close_year(org, 2026)
    late = give(cadre.id, 10, 2026)
    assert late.year == 2027
    assert services.assess_cadre(org, cadre, 2026).result.total == 0
    assert services.assess_cadre(org, cadre, 2027).result.total == 10
    with pytest.raises(Conflict):
        services.close_year(org, 2026)


def test_a_cadre_who_moves_unit_keeps_the_ledger(app, actors, world):
    org, cadre, _unit = actors
    from app.accounts import services as accounts

    give(cadre.id, 61, 2026)
    accounts.transfer_cadre(org, cadre, world.jt, reason="调动")
    assert services.assess_cadre(org, cadre, 2026).result.total == 61
    jt = db.session.get(Unit, world.jt)
    rows = services.assess_unit(org, jt, 2026).rows
    assert [r.result.total for r in rows if r.user_id == cadre.id] == [61]


def test_only_the_organisation_department_adjusts_and_sets_rules(actors, world):
    _org, cadre, _unit = actors
    admin = db.session.get(User, world.wb_admin)
    with pytest.raises(PermissionDenied):
        services.adjust_credits(admin, cadre, credits=5, reason="试试")
    with pytest.raises(PermissionDenied):
        services.set_rules(admin, 2026, {"annual_township": 1})
