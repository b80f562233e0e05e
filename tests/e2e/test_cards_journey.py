"""A network administrator issues a card, the cadre logs in with it and must change the
password; the administrator reports it lost and the cadre's open session dies; screenshots of
the login page, the administrator's card page and the card sheet are kept in test-artifacts/."""
import re

import pytest

from tests.e2e.conftest import shot

pytestmark = pytest.mark.e2e


def login(page, base, who, password):
    page.goto(base + "/login")
    page.fill("input[name=login]", who)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_card_lifecycle_in_a_real_browser(live_server, browser, page):
    base, pw = live_server["url"], live_server["password"]
    page.goto(base + "/login")
    assert page.locator("h1").inner_text() == "干部在线学习中心"
    shot(page, "01-login")

    login(page, base, "wb_admin", pw)
    page.goto(base + "/admin/cadres")
    # register a new cadre through the form
    page.click("text=登记学员")
    page.fill("input[name=name]", "测试学员")
    page.fill("input[name=id_number]", "61030219850315123X")  # wrong check digit first
    page.click("button[type=submit]")
    assert "校验位" in page.locator(".field.has-error .error").inner_text()
    from app.accounts.idnumber import check_digit

    first17 = "61030219850315123"
    page.fill("input[name=id_number]", first17 + check_digit(first17))
    page.click("button[type=submit]")
    assert "已登记学员" in page.locator(".flash").inner_text()
    page.click("form[action$='/cards'] button")
    # the card sheet with the one-time password
    number = page.locator(".pcard-row strong.mono").first.inner_text()
    password = page.locator(".pw").first.inner_text()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", number)
    page.emulate_media(media="print")
    shot(page, "03-card-sheet")
    page.emulate_media(media="screen")

    # the cadre logs in with the card in another browser and must change the password
    cadre_ctx = browser.new_context(locale="zh-CN")
    cadre = cadre_ctx.new_page()
    login(cadre, base, number, password)
    assert cadre.url.endswith("/password")
    cadre.fill("input[name=old_password]", password)
    cadre.fill("input[name=new_password]", "Study2026ok")
    cadre.fill("input[name=confirm]", "Study2026ok")
    cadre.click("button[type=submit]")
    assert "我的学习卡" in cadre.content()

    # back to the administrator: the cadre's page, report the card lost
    page.goto(base + "/admin/cadres?q=测试学员")
    page.click("text=测试学员")
    shot(page, "02-admin-card-page")
    page.once("dialog", lambda d: d.accept())
    page.click("form[action$='/lost'] button")
    assert "已挂失" in page.locator(".flash").inner_text()
    assert page.locator("button:has-text('补卡')").count() == 1

    # the cadre's open session is dead
    cadre.reload()
    assert "/login" in cadre.url
    login(cadre, base, number, "Study2026ok")
    assert "挂失" in cadre.locator(".flash").inner_text()
    cadre_ctx.close()

    # the audit log shows the card actions
    page.goto(base + "/admin/audit/?action=card")
    text = page.locator("table").inner_text()
    assert "发卡" in text and "挂失" in text
