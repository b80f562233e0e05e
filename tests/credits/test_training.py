"""Offline training (脱产培训, 附件三 第七条(一)): recorded by administrators for their cadres, all or
nothing, one ledger entry per cadre; the service, the pages and the API."""
from __future__ import annotations

import io
import os
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from app.accounts import services as accounts
from app.accounts.models import User
from app.audit.models import AuditEvent
from app.credits import services, training
from app.credits.models import CreditEntry, CreditKind, TrainingAttendance, TrainingClass
from app.errors import Conflict, Invalid, NotFound, PermissionDenied
from app.extensions import db
from app.notifications.models import Notification
from tests.catalogue.conftest import _cadre_login
from tests.conftest import ApiClient, make_id

LI_MING_ID = make_id("610302", "19800101", "111")  # 李明, 渭滨区财政局
WANG_FANG_ID = make_id("610303", "19820202", "222")  # 王芳, 金台区
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
NOV = dict(start_date=date(2026, 11, 2), end_date=date(2026, 11, 4))  # the clock says 2026-11-23


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _nothing_written() -> tuple[int, int, int, int]:
    return (_count(TrainingClass), _count(TrainingAttendance), _count(CreditEntry), _count(Notification))


def _evidence_files(app) -> set[str]:
    folder = os.path.join(app.instance_path, "evidence")
    return set(os.listdir(folder)) if os.path.isdir(folder) else set()


@pytest.fixture
def ctx(app, world, clock):
    with app.test_request_context():
        yield world


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _record(actor, lines, *, name="全市乡科级干部任职培训班", days=3, **kw):
    dates = {**NOV, **{k: kw.pop(k) for k in ("start_date", "end_date") if k in kw}}
    return training.record_training(actor, name=name, organiser="市委党校", days=days, cadre_lines=lines,
                                    **dates, **kw)


# --- the rule --------------------------------------------------------------------------------

def test_article_7_three_days_earn_fifteen_credits_and_24_hours(ctx):
    admin, cadre = _user(ctx.wb_admin), _user(ctx.wb_cadre)
    cls = _record(admin, LI_MING_ID)
    att = cls.attendances[0]
    assert (att.user_id, att.credits, att.hours) == (cadre.id, 15, 24)
    entry = db.session.scalar(select(CreditEntry).where(CreditEntry.user_id == cadre.id))
    assert (entry.kind, entry.credits, entry.hours) == (CreditKind.OFFLINE_TRAINING, 15, 24)
    assert (entry.source_type, entry.source_id, entry.earned_on, entry.year) == (
        "offline_training", att.id, date(2026, 11, 4), 2026)
    assert entry.details == {"class_id": cls.id, "days": 3} and entry.title == "全市乡科级干部任职培训班"
    assert entry.recorded_by_id == admin.id
    a = services.assess_cadre(admin, cadre, 2026)
    assert a.by_kind["offline"] == {"credits": 15, "hours": 24} and a.result.basic == 15


def test_article_7_two_days_earn_hours_only_and_the_preview_says_why(ctx):
    admin, cadre = _user(ctx.wb_admin), _user(ctx.wb_cadre)
    p = training.preview_training(admin, name="业务培训", organiser="区财政局", days=2, cadre_lines=LI_MING_ID,
                                  start_date=date(2026, 11, 2), end_date=date(2026, 11, 3))
    assert p.ok and (p.credits, p.hours) == (0, 16)
    assert "不足 3 天" in p.note and "不计学分,只计学时" in p.note
    assert _count(TrainingClass) == 0  # a preview writes nothing
    _record(admin, LI_MING_ID, name="业务培训", days=2, start_date=date(2026, 11, 2), end_date=date(2026, 11, 3))
    entry = db.session.scalar(select(CreditEntry).where(CreditEntry.user_id == cadre.id))
    assert (entry.credits, entry.hours) == (0, 16)


def test_the_configured_minimum_and_day_rate_apply(ctx):
    org, admin = _user(ctx.orgadmin), _user(ctx.wb_admin)
    services.set_rules(org, 2026, {"offline_min_days": 2, "offline_per_day": 4})
    p = training.preview_training(admin, name="研讨班", organiser="市委党校", days=2, cadre_lines=LI_MING_ID,
                                  start_date=date(2026, 11, 2), end_date=date(2026, 11, 3))
    assert (p.credits, p.note) == (8, None)
    p = training.preview_training(admin, name="研讨班", organiser="市委党校", days=1, cadre_lines=LI_MING_ID,
                                  start_date=date(2026, 11, 2), end_date=date(2026, 11, 3))
    assert p.credits == 0 and "不足 2 天" in p.note


# --- the cadre list ----------------------------------------------------------------------------

def test_a_batch_by_card_number_and_id_number(ctx, unit_of_nine):
    org, admin = _user(ctx.orgadmin), _user(ctx.wb_admin)
    cadres = [_user(i) for i in unit_of_nine[:5]]
    cards = [accounts.issue_card(org, u).card for u in cadres[:3]]
    lines = "\n".join([
        cards[0].number,
        cards[1].display_number,  # "8612 3456 …" as printed on the card
        f"{cards[2].number} {cadres[2].name}",  # a name after the number is checked
        "",
        cadres[3].cadre.id_number.lower(),
        f"  {cadres[4].cadre.id_number}\t{cadres[4].name}  ",
    ])
    users, errors = training.parse_cadre_lines(admin, lines)
    assert errors == [] and [u.id for u in users] == [u.id for u in cadres]
    cls = _record(admin, lines)
    assert sorted(a.user_id for a in cls.attendances) == sorted(u.id for u in cadres)
    rows = db.session.execute(select(CreditEntry.user_id, CreditEntry.credits, CreditEntry.hours)
                              .where(CreditEntry.source_type == "offline_training")).all()
    assert sorted(rows) == sorted((u.id, 15, 24) for u in cadres)


def test_a_username_is_accepted(ctx):
    admin, cadre = _user(ctx.wb_admin), _user(ctx.wb_cadre)
    cadre.username = "liming"
    users, errors = training.parse_cadre_lines(admin, "liming")
    assert errors == [] and users == [cadre]


def test_bad_lines_are_named_by_number(ctx):
    admin = _user(ctx.wb_admin)
    lines = f"{LI_MING_ID}\n{LI_MING_ID} 张三\n{LI_MING_ID}\nnobody\n李明"
    users, errors = training.parse_cadre_lines(admin, lines)
    assert [u.id for u in users] == [ctx.wb_cadre]
    assert errors[0].startswith("第 2 行") and "李明" in errors[0] and "张三" in errors[0]
    assert errors[1].startswith("第 3 行") and "第 1 行是同一名学员" in errors[1]
    assert errors[2].startswith("第 4 行") and "找不到学员" in errors[2]
    assert errors[3].startswith("第 5 行") and "找不到学员" in errors[3]  # names are not unique: not looked up


def test_cadre_of_another_district_is_refused_and_nothing_is_written(ctx):
    admin = _user(ctx.wb_admin)
    before = _nothing_written()
    with pytest.raises(Invalid) as e:
        _record(admin, f"{LI_MING_ID}\n{WANG_FANG_ID}")
    err = e.value
    assert err.field == "cadres" and len(err.extra["errors"]["cadres"]) == 1
    message = err.extra["errors"]["cadres"][0]
    assert message.startswith("第 2 行") and "找不到学员" in message
    assert "王芳" not in message and WANG_FANG_ID not in message  # nothing revealed outside the scope
    db.session.rollback()  # as the error handler does
    assert _nothing_written() == before
    # the organisation department sees the whole city
    cls = _record(_user(ctx.orgadmin), f"{LI_MING_ID}\n{WANG_FANG_ID}")
    assert len(cls.attendances) == 2


def test_not_a_cadre_is_not_found(ctx):
    _users, errors = training.parse_cadre_lines(_user(ctx.wb_admin), "wbview")
    assert len(errors) == 1 and "找不到学员" in errors[0]


# --- refusals --------------------------------------------------------------------------------

def test_the_same_class_twice_for_a_cadre_is_refused(ctx):
    admin = _user(ctx.wb_admin)
    _record(admin, LI_MING_ID)
    before = _nothing_written()
    with pytest.raises(Conflict) as e:  # same name but for case and spaces, overlapping dates
        _record(admin, LI_MING_ID, name=" 全市乡科级干部 任职培训班 ", start_date=date(2026, 11, 3),
                end_date=date(2026, 11, 5))
    assert e.value.status == 409 and "李明" in e.value.message and "全市乡科级干部任职培训班" in e.value.message
    assert _nothing_written() == before  # refused before anything was written
    # the same class name another time is another class
    _record(admin, LI_MING_ID, start_date=date(2026, 11, 16), end_date=date(2026, 11, 18))


def test_preview_shows_the_duplicate_beside_the_cadre(ctx):
    admin = _user(ctx.wb_admin)
    _record(admin, LI_MING_ID)
    p = training.preview_training(admin, name="全市乡科级干部任职培训班", organiser="市委党校", days=3,
                                  cadre_lines=LI_MING_ID, **NOV)
    assert not p.ok and p.rows[0].problems and "已登记过培训班" in p.rows[0].problems[0]


@pytest.mark.parametrize("change, field, words", [
    (dict(days=4), "days", "不能超过起止日期之间的天数(3 天)"),
    (dict(days=0), "days", "至少为 1 天"),
    (dict(end_date=date(2026, 11, 1)), "end_date", "不能早于开始日期"),
    (dict(end_date=date(2026, 11, 24)), "end_date", "不能晚于今天"),
    (dict(name="  "), "name", "请填写培训班名称"),
    (dict(organiser="x" * 201), "organiser", "不能超过 200 个字"),
    (dict(cadre_lines="\n \n"), "cadres", "请至少填写一名学员"),
])
def test_field_errors_name_the_field(ctx, change, field, words):
    args = dict(name="培训班", organiser="市委党校", days=3, cadre_lines=LI_MING_ID, **NOV)
    args.update(change)
    with pytest.raises(Invalid) as e:
        training.preview_training(_user(ctx.wb_admin), **args)
    assert e.value.field == field and words in e.value.message
    assert words in " ".join(e.value.extra["errors"][field])


def test_at_most_500_cadres_at_once(ctx):
    with pytest.raises(Invalid) as e:
        _record(_user(ctx.wb_admin), "\n".join(f"user{i}" for i in range(501)))
    assert e.value.field == "cadres" and "500" in e.value.message


def test_only_administrators_record(ctx):
    for who in (ctx.wb_viewer, ctx.wb_cadre):
        with pytest.raises(PermissionDenied):
            _record(_user(who), LI_MING_ID)


def test_the_cadre_is_notified(ctx):
    _record(_user(ctx.wb_admin), LI_MING_ID)
    n = db.session.scalar(select(Notification).where(Notification.user_id == ctx.wb_cadre))
    assert n.message == "已登记脱产培训「全市乡科级干部任职培训班」:15 学分,24 学时" and n.link == "/credits/"


def test_one_audit_event_for_the_class(ctx, unit_of_nine):
    admin = _user(ctx.wb_admin)
    lines = "\n".join(_user(i).cadre.id_number for i in unit_of_nine[:3])
    cls = _record(admin, lines)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "credits.offline")).all()
    assert len(events) == 1
    e = events[0]
    assert (e.actor_id, e.target_type, e.target_id, e.target_label) == (admin.id, "training_class", cls.id, cls.name)
    assert e.details["cadres"] == 3 and e.details["credits"] == 15 and e.details["days"] == 3
    assert e.unit_path == admin.unit.path
    assert not any(_user(i).cadre.id_number in str(e.details) for i in unit_of_nine[:3])


# --- reading and scope ---------------------------------------------------------------------------

def test_classes_are_seen_within_the_scope(ctx):
    wb_admin, jt_admin, org = _user(ctx.wb_admin), _user(ctx.jt_admin), _user(ctx.orgadmin)
    mine = _record(wb_admin, LI_MING_ID)
    city = _record(org, f"{LI_MING_ID}\n{WANG_FANG_ID}", name="全市干部专题研讨班")
    assert {c.id for c in training.list_classes(wb_admin).items} == {mine.id, city.id}
    assert {c.id for c in training.list_classes(jt_admin).items} == {city.id}
    assert {c.id for c in training.list_classes(_user(ctx.wb_viewer)).items} == {mine.id, city.id}
    with pytest.raises(NotFound):
        training.get_class(jt_admin, mine.id)
    with pytest.raises(NotFound):
        training.get_class(_user(ctx.wb_cadre), mine.id)
    # a city-wide class shows a district only its own cadres
    assert [a.user_id for a in training.visible_attendances(wb_admin, city)] == [ctx.wb_cadre]
    assert len(training.visible_attendances(org, city)) == 2
    totals = training.class_totals([mine, city])
    assert (totals[city.id].cadres, totals[city.id].credits, totals[city.id].hours) == (2, 15, 24)


# --- the API ----------------------------------------------------------------------------------

OPERATIONS = {"recordOfflineTraining", "listOfflineTraining", "getOfflineTraining"}


def _post(api: ApiClient, *, cadres=LI_MING_ID, evidence=None, **fields):
    data = {"name": "全市乡科级干部任职培训班", "organiser": "市委党校", "start_date": "2026-11-02",
            "end_date": "2026-11-04", "days": "3", "cadres": cadres, **fields}
    if evidence is not None:
        data["evidence"] = (io.BytesIO(evidence[1]), evidence[0])
    return api.post("/api/v1/credits/training", data=data, content_type="multipart/form-data")


def test_api_operation_ids_are_in_the_openapi_document(api):
    spec = api.get("/api/v1/openapi.json").json
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()
           if isinstance(op, dict) and "operationId" in op}
    assert OPERATIONS <= ids
    body = spec["paths"]["/api/v1/credits/training"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body


def test_api_records_lists_and_reads_a_class(api, world, clock, app):
    api.login("wbadmin")
    r = _post(api, cadres=f"{LI_MING_ID}, ", evidence=("结业证书.pdf", PDF), note="党校结业")
    assert r.status_code == 201, r.json
    body = r.json
    assert (body["days"], body["cadres"], body["credits"], body["hours"]) == (3, 1, 15, 24)
    assert body["attendances"] == [{"user_id": world.wb_cadre, "name": "李明", "card_number": None,
                                    "unit": {"id": world.wb_bureau, "name": "渭滨区财政局"}, "credits": 15,
                                    "hours": 24}]
    assert body["evidence"]["name"] == "结业证书.pdf"
    evidence = api.get(body["evidence"]["url"])
    assert evidence.status_code == 200 and evidence.data == PDF and evidence.mimetype == "application/pdf"
    listed = api.get("/api/v1/credits/training?per_page=10").json
    assert listed["total"] == 1 and listed["items"][0]["id"] == body["id"] and listed["items"][0]["credits"] == 15
    assert api.get(f"/api/v1/credits/training/{body['id']}").json["attendances"][0]["credits"] == 15
    jt = ApiClient(app.test_client())
    jt.login("jtadmin")
    assert jt.get(f"/api/v1/credits/training/{body['id']}").status_code == 404
    assert jt.get(body["evidence"]["url"]).status_code == 404
    assert jt.get("/api/v1/credits/training").json["total"] == 0


def test_api_refusals_are_problem_details(api, world, clock, app):
    api.login("wbadmin")
    r = _post(api, cadres=f"{LI_MING_ID}\n{WANG_FANG_ID}")
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert r.json["field"] == "cadres" and r.json["errors"]["cadres"][0].startswith("第 2 行")
    r = _post(api, days="4")
    assert r.status_code == 400 and r.json["field"] == "days" and "3 天" in r.json["detail"]
    r = _post(api, days="x")
    assert r.status_code == 400 and r.json["field"] == "days"
    assert _post(api).status_code == 201
    r = _post(api)
    assert r.status_code == 409 and r.json["code"] == "duplicate_training" and "李明" in r.json["detail"]
    with app.app_context():
        assert _count(TrainingClass) == 1 and _count(CreditEntry) == 1


def test_a_fake_pdf_is_refused_and_no_file_is_left(api, world, clock, app):
    api.login("wbadmin")
    before = _evidence_files(app)
    r = _post(api, evidence=("certificate.pdf", b"MZ\x90\x00 not a pdf at all"))
    assert r.status_code == 400 and r.json["field"] == "evidence"
    # a good file stored, then the list refused: the file is removed again
    r = _post(api, cadres=f"{LI_MING_ID}\n{WANG_FANG_ID}", evidence=("certificate.pdf", PDF))
    assert r.status_code == 400 and r.json["field"] == "cadres"
    assert _post(api).status_code == 201
    r = _post(api, evidence=("certificate.pdf", PDF))
    assert r.status_code == 409
    assert _evidence_files(app) == before
    with app.app_context():
        assert _count(CreditEntry) == 1


def test_viewer_reads_but_cannot_record(api, world, clock):
    api.login("wbview")
    assert _post(api).status_code == 403
    assert api.get("/api/v1/credits/training").status_code == 200
    assert api.get("/credits/training/").status_code == 200
    assert api.get("/credits/training/new").status_code == 403


def test_a_cadre_cannot_see_the_pages(app, world, clock):
    admin = ApiClient(app.test_client())
    admin.login("wbadmin")
    class_id = _post(admin).json["id"]
    cadre = _cadre_login(app, world.wb_cadre)
    for url in ("/credits/training/", "/credits/training/new", f"/credits/training/{class_id}",
                f"/credits/training/{class_id}/evidence", "/api/v1/credits/training",
                f"/api/v1/credits/training/{class_id}"):
        assert cadre.get(url).status_code in (403, 404), url
    assert _post(cadre).status_code == 403


# --- the pages ------------------------------------------------------------------------------

def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _login_page(app, who):
    c = app.test_client()
    token = _csrf(c.get("/login").get_data(as_text=True))
    assert c.post("/login", data={"login": who, "password": "Passw0rd!x", "csrf_token": token}).status_code == 302
    return c


def test_the_page_flow_preview_then_record(app, world, clock):
    with app.test_request_context():
        org = db.session.scalar(select(User).where(User.username == "org"))
        card = accounts.issue_card(org, db.session.get(User, world.wb_cadre)).card.display_number
        db.session.commit()
    c = _login_page(app, "wbadmin")
    html = c.get("/credits/training/new").get_data(as_text=True)
    form = {"csrf_token": _csrf(html), "name": "区财政业务培训", "organiser": "渭滨区财政局",
            "start_date": "2026-11-02", "end_date": "2026-11-03", "days": "2", "cadres": f"{card} 李明", "note": ""}
    r = c.post("/credits/training/new", data={**form, "action": "preview"})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="preview-rows"' in page
    assert "不足 3 天的脱产培训不计学分,只计学时" in page
    row = re.search(r'<table class="table compact" id="preview-rows">.*?</table>', page, re.S).group(0)
    assert "李明" in row and card in row and ">16<" in row
    with app.app_context():
        assert _count(TrainingClass) == 0
    # 登记 without evidence: the form asks for it
    r = c.post("/credits/training/new", data={**form, "action": "record"})
    assert r.status_code == 400 and "请上传证明材料" in r.get_data(as_text=True)
    r = c.post("/credits/training/new", data={**form, "action": "record",
                                               "evidence": (io.BytesIO(PDF), "签到表.pdf")},
               content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    detail = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "已登记培训班「区财政业务培训」:1 名学员,每人 0 学分、16 学时" in detail
    table = re.search(r'id="attendances">.*?</table>', detail, re.S).group(0)
    assert "李明" in table and card in table and LI_MING_ID not in detail
    link = re.search(r'href="([^"]+/evidence)" id="evidence-link"', detail).group(1)
    assert c.get(link).data == PDF
    listing = c.get("/credits/training/").get_data(as_text=True)
    assert "区财政业务培训" in listing and "已上传" in listing and "渭滨管理员" in listing


def test_the_page_shows_every_problem_and_records_nothing(app, world, clock):
    c = _login_page(app, "wbadmin")
    html = c.get("/credits/training/new").get_data(as_text=True)
    before = _evidence_files(app)
    form = {"csrf_token": _csrf(html), "name": "培训班", "organiser": "市委党校", "start_date": "2026-11-02",
            "end_date": "2026-11-04", "days": "3", "cadres": f"{LI_MING_ID}\n{WANG_FANG_ID}\nnobody",
            "action": "record", "evidence": (io.BytesIO(PDF), "a.pdf")}
    r = c.post("/credits/training/new", data=form, content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "第 2 行" in page and "第 3 行" in page and "王芳" not in page
    assert _evidence_files(app) == before
    with app.app_context():
        assert _count(TrainingClass) == 0 and _count(CreditEntry) == 0
    form = {**form, "cadres": LI_MING_ID, "days": "5", "evidence": (io.BytesIO(PDF), "a.pdf")}
    r = c.post("/credits/training/new", data=form, content_type="multipart/form-data")
    assert r.status_code == 400 and "不能超过起止日期之间的天数" in r.get_data(as_text=True)
    assert _evidence_files(app) == before
