"""Account rules, tested without HTTP."""
from datetime import date

import pytest
from sqlalchemy import func, select, text

from app.accounts import services
from app.accounts.idnumber import mask_id_number, parse_id_number
from app.accounts.models import Cadre, CardState, Gender, Rank, StudyCard, User
from app.accounts.secrets_gen import luhn_valid, new_card_number
from app.audit.models import AuditEvent
from app.errors import Conflict, Invalid, NotFound, RateLimited
from app.extensions import db
from tests.conftest import PASSWORD, make_id


def test_id_number_check_digit_and_derived_facts(ctx):
    facts = parse_id_number("11010519491231002X")  # the standard's own example
    assert facts.birth_date == date(1949, 12, 31)
    assert facts.gender == Gender.FEMALE
    male = parse_id_number(make_id("610302", "19850315", "131"))
    assert male.gender == Gender.MALE


@pytest.mark.parametrize("raw, reason", [
    ("110105194912310021", "校验位"),
    ("11010519491231002", "18 位"),
    ("1101051949123100AX", "数字"),
    ("110105194913310028", "出生日期"),
    ("990105194912310021", "地区码"),
])
def test_invalid_id_numbers_are_refused_in_chinese(ctx, raw, reason):
    with pytest.raises(Invalid) as e:
        parse_id_number(raw)
    assert reason in e.value.message and e.value.field == "id_number"


def test_id_number_masked_as_first_four_and_last_four():
    assert mask_id_number("610302198503151234") == "6103**********1234"


def test_card_numbers_have_a_check_digit_and_share_nothing_with_neighbours():
    numbers = [new_card_number() for _ in range(200)]
    assert all(luhn_valid(n) and len(n) == 16 for n in numbers)
    assert len(set(numbers)) == 200
    # consecutive cards differ in most random digits (not a counter)
    diffs = [sum(a != b for a, b in zip(x[2:-1], y[2:-1])) for x, y in zip(numbers, numbers[1:])]
    assert min(diffs) >= 5


def test_invalid_id_number_writes_nothing(ctx, world):
    admin = db.session.get(User, world.wb_admin)
    before = db.session.scalar(select(func.count(Cadre.user_id)))
    good = make_id(seq="777")
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(Invalid) as e:
        services.register_cadre(admin, services.CadreInfo(name="赵六", id_number=bad, unit_id=world.wb))
    assert "校验位" in e.value.message
    assert db.session.scalar(select(func.count(Cadre.user_id))) == before


def test_duplicate_id_number_is_refused(ctx, world):
    admin = db.session.get(User, world.wb_admin)
    existing = db.session.get(User, world.wb_cadre).cadre.id_number
    with pytest.raises(Conflict) as e:
        services.register_cadre(admin, services.CadreInfo(name="重复", id_number=existing, unit_id=world.wb))
    assert "已登记" in e.value.message


def test_supplementary_registration_keeps_reason_and_date(ctx, world):
    admin = db.session.get(User, world.wb_admin)
    with pytest.raises(Invalid):
        services.register_cadre(admin, services.CadreInfo(name="补录", id_number=make_id(seq="555"),
                                                          unit_id=world.wb, supplementary=True))
    user = services.register_cadre(admin, services.CadreInfo(
        name="补录", id_number=make_id(seq="555"), unit_id=world.wb, supplementary=True,
        supplementary_reason="新调入", supplementary_date=date(2026, 3, 1)))
    assert user.cadre.registration_kind.value == "supplementary"
    assert user.cadre.supplementary_reason == "新调入"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "cadre.supplement",
                                                      AuditEvent.target_id == user.id)) is not None


def test_district_admin_cannot_reach_another_districts_cadre(ctx, world):
    jt_admin = db.session.get(User, world.jt_admin)
    with pytest.raises(NotFound):
        services.get_cadre(jt_admin, world.wb_cadre)


def test_transfer_keeps_history(ctx, world):
    org = db.session.get(User, world.orgadmin)
    user = db.session.get(User, world.wb_cadre)
    services.transfer_cadre(org, user, world.jt, reason="工作调动")
    assert user.unit_id == world.jt
    assert [(t.from_unit_id, t.to_unit_id) for t in user.cadre.transfers] == [(world.wb_bureau, world.jt)]
    # the old district's administrator no longer sees the cadre; the new one does
    with pytest.raises(NotFound):
        services.get_cadre(db.session.get(User, world.wb_admin), user.id)
    assert services.get_cadre(db.session.get(User, world.jt_admin), user.id) is user


def test_one_active_card_per_cadre_enforced_by_database(ctx, world):
    admin = db.session.get(User, world.wb_admin)
    user = db.session.get(User, world.wb_cadre)
    issued = services.issue_card(admin, user)
    with pytest.raises(Conflict):
        services.issue_card(admin, user)
    # even bypassing the service, the partial unique index refuses a second active card
    nested = db.session.begin_nested()
    db.session.add(StudyCard(number="8600000000000000", user_id=user.id, issued_by_id=admin.id,
                             state=CardState.ACTIVE))
    with pytest.raises(Exception):
        db.session.flush()
    nested.rollback()
    assert issued.card.state == CardState.ACTIVE


def test_lost_card_keeps_account_and_reissue_gives_new_number(ctx, world):
    admin = db.session.get(User, world.wb_admin)
    user = db.session.get(User, world.wb_cadre)
    first = services.issue_card(admin, user)
    services.report_card_lost(admin, first.card)
    with pytest.raises(Conflict):
        services.issue_card(admin, user)  # a lost card is replaced with 补卡, not a fresh issue
    second = services.reissue_card(admin, first.card)
    assert second.card.number != first.card.number
    assert second.card.user_id == user.id and second.card.replaces_id == first.card.id
    assert first.card.state == CardState.LOST
    with pytest.raises(Conflict):
        services.reissue_card(admin, first.card)


def test_a_lost_card_says_whether_a_new_card_was_issued(ctx, world):
    admin = db.session.get(User, world.wb_admin)
    user = db.session.get(User, world.wb_cadre)
    first = services.issue_card(admin, user).card
    services.report_card_lost(admin, first)
    user.password_hash = services.hash_password(PASSWORD)
    with pytest.raises(Invalid) as e:
        services.authenticate(first.number, PASSWORD)
    assert e.value.message == "这张学习卡已挂失,不能再登录;请联系网络管理员补卡"
    second = services.reissue_card(admin, first).card
    user.password_hash = services.hash_password(PASSWORD)
    with pytest.raises(Invalid) as e:
        services.authenticate(first.number, PASSWORD)
    assert e.value.message == "这张学习卡已挂失并已补办新卡,不能再登录;请使用新卡登录"
    assert services.authenticate(second.number, PASSWORD).card.id == second.id


def test_every_card_action_is_audited(ctx, world):
    admin = db.session.get(User, world.wb_admin)
    user = db.session.get(User, world.wb_cadre)
    a = services.issue_card(admin, user).card
    services.report_card_lost(admin, a)
    b = services.reissue_card(admin, a).card
    services.cancel_card(admin, b, reason="调离")
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.details["cadre_id"].as_integer() == user.id)
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["card.issue", "card.lost", "card.reissue", "card.cancel"]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.startswith("card."))).all()
    assert all(e.actor_id == admin.id and e.unit_path.startswith(admin.unit.path) for e in events)


def test_audit_log_cannot_be_altered_even_in_sql(ctx, world):
    event = db.session.scalars(select(AuditEvent)).first()
    nested = db.session.begin_nested()
    with pytest.raises(Exception):
        db.session.execute(text("UPDATE audit_events SET action = 'x' WHERE id = :i"), {"i": event.id})
    nested.rollback()
    nested = db.session.begin_nested()
    with pytest.raises(Exception):
        db.session.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": event.id})
    nested.rollback()


def test_tenth_wrong_password_locks_the_account_and_says_until_when(ctx, world, app):
    admin = db.session.get(User, world.wb_admin)
    user = db.session.get(User, world.wb_cadre)
    card = services.issue_card(admin, user).card
    for i in range(9):
        with pytest.raises(Invalid):
            services.authenticate(card.number, "wrong-password")
    with pytest.raises(RateLimited) as e:
        services.authenticate(card.number, "wrong-password")
    assert "锁定" in e.value.message and "分钟" in e.value.message
    assert e.value.retry_after > 60
    # now even the right password is refused until the lock ends
    db.session.flush()
    user.password_hash = services.hash_password(PASSWORD)
    with pytest.raises(RateLimited):
        services.authenticate(card.number, PASSWORD)


def test_rank_aliases_from_rosters(ctx):
    assert services.parse_rank("县处级以上") == Rank.COUNTY
    assert services.parse_rank("乡科级") == Rank.TOWNSHIP
    with pytest.raises(Invalid):
        services.parse_rank("部级")
