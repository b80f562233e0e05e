"""Accounts and cards through the JSON API, as a client would use it."""
import io

from openpyxl import Workbook
from sqlalchemy import func, select

from app.accounts.models import Cadre, User
from app.extensions import db
from tests.conftest import PASSWORD, make_id

OPERATIONS = {"login", "logout", "getMe", "changePassword", "listUnits", "createUnit", "registerCadre",
              "importRoster", "listCadres", "getCadre", "updateCadre", "issueCard", "reportCardLost",
              "reissueCard", "cancelCard", "listAuditEvents"}


def _issue(api, cadre_id):
    r = api.post(f"/api/v1/cadres/{cadre_id}/cards")
    assert r.status_code == 201, r.json
    return r.json


def _cadre_logs_in(make_api, number, password, new_password="Study2026abc"):
    cadre = make_api()
    r = cadre.login(number, password)
    assert r.status_code == 200, r.json
    assert r.json["must_change_password"] is True
    # the first login forces a password change before anything else
    assert cadre.get("/api/v1/cadres").status_code == 403
    r = cadre.post("/api/v1/me/password", json={"old_password": password, "new_password": new_password})
    assert r.status_code == 204, r.json
    return cadre


def test_openapi_document_lists_every_operation(api):
    spec = api.get("/api/v1/openapi.json").json
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values() if "operationId" in op}
    assert OPERATIONS <= ids


def test_unauthenticated_call_gets_401_problem_not_redirect(api):
    r = api.get("/api/v1/me")
    assert r.status_code == 401
    assert r.mimetype == "application/problem+json" and r.json["title"] == "未登录"


def test_mutating_call_without_csrf_token_is_refused(api, world):
    assert api.login("wbadmin").status_code == 200
    r = api.c.post(f"/api/v1/cadres/{world.wb_cadre}/cards")  # no X-CSRFToken header
    assert r.status_code == 400 and r.json["code"] == "csrf"


def test_lost_card_cannot_log_in_and_its_open_sessions_die(api, make_api, world):
    api.login("wbadmin")
    issued = _issue(api, world.wb_cadre)
    cadre = _cadre_logs_in(make_api, issued["card"]["number"], issued["initial_password"])
    assert cadre.get("/api/v1/me").status_code == 200
    r = api.post(f"/api/v1/cards/{issued['card']['id']}/lost")
    assert r.status_code == 200 and r.json["state"] == "lost"
    # the session that was open is dead at once
    assert cadre.get("/api/v1/me").status_code == 401
    # and the card can no longer log in, with a reason in Chinese
    r = make_api().login(issued["card"]["number"], "Study2026abc")
    assert r.status_code == 401 and "挂失" in r.json["detail"]


def test_reissued_card_logs_in_and_sees_the_same_history(api, make_api, world):
    api.login("wbadmin")
    issued = _issue(api, world.wb_cadre)
    _cadre_logs_in(make_api, issued["card"]["number"], issued["initial_password"])
    api.patch(f"/api/v1/cadres/{world.wb_cadre}", json={"position": "科长"})
    api.post(f"/api/v1/cards/{issued['card']['id']}/lost")
    r = api.post(f"/api/v1/cards/{issued['card']['id']}/reissue")
    assert r.status_code == 201
    new = r.json
    assert new["card"]["number"] != issued["card"]["number"] and new["cadre_id"] == world.wb_cadre
    cadre = _cadre_logs_in(make_api, new["card"]["number"], new["initial_password"], "Again2026xyz")
    me = cadre.get("/api/v1/me").json
    assert me["id"] == world.wb_cadre
    assert me["cadre"]["position"] == "科长"
    assert [c["state"] for c in me["cadre"]["cards"]] == ["lost", "active"]
    # the owner sees the full ID number; others see it masked
    assert "*" not in me["cadre"]["id_number"]
    assert "**********" in api.get(f"/api/v1/cadres/{world.wb_cadre}").json["id_number"]


def test_admin_of_one_district_gets_404_for_another_districts_cadre(api, world):
    api.login("jtadmin")
    for method, url in [("get", f"/api/v1/cadres/{world.wb_cadre}"),
                        ("patch", f"/api/v1/cadres/{world.wb_cadre}"),
                        ("post", f"/api/v1/cadres/{world.wb_cadre}/cards")]:
        r = getattr(api, method)(url, json={}) if method != "get" else api.get(url)
        assert r.status_code == 404, (method, url, r.status_code)
    listed = api.get("/api/v1/cadres").json
    assert [c["id"] for c in listed["items"]] == [world.jt_cadre]


def test_viewer_reads_but_cannot_act(api, world):
    api.login("wbview")
    assert api.get(f"/api/v1/cadres/{world.wb_cadre}").status_code == 200
    assert api.post(f"/api/v1/cadres/{world.wb_cadre}/cards").status_code == 403


def test_invalid_and_duplicate_id_numbers_get_chinese_errors_and_write_nothing(api, world, app):
    api.login("wbadmin")
    with app.app_context():
        before = db.session.scalar(select(func.count(Cadre.user_id)))
    good = make_id(seq="909")
    bad = good[:17] + ("1" if good[17] != "1" else "2")
    r = api.post("/api/v1/cadres", json={"name": "甲", "id_number": bad, "unit_id": world.wb})
    assert r.status_code == 400 and r.json["field"] == "id_number" and "校验位" in r.json["detail"]
    with app.app_context():
        existing = db.session.get(User, world.wb_cadre).cadre.id_number
    r = api.post("/api/v1/cadres", json={"name": "乙", "id_number": existing, "unit_id": world.wb})
    assert r.status_code == 409 and "已登记" in r.json["detail"]
    r = api.post("/api/v1/cadres", json={"name": "丙"})  # missing fields: 400 naming the field
    assert r.status_code == 400 and r.json["field"]
    with app.app_context():
        assert db.session.scalar(select(func.count(Cadre.user_id))) == before


def _xlsx(rows):
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _import(api, unit_id, data, filename, confirm):
    return api.post("/api/v1/cadres/import", data={"unit_id": str(unit_id), "confirm": "true" if confirm else "false",
                                                  "file": (io.BytesIO(data), filename)},
                    content_type="multipart/form-data")


def test_roster_imported_twice_creates_no_duplicates(api, world, app):
    api.login("wbadmin")
    rows = [["姓名", "身份证号", "单位", "职级", "职务", "手机"]] + [
        [f"学员{i}", make_id("610302", "19900101", f"{i:03d}"), "渭滨区财政局", "乡科级", "科员", ""] for i in range(30)]
    data = _xlsx(rows)
    r = _import(api, world.wb, data, "名册.xlsx", confirm=False)
    assert r.status_code == 200 and r.json["create"] == 30 and r.json["applied"] is False
    with app.app_context():
        assert db.session.scalar(select(func.count(Cadre.user_id))) == 2  # preview wrote nothing
    r = _import(api, world.wb, data, "名册.xlsx", confirm=True)
    assert r.json["applied"] is True and r.json["create"] == 30
    r = _import(api, world.wb, data, "名册.xlsx", confirm=True)
    assert r.json["create"] == 0 and r.json["unchanged"] == 30
    with app.app_context():
        assert db.session.scalar(select(func.count(Cadre.user_id))) == 32


def test_malformed_roster_row_is_reported_and_nothing_is_written(api, world, app):
    api.login("wbadmin")
    good = make_id("610302", "19910101", "001")
    csv_text = "姓名,身份证号,职级\n张三,%s,乡科级\n李四,61030219910101000,科级\n" % good
    r = _import(api, world.wb, csv_text.encode("gbk"), "roster.csv", confirm=False)
    assert r.json["error"] == 1
    bad = [row for row in r.json["rows"] if row["status"] == "error"][0]
    assert bad["row"] == 3
    columns = {e["column"] for e in bad["errors"]}
    assert columns == {"身份证号", "职级"}
    r = _import(api, world.wb, csv_text.encode("gbk"), "roster.csv", confirm=True)
    assert r.status_code == 422 and "本次未写入任何数据" in r.json["detail"]
    with app.app_context():
        assert db.session.scalar(select(func.count(Cadre.user_id))) == 2


def test_roster_csv_utf8_with_bom_is_read(api, world):
    api.login("wbadmin")
    csv_text = "\ufeff姓名,身份证号\n张三,%s\n" % make_id("610302", "19920101", "002")
    r = _import(api, world.wb, csv_text.encode("utf-8"), "roster.csv", confirm=True)
    assert r.json["applied"] and r.json["create"] == 1 and r.json["rows"][0]["name"] == "张三"


def test_audit_events_listed_for_admins_in_scope(api, world):
    api.login("wbadmin")
    issued = _issue(api, world.wb_cadre)
    api.post(f"/api/v1/cards/{issued['card']['id']}/lost")
    r = api.get("/api/v1/audit-events?action=card.")
    assert r.status_code == 200, r.json
    events = r.json["items"]
    assert [e["action"] for e in events] == ["card.lost", "card.issue"]
    other = api.c.application.test_client()
    r = other.post("/api/v1/auth/login", json={"login": "jtadmin", "password": PASSWORD})
    assert r.status_code == 200
    assert other.get("/api/v1/audit-events?action=card.").json["total"] == 0


def test_logout_ends_the_session_on_the_server(api, world, app):
    api.login("wbadmin")
    cookie = api.c.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert api.post("/api/v1/auth/logout").status_code == 204
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    assert thief.get("/api/v1/me").status_code == 401


def test_roster_reimport_with_a_changed_row_updates_that_cadre_only(api, world):
    api.login("wbadmin")
    head = ["姓名", "身份证号", "单位", "职级", "职务"]
    rows = [[f"学员{i}", make_id("610302", "19940101", f"{i:03d}"), "渭滨区财政局", "乡科级", "科员"] for i in range(3)]
    assert _import(api, world.wb, _xlsx([head] + rows), "a.xlsx", confirm=True).json["create"] == 3
    rows[1][4] = "副科长"
    rows[2][2] = "渭滨区"  # a different unit: a transfer
    r = _import(api, world.wb, _xlsx([head] + rows), "a.xlsx", confirm=True).json
    assert (r["create"], r["update"], r["unchanged"]) == (0, 2, 1)
    cadres = {c["name"]: c for c in api.get(f"/api/v1/cadres?unit_id={world.wb}&q=学员").json["items"]}
    assert cadres["学员1"]["position"] == "副科长"
    assert cadres["学员2"]["unit"]["id"] == world.wb and cadres["学员2"]["transfers"][0]["reason"] == "名册导入"
