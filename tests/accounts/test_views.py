"""The account pages through the test client (CSRF on, as in production)."""
import io
import re

from sqlalchemy import func, select

from app.accounts.models import Cadre, RosterImport
from app.extensions import db
from tests.conftest import PASSWORD, make_id


def _csrf(client, url):
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def login(client, who, password=PASSWORD):
    token = _csrf(client, "/login")
    return client.post("/login", data={"login": who, "password": password, "csrf_token": token})


def test_form_without_csrf_token_is_refused(app, world):
    c = app.test_client()
    r = c.post("/login", data={"login": "wbadmin", "password": PASSWORD})
    assert r.status_code == 400


def test_tenth_wrong_password_on_the_login_page_locks_and_says_when(app, world):
    c = app.test_client()
    for _ in range(9):
        r = login(c, "wbadmin", "nope-nope1")
        assert r.status_code == 401
    r = login(c, "wbadmin", "nope-nope1")
    body = r.get_data(as_text=True)
    assert r.status_code == 429 and "已暂时锁定" in body and "分钟后" in body
    assert int(r.headers["Retry-After"]) > 800
    r = login(c, "wbadmin", PASSWORD)  # the right password is refused while locked
    assert r.status_code == 429


def test_other_districts_cadre_page_is_404(app, world):
    c = app.test_client()
    login(c, "jtadmin")
    assert c.get(f"/admin/cadres/{world.wb_cadre}").status_code == 404
    assert c.get(f"/admin/cadres/{world.jt_cadre}").status_code == 200


def test_cadre_list_masks_id_numbers(app, world):
    c = app.test_client()
    login(c, "wbadmin")
    html = c.get("/admin/cadres").get_data(as_text=True)
    assert "李明" in html and "王芳" not in html
    assert re.search(r"6103\*{10}\d{3}[\dX]", html)
    assert not re.search(r"6103\d{14}", html)


def test_first_login_is_sent_to_the_password_page(app, world):
    c = app.test_client()
    login(c, "wbadmin")
    token = _csrf(c, f"/admin/cadres/{world.wb_cadre}")
    sheet = c.post(f"/admin/cadres/{world.wb_cadre}/cards", data={"csrf_token": token}).get_data(as_text=True)
    number = re.search(r'<strong class="mono">([\d ]{19})</strong>', sheet).group(1)
    # the unit below the city, in full: a bureau's or section's name alone repeats across districts
    assert '<div class="pcard-unit">渭滨区 · 渭滨区财政局</div>' in sheet
    password = re.search(r'<strong class="mono pw">(\w+)</strong>', sheet).group(1)
    cadre = app.test_client()
    r = login(cadre, number, password)
    assert r.headers["Location"].endswith("/password")
    assert cadre.get("/").headers["Location"].endswith("/password")


def test_roster_upload_preview_then_apply_with_progress(app, world):
    c = app.test_client()
    login(c, "wbadmin")
    csv = "姓名,身份证号,单位\n" + "".join(
        f"学员{i},{make_id('610302', '19930101', f'{i:03d}')},渭滨区财政局\n" for i in range(12))
    token = _csrf(c, "/admin/roster")
    r = c.post("/admin/roster", data={"unit_id": str(world.wb), "csrf_token": token,
                                      "file": (io.BytesIO(csv.encode("utf-8-sig")), "名册.csv")},
               content_type="multipart/form-data")
    assert r.status_code == 302
    preview_url = r.headers["Location"]
    html = c.get(preview_url).get_data(as_text=True)
    assert "确认导入" in html and html.count("badge-create") == 12
    with app.app_context():
        assert db.session.scalar(select(func.count(Cadre.user_id))) == 2
    token = _csrf(c, preview_url)
    r = c.post(preview_url.rstrip("/") + "/apply", data={"csrf_token": token})
    assert r.status_code == 302
    status = c.get(preview_url.rstrip("/") + "/status").json
    assert status == {**status, "state": "done", "processed": 12, "created": 12, "percent": 100}
    with app.app_context():
        assert db.session.scalar(select(func.count(Cadre.user_id))) == 14
        assert db.session.scalar(select(RosterImport.state)) == "done"


def test_roster_with_bad_rows_cannot_be_confirmed(app, world):
    c = app.test_client()
    login(c, "wbadmin")
    csv = "姓名,身份证号\n张三,123\n,%s\n" % make_id(seq="321")
    token = _csrf(c, "/admin/roster")
    r = c.post("/admin/roster", data={"unit_id": str(world.wb), "csrf_token": token,
                                      "file": (io.BytesIO(csv.encode("gbk")), "bad.csv")},
               content_type="multipart/form-data")
    html = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "第 2 行" in html and "18 位" in html and "第 3 行" in html and "姓名不能为空" in html
    assert "确认导入" not in html
    r = c.post(r.headers["Location"] + "/apply", data={"csrf_token": _csrf(c, r.headers["Location"])})
    with app.app_context():
        assert db.session.scalar(select(func.count(Cadre.user_id))) == 2


def test_a_roster_workbook_that_unpacks_too_large_is_refused_and_nothing_is_kept(app, world, monkeypatch):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["姓名", "身份证号", "单位"])
    for i in range(60):   # 60 rows of 30,000 characters: 5 MB of XML packed into tens of KB
        wb.active.append([f"学员{i}", make_id(seq=f"{i:03d}"), "渭" * 30_000])
    buf = io.BytesIO()
    wb.save(buf)
    assert len(buf.getvalue()) < 200 * 1024
    monkeypatch.setitem(app.config, "XLSX_MAX_UNPACKED_BYTES", 1024 * 1024)
    c = app.test_client()
    login(c, "wbadmin")
    r = c.post("/admin/roster", data={"unit_id": str(world.wb), "csrf_token": _csrf(c, "/admin/roster"),
                                      "file": (io.BytesIO(buf.getvalue()), "名册.xlsx")},
               content_type="multipart/form-data")
    assert r.status_code in (200, 400)
    assert "文件解压后过大" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(RosterImport.id))) == 0
        assert db.session.scalar(select(func.count(Cadre.user_id))) == 2

def test_english_is_selectable(app, world):
    c = app.test_client()
    c.get("/locale/en")
    html = c.get("/login").get_data(as_text=True)
    assert 'lang="en"' in html and "Card number or username" in html


def test_a_session_ended_by_the_server_says_so_on_the_login_page(app, world):
    from app.accounts import services
    from app.accounts.models import StudyCard, User
    from tests.catalogue.conftest import _cadre_login
    from tests.conftest import ApiClient

    page = _cadre_login(app, world.wb_cadre)
    with app.test_request_context():
        card = db.session.scalar(select(StudyCard).where(StudyCard.user_id == world.wb_cadre))
        number = card.number
    api = ApiClient(app.test_client())
    assert api.login(number).status_code == 200
    assert page.get("/").status_code == 200 and api.get("/api/v1/me").status_code == 200
    with app.test_request_context():
        card = db.session.scalar(select(StudyCard).where(StudyCard.number == number))
        services.report_card_lost(db.session.get(User, world.wb_admin), card)
        db.session.commit()
    r = page.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    html = page.get(r.headers["Location"]).get_data(as_text=True)
    assert "登录已失效,请重新登录" in html
    assert "登录已失效" not in page.get("/login").get_data(as_text=True)   # said once
    ended = api.get("/api/v1/me")
    assert ended.status_code == 401 and ended.json["code"] == "session_ended"
    assert api.get("/api/v1/me").json["code"] == "unauthenticated"
    # a browser that never signed in is not told that its login ended
    assert "登录已失效" not in app.test_client().get("/", follow_redirects=True).get_data(as_text=True)
