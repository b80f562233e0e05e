"""Credit applications (附件三 第八、九、十二条): a cadre applies with evidence, the unit's network
administrator reviews, the organisation department decides, an approval is one ledger entry."""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from datetime import date
from html import unescape

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts.models import Unit, User
from app.audit.models import AuditEvent
from app.credits import applications, services
from app.credits.evidence import store_evidence
from app.credits.models import ApplicationState, CreditApplication, CreditCategory, CreditEntry, CreditKind
from app.errors import Conflict, Invalid, NotFound, PermissionDenied
from app.extensions import db
from app.notifications.models import Notification
from tests.catalogue.conftest import _cadre_login
from tests.conftest import ApiClient

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


# --- helpers ------------------------------------------------------------------------------------

@dataclass
class Actors:
    org: User
    wb_admin: User
    jt_admin: User
    viewer: User
    cadre: User  # 李明, 渭滨区财政局
    jt_cadre: User  # 王芳, 金台区


@pytest.fixture
def actors(app, world, clock):
    with app.test_request_context():
        get = lambda i: db.session.get(User, i)  # noqa: E731
        yield Actors(get(world.orgadmin), get(world.wb_admin), get(world.jt_admin), get(world.wb_viewer),
                     get(world.wb_cadre), get(world.jt_cadre))


def submit(cadre: User, kind: str, level: str, *, title: str = "基层治理现代化研究", event_date=date(2026, 5, 10),
           **kw) -> CreditApplication:
    return applications.apply(cadre, kind=kind, level=level, title=title, event_date=event_date,
                              evidence=store_evidence("证书.pdf", PDF), **kw)


def approve(a: Actors, application: CreditApplication) -> CreditApplication:
    applications.review(a.wb_admin, application.id, forward=True, comment="材料齐全")
    return applications.decide(a.org, application.id, approve=True)


def ledger_for(application_id: int) -> list[CreditEntry]:
    return list(db.session.scalars(select(CreditEntry).where(CreditEntry.source_type == "application",
                                                             CreditEntry.source_id == application_id)))


def notes(user_id: int) -> list[str]:
    return list(db.session.scalars(select(Notification.message).where(Notification.user_id == user_id)
                                   .order_by(Notification.id)))


def evidence_files(app) -> set[str]:
    folder = os.path.join(app.instance_path, "evidence")
    return set(os.listdir(folder)) if os.path.isdir(folder) else set()


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def in_db(app, fn):
    with app.app_context():
        return fn()


def staff(app, login) -> ApiClient:
    c = ApiClient(app.test_client())
    assert c.login(login).status_code == 200
    return c


def api_apply(client: ApiClient, *, data: bytes = PDF, filename: str = "cert.pdf", **fields):
    form = {"kind": "award", "level": "second", "title": "全市优秀调研成果", "event_date": "2026-05-10", **fields}
    form = {k: v for k, v in form.items() if v is not None}  # None: the field is not sent
    form["evidence"] = (io.BytesIO(data), filename)
    return client.post("/api/v1/credits/applications", data=form, content_type="multipart/form-data")


# --- the amounts of the regulation ----------------------------------------------------------------

def test_article_9_an_award_second_prize_earns_4_reward_credits_after_approval(actors):
    a = actors
    application = submit(a.cadre, "award", "second", title="全市优秀调研成果二等奖")
    assert application.state == ApplicationState.SUBMITTED and application.amount == 4
    assert ledger_for(application.id) == []  # nothing before approval
    approve(a, application)
    [entry] = ledger_for(application.id)
    assert (entry.credits, entry.kind, entry.category, entry.year) == (4, CreditKind.AWARD, CreditCategory.REWARD, 2026)
    assert application.state == ApplicationState.APPROVED and application.entry_id == entry.id
    assert services.assess_cadre(a.cadre, a.cadre, 2026).result.reward == 4


def test_article_9_a_book_by_a_sole_author_earns_10(actors):
    application = submit(actors.cadre, "book", "sole", title="县域经济发展论")
    approve(actors, application)
    assert [e.credits for e in ledger_for(application.id)] == [10]
    assert services.assess_cadre(actors.cadre, actors.cadre, 2026).result.reward == 10


def test_article_9_article_and_award_levels_follow_the_rule_table(actors):
    expected = {("book", "co"): 5, ("book", "contributor"): 3, ("article", "sole"): 5, ("article", "co"): 3,
                ("award", "first"): 5, ("award", "third"): 3, ("award", "honour"): 2}
    for (kind, level), amount in expected.items():
        assert submit(actors.cadre, kind, level, title=f"成果 {kind} {level}").amount == amount


def test_article_8_doctorate_in_the_third_year_of_study_earns_5_plus_7_that_year(actors):
    a = actors
    ordinary = submit(a.cadre, "degree", "none", title="某大学管理学博士(在职)", event_date=None,
                      admission_date=date(2024, 9, 1), study_year=2025)
    degree_year = submit(a.cadre, "degree", "doctorate", title="某大学管理学博士(在职)",
                         event_date=date(2026, 7, 1), admission_date=date(2024, 9, 1), study_year=2026)
    assert (ordinary.amount, degree_year.amount) == (5, 12)
    assert ordinary.event_date == date(2025, 12, 31)  # a year of study is dated at its end
    approve(a, ordinary)
    approve(a, degree_year)
    assert services.assess_cadre(a.org, a.cadre, 2025).result.additional == 5
    this_year = services.assess_cadre(a.org, a.cadre, 2026).result
    assert this_year.additional == 12
    [entry] = ledger_for(degree_year.id)
    assert (entry.kind, entry.category, entry.earned_on) == (CreditKind.DEGREE, CreditCategory.ADDITIONAL,
                                                             date(2026, 11, 23))  # capped at today


def test_article_8_master_and_bachelor_bonuses(actors):
    kw = dict(admission_date=date(2023, 9, 1), event_date=None)
    assert submit(actors.cadre, "degree", "master", title="公共管理硕士", study_year=2024, **kw).amount == 11
    assert submit(actors.cadre, "degree", "bachelor", title="法学本科", study_year=2025, **kw).amount == 10


def test_approval_recomputes_the_amount_from_the_rules_of_the_year_it_counts_in(actors):
    a = actors
    application = submit(a.cadre, "award", "second")
    assert application.amount == 4
    services.set_rules(a.org, 2026, {"award_second": 6}, reason="提高奖励")
    approve(a, application)
    assert application.amount == 6 and [e.credits for e in ledger_for(application.id)] == [6]


def test_an_achievement_of_a_closed_year_counts_in_the_next_open_year(actors, clock):
    a = actors
    clock.set(2027, 1, 20)
    application = submit(a.cadre, "article", "sole", title="乡村振兴的实践与思考", event_date=date(2026, 12, 1))
    services.close_year(a.org, 2026)
    approve(a, application)
    [entry] = ledger_for(application.id)
    assert (entry.year, entry.credits, entry.earned_on) == (2027, 5, date(2026, 12, 1))
    assert "记入 2027 年度 5 学分" in notes(a.cadre.id)[-1]


# --- the workflow -------------------------------------------------------------------------------

def test_full_workflow_apply_forward_approve_notifies_the_cadre_and_audits(actors):
    a = actors
    application = submit(a.cadre, "award", "second", title="全市优秀调研成果")
    applications.review(a.wb_admin, application.id, forward=True, comment="材料齐全")
    assert application.state == ApplicationState.REVIEWED and application.reviewed_by_id == a.wb_admin.id
    assert "已通过单位审核" in notes(a.cadre.id)[-1]
    applications.decide(a.org, application.id, approve=True)
    assert application.state == ApplicationState.APPROVED and application.decided_by_id == a.org.id
    assert len(ledger_for(application.id)) == 1
    message = notes(a.cadre.id)[-1]
    assert "全市优秀调研成果" in message and "已批准" in message and "4 学分" in message
    link = db.session.scalar(select(Notification.link).where(Notification.user_id == a.cadre.id)
                             .order_by(Notification.id.desc()).limit(1))
    assert link == f"/credits/applications/{application.id}"
    actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == application.id,
                                                                      AuditEvent.target_type == "credit_application")))
    assert actions == ["credits.application_review", "credits.application_decide"]


def test_the_organisation_department_may_decide_a_submitted_application_directly(actors):
    application = submit(actors.cadre, "article", "co")
    applications.decide(actors.org, application.id, approve=True)
    assert application.state == ApplicationState.APPROVED and [e.credits for e in ledger_for(application.id)] == [3]


def test_a_rejection_needs_a_reason_and_the_cadre_is_told_it(actors):
    a = actors
    application = submit(a.cadre, "award", "first")
    applications.review(a.wb_admin, application.id, forward=True)
    with pytest.raises(Invalid) as err:
        applications.decide(a.org, application.id, approve=False, reason="  ")
    assert err.value.field == "reason"
    assert application.state == ApplicationState.REVIEWED
    applications.decide(a.org, application.id, approve=False, reason="奖项级别不足市级")
    assert application.state == ApplicationState.REJECTED and application.decision_reason == "奖项级别不足市级"
    assert ledger_for(application.id) == []
    assert "未获批准:奖项级别不足市级" in notes(a.cadre.id)[-1]


def test_the_unit_returns_an_application_only_with_a_comment(actors):
    a = actors
    application = submit(a.cadre, "book", "co")
    with pytest.raises(Invalid) as err:
        applications.review(a.wb_admin, application.id, forward=False, comment="")
    assert err.value.field == "comment"
    applications.review(a.wb_admin, application.id, forward=False, comment="请补充版权页")
    assert application.state == ApplicationState.REJECTED and application.review_comment == "请补充版权页"
    assert "未通过单位审核:请补充版权页" in notes(a.cadre.id)[-1]
    with pytest.raises(Conflict):  # a returned application is closed
        applications.decide(a.org, application.id, approve=True)


def test_approving_twice_gives_one_ledger_entry_and_a_conflict(actors):
    a = actors
    application = approve(a, submit(a.cadre, "award", "second"))
    with pytest.raises(Conflict) as err:
        applications.decide(a.org, application.id, approve=True)
    assert err.value.code == "state_changed"
    assert len(ledger_for(application.id)) == 1


def test_a_racing_approval_loses_at_the_conditional_update_not_in_the_ledger(actors):
    """The second approver read the application as 'reviewed' before the first approval was written:
    its UPDATE … WHERE state IN ('submitted', 'reviewed') matches nothing, so it never reaches the ledger."""
    a = actors
    application = submit(a.cadre, "award", "third")
    applications.review(a.wb_admin, application.id, forward=True)
    applications.decide(a.org, application.id, approve=True)  # the first approval
    set_committed_value(application, "state", ApplicationState.REVIEWED)  # what the second one read
    with pytest.raises(Conflict) as err:
        applications.decide(a.org, application.id, approve=True)
    assert err.value.code == "state_changed"
    assert len(ledger_for(application.id)) == 1
    db.session.expire(application)
    assert application.state == ApplicationState.APPROVED


def test_the_ledger_index_is_the_last_guard_an_earned_source_is_linked_not_paid_twice(actors):
    a = actors
    application = approve(a, submit(a.cadre, "award", "third"))
    [first] = ledger_for(application.id)
    # However the application got back to 'reviewed', approving it again adds nothing to the ledger.
    db.session.execute(update(CreditApplication).where(CreditApplication.id == application.id)
                       .values(state=ApplicationState.REVIEWED).execution_options(synchronize_session=False))
    db.session.expire(application)
    applications.decide(a.org, application.id, approve=True)
    assert application.entry_id == first.id and len(ledger_for(application.id)) == 1
    assert services.assess_cadre(a.org, a.cadre, 2026).result.reward == 3


def test_review_and_decision_stay_inside_the_administrators_subtree(actors):
    a = actors
    application = submit(a.cadre, "award", "second")
    with pytest.raises(NotFound):
        applications.get_application(a.jt_admin, application.id)
    with pytest.raises(NotFound):
        applications.review(a.jt_admin, application.id, forward=True)
    assert application.id not in [x.id for x in applications.list_applications(a.jt_admin).items]
    assert application.id in [x.id for x in applications.list_applications(a.wb_admin).items]
    assert application.id in [x.id for x in applications.list_applications(a.viewer).items]
    with pytest.raises(NotFound):  # another cadre
        applications.get_application(a.jt_cadre, application.id)


def test_a_cadre_or_a_viewer_cannot_review_and_a_network_administrator_cannot_decide(actors):
    a = actors
    application = submit(a.cadre, "award", "second")
    for who in (a.cadre, a.viewer):
        with pytest.raises(PermissionDenied):
            applications.review(who, application.id, forward=True)
    with pytest.raises(PermissionDenied):
        applications.decide(a.wb_admin, application.id, approve=True)
    with pytest.raises(PermissionDenied):
        applications.decide(a.cadre, application.id, approve=True)
    assert application.state == ApplicationState.SUBMITTED


def test_only_a_cadre_applies(actors):
    with pytest.raises(PermissionDenied):
        submit(actors.wb_admin, "award", "second")


def test_withdraw_only_by_the_owner_and_only_before_the_decision(actors):
    a = actors
    application = submit(a.cadre, "award", "second")
    with pytest.raises(PermissionDenied):
        applications.withdraw(a.wb_admin, application.id)
    with pytest.raises(NotFound):
        applications.withdraw(a.jt_cadre, application.id)
    applications.review(a.wb_admin, application.id, forward=True)
    applications.withdraw(a.cadre, application.id)  # still possible once reviewed
    assert application.state == ApplicationState.WITHDRAWN and application.decided_by_id == a.cadre.id
    with pytest.raises(Conflict):
        applications.decide(a.org, application.id, approve=True)
    decided = approve(a, submit(a.cadre, "book", "sole"))
    with pytest.raises(Conflict):
        applications.withdraw(a.cadre, decided.id)
    assert decided.state == ApplicationState.APPROVED


def test_a_second_live_degree_application_for_the_same_year_of_study_is_a_conflict(actors):
    a = actors
    kw = dict(event_date=None, admission_date=date(2024, 9, 1), study_year=2026)
    first = submit(a.cadre, "degree", "none", title="在职研究生", **kw)
    with pytest.raises(Conflict) as err:
        submit(a.cadre, "degree", "doctorate", title="在职研究生", **kw)
    assert err.value.status == 409 and err.value.field == "study_year"
    # Another year is fine; and once the first is withdrawn, the year is free again.
    submit(a.cadre, "degree", "none", title="在职研究生", **{**kw, "study_year": 2025})
    applications.withdraw(a.cadre, first.id)
    again = submit(a.cadre, "degree", "none", title="在职研究生", **kw)
    assert again.state == ApplicationState.SUBMITTED


def test_two_racing_degree_applications_for_a_year_meet_the_partial_unique_index(app, actors, monkeypatch):
    """When both requests passed the check before either inserted, the index decides: 409, no file kept."""
    a = actors
    kw = dict(event_date=None, admission_date=date(2024, 9, 1), study_year=2026)
    submit(a.cadre, "degree", "none", title="在职研究生", **kw)
    monkeypatch.setattr(applications, "_live_degree_year", lambda user_id, year: None)  # the check saw nothing
    before = evidence_files(app)
    with pytest.raises(Conflict) as err:
        submit(a.cadre, "degree", "master", title="在职研究生", **kw)
    assert err.value.code == "duplicate_study_year"
    assert evidence_files(app) == before
    # the savepoint kept the session usable, and the first application is still there
    assert db.session.scalar(select(func.count()).select_from(CreditApplication)) == 1


@pytest.mark.parametrize("fields, field", [
    ({"title": "x"}, "title"),
    ({"level": "first", "kind": "book"}, "level"),
    ({"event_date": date(2026, 12, 24)}, "event_date"),  # after today (2026-11-23)
    ({"event_date": date(1999, 12, 31)}, "event_date"),
    ({"kind": "degree", "level": "none", "study_year": 2026}, "admission_date"),
    ({"kind": "degree", "level": "none", "admission_date": date(2025, 9, 1)}, "study_year"),
    ({"kind": "degree", "level": "none", "admission_date": date(2025, 9, 1), "study_year": 2024}, "study_year"),
    ({"kind": "degree", "level": "none", "admission_date": date(2024, 9, 1), "study_year": 2027}, "study_year"),
    ({"kind": "degree", "level": "master", "admission_date": date(2024, 9, 1), "study_year": 2025,
      "event_date": date(2026, 1, 5)}, "event_date"),
])
def test_invalid_applications_name_the_field_and_leave_no_file(app, actors, fields, field):
    before = evidence_files(app)
    args = {"kind": "award", "level": "second", "title": "全市优秀调研成果", "event_date": date(2026, 5, 10), **fields}
    with pytest.raises(Invalid) as err:
        applications.apply(actors.cadre, evidence=store_evidence("a.pdf", PDF), **args)
    assert err.value.field == field
    assert evidence_files(app) == before


def test_evidence_is_required(actors):
    with pytest.raises(Invalid) as err:
        applications.apply(actors.cadre, kind="award", level="second", title="优秀调研成果",
                           event_date=date(2026, 5, 10), evidence=None)
    assert err.value.field == "evidence"


# --- the API ------------------------------------------------------------------------------------

def test_api_workflow_and_a_single_entry_even_when_approved_twice(app, world, clock):
    cadre = _cadre_login(app, world.wb_cadre)
    r = api_apply(cadre, data=PNG, filename="获奖证书.png")
    assert r.status_code == 201, r.json
    body = r.json
    assert (body["state"], body["amount"], body["kind"], body["level"]) == ("submitted", 4, "award", "second")
    assert body["evidence_name"] == "获奖证书.png" and body["actions"] == ["withdraw"]
    app_id = body["id"]
    assert cadre.get(body["evidence_url"]).data == PNG

    wb = staff(app, "wbadmin")
    listed = wb.get("/api/v1/credits/applications?state=submitted").json
    assert listed["total"] == 1 and listed["items"][0]["applicant"]["name"] == "李明"
    assert listed["items"][0]["actions"] == ["review"]
    r = wb.post(f"/api/v1/credits/applications/{app_id}/review", json={"forward": True, "comment": "属实"})
    assert r.status_code == 200 and r.json["state"] == "reviewed"
    r = wb.post(f"/api/v1/credits/applications/{app_id}/decision", json={"approve": True})
    assert r.status_code == 403

    org = staff(app, "org")
    r = org.post(f"/api/v1/credits/applications/{app_id}/decision", json={"approve": True})
    assert r.status_code == 200 and r.json["state"] == "approved" and r.json["credited_year"] == 2026
    r2 = org.post(f"/api/v1/credits/applications/{app_id}/decision", json={"approve": True})
    assert r2.status_code == 409 and r2.json["code"] == "state_changed"
    count = in_db(app, lambda: db.session.scalar(select(func.count()).select_from(CreditEntry).where(
        CreditEntry.source_type == "application", CreditEntry.source_id == app_id)))
    assert count == 1
    mine = cadre.get("/api/v1/notifications").json
    assert mine["unread"] == 2 and "4 学分" in mine["items"][0]["message"]
    r = cadre.post(f"/api/v1/credits/applications/{app_id}/withdraw")
    assert r.status_code == 409


def test_api_rejection_without_reason_is_400_with_the_field(app, world, clock):
    cadre = _cadre_login(app, world.wb_cadre)
    app_id = api_apply(cadre).json["id"]
    org = staff(app, "org")
    r = org.post(f"/api/v1/credits/applications/{app_id}/decision", json={"approve": False})
    assert r.status_code == 400 and r.json["field"] == "reason"
    r = org.post(f"/api/v1/credits/applications/{app_id}/decision", json={"approve": False, "reason": "非市级表彰"})
    assert r.status_code == 200 and r.json["state"] == "rejected" and r.json["decision_reason"] == "非市级表彰"
    assert "非市级表彰" in cadre.get("/api/v1/notifications").json["items"][0]["message"]


def test_api_scope_other_district_is_404_and_a_cadre_cannot_review(app, world, clock):
    cadre = _cadre_login(app, world.wb_cadre)
    app_id = api_apply(cadre).json["id"]
    jt = staff(app, "jtadmin")
    assert jt.get(f"/api/v1/credits/applications/{app_id}").status_code == 404
    assert jt.post(f"/api/v1/credits/applications/{app_id}/review", json={"forward": True}).status_code == 404
    assert jt.get("/api/v1/credits/applications").json["total"] == 0
    r = cadre.post(f"/api/v1/credits/applications/{app_id}/review", json={"forward": True})
    assert r.status_code == 403
    viewer = staff(app, "wbview")
    assert viewer.get(f"/api/v1/credits/applications/{app_id}").status_code == 200
    assert viewer.post(f"/api/v1/credits/applications/{app_id}/review", json={"forward": True}).status_code == 403
    other = _cadre_login(app, world.jt_cadre)
    assert other.get(f"/api/v1/credits/applications/{app_id}").status_code == 404
    assert other.post(f"/api/v1/credits/applications/{app_id}/withdraw").status_code == 404
    assert cadre.post(f"/api/v1/credits/applications/{app_id}/withdraw").json["state"] == "withdrawn"


def test_api_a_text_file_named_pdf_is_refused_and_nothing_is_left_behind(app, world, clock):
    cadre = _cadre_login(app, world.wb_cadre)
    before = evidence_files(app)
    r = api_apply(cadre, data=b"just some text, not a PDF", filename="证书.pdf")
    assert r.status_code == 400 and r.json["field"] == "evidence"
    r = api_apply(cadre, title="x")  # a good file with a bad title: the stored file is removed again
    assert r.status_code == 400 and r.json["field"] == "title"
    assert evidence_files(app) == before
    assert in_db(app, lambda: db.session.scalar(select(func.count()).select_from(CreditApplication))) == 0


def test_api_second_live_degree_application_for_a_year_is_409(app, world, clock):
    cadre = _cadre_login(app, world.wb_cadre)
    degree = {"kind": "degree", "level": "none", "title": "某大学公共管理硕士(在职)", "event_date": None,
              "study_year": "2026", "admission_date": "2025-09-01"}
    first = api_apply(cadre, **degree)
    assert first.status_code == 201 and first.json["amount"] == 5 and first.json["event_date"] == "2026-11-23"
    before = evidence_files(app)
    r = api_apply(cadre, **{**degree, "level": "master"})
    assert r.status_code == 409 and r.json["field"] == "study_year"
    assert evidence_files(app) == before


def test_api_operation_ids_are_in_the_openapi_document(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    ids = {op.get("operationId") for path in doc["paths"].values() for op in path.values() if isinstance(op, dict)}
    assert {"applyForCredits", "listCreditApplications", "getCreditApplication", "reviewCreditApplication",
            "decideCreditApplication", "withdrawCreditApplication", "listNotifications",
            "markNotificationsRead"} <= ids


# --- the pages ----------------------------------------------------------------------------------

def test_pages_apply_review_and_approve(app, world, clock):
    cadre = _cadre_login(app, world.wb_cadre)
    html = cadre.get("/credits/applications/").get_data(as_text=True)
    assert "申请学分" in html and "还没有学分申请" in html
    html = cadre.get("/credits/applications/new").get_data(as_text=True)
    # every level grouped by kind, and the amount table of this year's rules
    assert re.search(r'<optgroup label="表彰奖励">.*value="award:second"', html, re.S)
    assert 'value="book:sole"' in html and 'value="article:sole"' in html
    assert "学分标准(2026 年度)" in html and "二等奖(4 学分)" in text(html)
    token = csrf(html)
    form = {"csrf_token": token, "kind": "award", "level": "book:sole", "title": "全市优秀调研成果",
            "event_date": "2026-05-10", "evidence": (io.BytesIO(PDF), "证书.pdf")}
    r = cadre.c.post("/credits/applications/new", data=form, content_type="multipart/form-data")
    assert r.status_code == 400 and "所选级别与申请类别不符" in r.get_data(as_text=True)
    form = {**form, "level": "award:second", "evidence": (io.BytesIO(PDF), "证书.pdf")}
    r = cadre.c.post("/credits/applications/new", data=form, content_type="multipart/form-data")
    assert r.status_code == 302
    app_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    html = cadre.get(f"/credits/applications/{app_id}").get_data(as_text=True)
    assert "待单位审核" in html and "撤回申请" in html and "单位审核" not in text(html).replace("待单位审核", "")

    wb = staff(app, "wbadmin")
    queue = wb.get("/credits/applications/").get_data(as_text=True)
    assert "全市优秀调研成果" in queue and "李明" in queue  # default queue: waiting for review
    html = wb.get(f"/credits/applications/{app_id}").get_data(as_text=True)
    assert "审核通过,报组织部审批" in html and "批准并记入学分" not in html
    token = csrf(html)
    r = wb.c.post(f"/credits/applications/{app_id}/review", data={"csrf_token": token, "reject": "退回"})
    assert r.status_code == 400 and "退回申请须填写理由" in r.get_data(as_text=True)
    r = wb.c.post(f"/credits/applications/{app_id}/review",
                  data={"csrf_token": token, "comment": "属实", "forward": "审核通过"})
    assert r.status_code == 302
    assert "全市优秀调研成果" not in wb.get("/credits/applications/").get_data(as_text=True)

    org = staff(app, "org")
    assert "全市优秀调研成果" in org.get("/credits/applications/").get_data(as_text=True)  # waiting for decision
    html = org.get(f"/credits/applications/{app_id}").get_data(as_text=True)
    r = org.c.post(f"/credits/applications/{app_id}/decision", data={"csrf_token": csrf(html), "approve": "批准"})
    assert r.status_code == 302
    html = org.c.get(r.headers["Location"]).get_data(as_text=True)
    assert "已批准:记入 2026 年度 4 学分" in html and "渭滨管理员" in html and "属实" in html
    assert f'href="/credits/cadres/{world.wb_cadre}?year=2026"' in html  # the entry in the cadre's ledger
    assert cadre.get(f"/credits/applications/{app_id}/evidence").data == PDF


def test_pages_scope_and_roles(app, world, clock):
    cadre = _cadre_login(app, world.wb_cadre)
    app_id = api_apply(cadre).json["id"]
    jt = staff(app, "jtadmin")
    assert jt.get(f"/credits/applications/{app_id}").status_code == 404
    assert jt.get(f"/credits/applications/{app_id}/evidence").status_code == 404
    assert "全市优秀调研成果" not in jt.get("/credits/applications/?state=all").get_data(as_text=True)
    html = cadre.get(f"/credits/applications/{app_id}").get_data(as_text=True)
    r = cadre.c.post(f"/credits/applications/{app_id}/review", data={"csrf_token": csrf(html), "forward": "1"})
    assert r.status_code == 403
    assert staff(app, "wbadmin").get("/credits/applications/new").status_code == 403
    r = jt.c.post(f"/credits/applications/{app_id}/review",
                  data={"csrf_token": csrf(jt.get("/credits/applications/").get_data(as_text=True)), "forward": "1"})
    assert r.status_code == 404
    assert in_db(app, lambda: db.session.get(CreditApplication, app_id).state) == ApplicationState.SUBMITTED


def test_page_withdraw(app, world, clock):
    cadre = _cadre_login(app, world.wb_cadre)
    app_id = api_apply(cadre).json["id"]
    html = cadre.get(f"/credits/applications/{app_id}").get_data(as_text=True)
    r = cadre.c.post(f"/credits/applications/{app_id}/withdraw", data={"csrf_token": csrf(html)})
    assert r.status_code == 302
    html = cadre.get(f"/credits/applications/{app_id}").get_data(as_text=True)
    assert "已撤回" in html and "申请人撤回" in html and "撤回申请" not in html


def test_page_refuses_a_text_file_named_pdf_and_keeps_nothing(app, world, clock):
    cadre = _cadre_login(app, world.wb_cadre)
    before = evidence_files(app)
    token = csrf(cadre.get("/credits/applications/new").get_data(as_text=True))
    r = cadre.c.post("/credits/applications/new", content_type="multipart/form-data", data={
        "csrf_token": token, "kind": "book", "level": "book:sole", "title": "县域经济发展论",
        "event_date": "2026-03-01", "evidence": (io.BytesIO(b"plain text"), "版权页.pdf")})
    assert r.status_code == 400 and "按文件内容判断" in r.get_data(as_text=True)
    assert evidence_files(app) == before
    assert in_db(app, lambda: db.session.scalar(select(func.count()).select_from(CreditApplication))) == 0


def test_the_unit_of_a_transferred_cadre_takes_over_the_queue(actors):
    a = actors
    application = submit(a.cadre, "award", "second")
    a.cadre.unit_id = db.session.get(Unit, a.jt_admin.unit_id).id
    db.session.flush()
    db.session.expire(a.cadre)
    assert applications.get_application(a.jt_admin, application.id) is application
    with pytest.raises(NotFound):
        applications.get_application(a.wb_admin, application.id)
