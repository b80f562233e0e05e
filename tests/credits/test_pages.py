"""The credit pages: a cadre's 我的学分, an administrator's view of a cadre with adjustment and
reversal, a unit's assessment with the one-third flag, the rules with their history and closing."""
from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from app.accounts.models import User
from app.audit.models import AuditEvent
from app.credits import services
from app.credits.models import CreditEntry, CreditKind, CreditYear
from app.extensions import db
from tests.catalogue.conftest import _cadre_login
from tests.conftest import ApiClient
from tests.credits.conftest import give


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def section(html: str, element_id: str) -> str:
    m = re.search(rf'<(\w+)[^>]* id="{element_id}".*?</\1>', html, re.S)
    assert m, f"no #{element_id}"
    return m.group(0)


def page(client, url, status=200) -> str:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code)
    return r.get_data(as_text=True)


def staff(app, login) -> ApiClient:
    c = ApiClient(app.test_client())
    assert c.login(login).status_code == 200
    return c


def in_db(app, fn):
    """Run fn against the database in an application context of its own (a context left pushed
    around the test client's requests would share flask.g, and with it the CSRF token, between users)."""
    with app.app_context():
        return fn()


def count_adjustments(app) -> int:
    return in_db(app, lambda: db.session.scalar(select(func.count()).select_from(CreditEntry)
                                                .where(CreditEntry.source_type == "adjustment")))


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.fixture
def ledger(app, world, clock):
    """李明 with 45 credits and 30 hours this year (2026): 15 short of 60."""
    with app.test_request_context():
        give(world.wb_cadre, 40, 2026, kind=CreditKind.OFFLINE_TRAINING, hours=24)
        give(world.wb_cadre, 5, 2026, kind=CreditKind.AWARD, hours=6)
        db.session.commit()


def test_my_credits_shows_the_ring_what_is_missing_and_the_ledger(app, world, ledger):
    cadre = _cadre_login(app, world.wb_cadre)
    html = page(cadre, "/credits/")
    ring = section(html, "missing")
    assert "还差 15 学分" in text(ring)
    assert 'aria-label="45 / 60 学分"' in html
    assert "未达标" in text(html) and "年度进行中" in text(html)
    by_kind = text(section(html, "by-kind"))
    assert "脱产培训 40 24" in by_kind and "表彰奖励 5 6" in by_kind and "本年合计 45 30" in by_kind
    cycle = text(section(html, "cycle"))
    assert "2026–2030" in cycle and "45 / 300" in cycle and "30 / 500" in cycle  # 乡科级: 500 hours
    ledger_html = text(section(html, "ledger"))
    assert "共 2 条" in ledger_html and "+40" in ledger_html
    # a cadre sees no administration
    assert "学分调整" not in text(section(html, "ledger")) and 'id="adjust"' not in html
    assert "我的学分" in html  # in the navigation


def test_the_cadre_home_shows_this_year_s_credits_against_the_requirement(app, world, ledger):
    html = page(_cadre_login(app, world.wb_cadre), "/")
    assert "2026 年度学分" in html
    assert "45 / 60 学分" in text(html) and 'data-pct="75"' in html


def test_a_cadre_cannot_open_another_cadres_credits_or_the_admin_pages(app, world, ledger):
    cadre = _cadre_login(app, world.wb_cadre)
    page(cadre, f"/credits/cadres/{world.jt_cadre}", 403)
    page(cadre, "/credits/assessment", 403)
    assert cadre.get(f"/api/v1/credits/summary?user_id={world.jt_cadre}").status_code == 404


def test_orgadmin_adjusts_and_reverses_and_the_history_stays_visible(app, world, ledger):
    org = staff(app, "org")
    url = f"/credits/cadres/{world.wb_cadre}"
    html = page(org, url)
    assert 'id="adjust"' in html
    r = org.c.post(f"{url}/adjust", data={"csrf_token": csrf(html), "credits": "15", "hours": "0", "year": "",
                                          "reason": "补记 2026 年党校培训"})
    assert r.status_code == 302
    html = page(org, url)
    assert "已达标" in text(html) and 'aria-label="60 / 60 学分"' in html
    entry = in_db(app, lambda: db.session.scalar(select(CreditEntry).where(CreditEntry.source_type == "adjustment")))
    assert entry.credits == 15 and entry.recorded_by_id == world.orgadmin and entry.reason == "补记 2026 年党校培训"

    r = org.c.post(f"/credits/entries/{entry.id}/reverse", data={"csrf_token": csrf(html), "reason": "重复登记"})
    assert r.status_code == 302
    html = page(org, url)
    row = section(html, f"entry-{entry.id}")
    assert "已撤销" in text(row)
    assert 'aria-label="45 / 60 学分"' in html and "还差 15 学分" in text(html)
    assert "撤销:学分调整" in text(section(html, "ledger")) and "重复登记" in text(section(html, "ledger"))
    # a second reversal of the same entry is refused and changes nothing
    org.c.post(f"/credits/entries/{entry.id}/reverse", data={"csrf_token": csrf(html), "reason": "再撤一次"})
    assert in_db(app, lambda: db.session.scalar(select(func.count()).select_from(CreditEntry)
                                                .where(CreditEntry.reverses_id == entry.id))) == 1
    actions = in_db(app, lambda: set(db.session.scalars(select(AuditEvent.action))))
    assert {"credits.adjust", "credits.reverse"} <= actions


def test_adjustment_without_a_reason_changes_nothing(app, world, ledger):
    org = staff(app, "org")
    url = f"/credits/cadres/{world.wb_cadre}"
    html = page(org, url)
    org.c.post(f"{url}/adjust", data={"csrf_token": csrf(html), "credits": "5", "reason": ""})
    assert count_adjustments(app) == 0
    assert "请填写原因" in page(org, url)


def test_a_network_administrator_reads_but_does_not_adjust(app, world, ledger):
    wb = staff(app, "wbadmin")
    html = page(wb, f"/credits/cadres/{world.wb_cadre}")
    assert 'id="adjust"' not in html and "撤销" not in text(section(html, "ledger"))
    r = wb.c.post(f"/credits/cadres/{world.wb_cadre}/adjust",
                  data={"csrf_token": csrf(html), "credits": "5", "reason": "试图调整"})
    assert r.status_code == 403
    assert count_adjustments(app) == 0
    # another district's administrator does not see the cadre at all
    page(staff(app, "jtadmin"), f"/credits/cadres/{world.wb_cadre}", 404)


@pytest.mark.parametrize("bad, flagged", [(3, True), (2, False)])
def test_assessment_page_lists_the_unqualified_and_flags_one_third(app, world, clock, unit_of_nine, bad, flagged):
    with app.test_request_context():
        for uid in unit_of_nine[bad:]:
            give(uid, 60, 2026)
        db.session.commit()
    html = page(staff(app, "wbadmin"), f"/credits/assessment?unit={world.wb_bureau}&year=2026")
    stats = text(html)
    assert f"不合格名单 {bad} 人" in stats
    assert ('id="flag"' in html) is flagged
    assert 'data-stat="rate">' + ("66.7%" if bad == 3 else "77.8%") in html
    names = text(section(html, "unqualified"))
    unqualified = in_db(app, lambda: [db.session.get(User, uid).name for uid in unit_of_nine[:bad]])
    assert all(n in names for n in unqualified)
    # the district page rolls the bureau up as a sub-unit
    district = page(staff(app, "wbadmin"), f"/credits/assessment?unit={world.wb}&year=2026")
    row = text(section(district, "subunits"))
    assert "渭滨区财政局 9" in row and (("不合格达三分之一" in row) is flagged)


def test_assessment_is_scoped_to_the_administrators_units(app, world, clock, unit_of_nine):
    page(staff(app, "jtadmin"), f"/credits/assessment?unit={world.wb_bureau}", 404)
    html = page(staff(app, "org"), f"/credits/assessment?unit={world.city}")
    assert "王芳" in html and "李明" in html
    assert "王芳" not in page(staff(app, "wbadmin"), "/credits/assessment")


def test_rules_page_saves_a_version_with_history_and_only_orgadmin_may(app, world, clock):
    viewer = staff(app, "wbview")
    html = page(viewer, "/credits/rules")
    assert "disabled" in section(html, "rules-form") and "保存规则" not in html
    r = viewer.c.post("/credits/rules", data={"csrf_token": csrf(html), "effective_year": "2027"})
    assert r.status_code == 403

    org = staff(app, "org")
    html = page(org, "/credits/rules?year=2027")
    form = dict(re.findall(r'<input[^>]*id="(\w+)"[^>]*value="(-?\d+)"', section(html, "rules-form")))
    assert form["annual_township"] == "60" and form["offline_per_day"] == "5"
    form.update({"csrf_token": csrf(html), "annual_township": "50", "effective_year": "2027",
                 "reason": "乡科级年度要求调整"})
    r = org.c.post("/credits/rules", data=form)
    assert r.status_code == 302, text(r.get_data(as_text=True))[:1500]
    history = text(section(page(org, "/credits/rules"), "history"))
    assert "2027 年起执行" in history and "年度学分要求:乡科级:60 → 50" in history and "乡科级年度要求调整" in history
    with app.test_request_context():
        assert services.get_rules(2026).annual("township") == 60 and services.get_rules(2027).annual("township") == 50
    # a bad value is refused with the field's message and nothing is saved
    form.update({"annual_county": "abc", "effective_year": "2028"})
    r = org.c.post("/credits/rules", data=form)
    assert r.status_code == 400, r.status_code
    assert "不是有效的整数" in text(section(r.get_data(as_text=True), "rules-form"))
    assert in_db(app, lambda: len(services.rule_history())) == 1


def test_closing_a_year_from_the_rules_page(app, world, clock):
    clock.set(2027, 1, 10)
    with app.test_request_context():
        give(world.wb_cadre, 61, 2026)
        db.session.commit()
    org = staff(app, "org")
    html = page(org, "/credits/rules")
    r = org.c.post("/credits/years/close", data={"csrf_token": csrf(html), "year": "2026"})
    assert r.status_code == 302
    assert in_db(app, lambda: db.session.get(CreditYear, 2026).closed_at) is not None
    html = page(org, "/credits/rules")
    assert "2026 年度" in text(section(html, "years"))
    cadre_page = page(org, f"/credits/cadres/{world.wb_cadre}?year=2026")
    assert "已结转" in text(cadre_page) and "合格" in text(section(cadre_page, "cycle"))


def test_sub_unit_roll_up_counts_each_cadre_under_its_branch(app, world, clock, unit_of_nine):
    """The district page rolls 渭滨区财政局's nine up under the bureau, and 李明's rank decides his row."""
    with app.test_request_context():
        from app.accounts.models import Unit

        org = db.session.get(User, world.orgadmin)
        ua = services.assess_unit(org, db.session.get(Unit, world.city), 2026)
        subs = {s.unit.name: (s.total, len(s.unqualified), s.flagged) for s in services.sub_unit_assessments(ua)}
    assert subs == {"渭滨区": (9, 9, True), "金台区": (1, 1, True)}
