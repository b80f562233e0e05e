"""Credits in the JSON API: getCreditSummary, listCreditEntries, adjustCredits, reverseCreditEntry,
getAssessment, getCreditRules/updateCreditRules and closeCreditYear."""
from __future__ import annotations

import pytest

from app.credits.models import CreditKind
from app.extensions import db
from tests.catalogue.conftest import _cadre_login
from tests.conftest import ApiClient
from tests.credits.conftest import give

OPERATIONS = {"getCreditSummary", "listCreditEntries", "adjustCredits", "reverseCreditEntry", "getAssessment",
              "getCreditRules", "updateCreditRules", "closeCreditYear"}


def staff(app, login) -> ApiClient:
    c = ApiClient(app.test_client())
    assert c.login(login).status_code == 200
    return c


@pytest.fixture
def ledger(app, world, clock):
    with app.test_request_context():
        give(world.wb_cadre, 75, 2026, kind=CreditKind.OFFLINE_TRAINING, hours=120)
        db.session.commit()


def test_operations_are_in_the_openapi_document(app):
    spec = app.test_client().get("/api/v1/openapi.json").json
    ids = {op.get("operationId") for path in spec["paths"].values() for op in path.values() if isinstance(op, dict)}
    assert OPERATIONS <= ids


def test_summary_for_a_cadre_and_their_administrator(app, world, ledger, clock):
    clock.set(2027, 3, 1)
    cadre = _cadre_login(app, world.wb_cadre)
    r = cadre.get("/api/v1/credits/summary?year=2027")
    assert r.status_code == 200
    s = r.json
    assert (s["year"], s["carried_in"], s["earned"], s["total"], s["requirement"], s["missing"]) == (2027, 15, 0, 15,
                                                                                                   60, 45)
    assert s["status"] == "unqualified" and s["rank"] == "township"
    assert s["cycle"]["first"] == 2026 and s["cycle"]["credits"] == 75 and s["cycle"]["hours"] == 120
    assert s["cycle"]["hours_required"] == 500 and [y["year"] for y in s["cycle"]["years"]] == [2026, 2027]
    one = cadre.get("/api/v1/credits/summary?year=2026").json
    assert one["by_kind"]["offline"] == {"credits": 75, "hours": 120} and one["by_category"]["basic"] == 75
    assert one["carried_out"] == 15 and one["status"] == "qualified"

    wb = staff(app, "wbadmin")
    assert wb.get(f"/api/v1/credits/summary?user_id={world.wb_cadre}&year=2026").json["total"] == 75
    assert staff(app, "jtadmin").get(f"/api/v1/credits/summary?user_id={world.wb_cadre}").status_code == 404
    assert cadre.get(f"/api/v1/credits/summary?user_id={world.jt_cadre}").status_code == 404
    assert app.test_client().get("/api/v1/credits/summary").status_code == 401


def test_adjust_reverse_and_list_entries(app, world, ledger):
    org = staff(app, "org")
    r = org.post("/api/v1/credits/adjustments", json={"user_id": world.wb_cadre, "credits": -5, "reason": "多计"})
    assert r.status_code == 201 and r.json["credits"] == -5 and r.json["source_type"] == "adjustment"
    adj = r.json["id"]
    # the reason is required; a bad amount is refused; nothing is written by either
    assert org.post("/api/v1/credits/adjustments", json={"user_id": world.wb_cadre, "credits": 5}).status_code == 400
    assert org.post("/api/v1/credits/adjustments",
                    json={"user_id": world.wb_cadre, "credits": 500, "reason": "太多"}).status_code == 400
    # a network administrator may not adjust
    r = staff(app, "wbadmin").post("/api/v1/credits/adjustments",
                                   json={"user_id": world.wb_cadre, "credits": 5, "reason": "试试"})
    assert r.status_code == 403

    r = org.post(f"/api/v1/credits/entries/{adj}/reversal", json={"reason": "调整有误"})
    assert r.status_code == 201 and r.json["reverses_id"] == adj and r.json["credits"] == 5
    assert org.post(f"/api/v1/credits/entries/{adj}/reversal", json={"reason": "再来"}).status_code == 409
    assert org.post(f"/api/v1/credits/entries/{r.json['id']}/reversal", json={"reason": "撤销撤销"}).status_code == 422

    entries = org.get(f"/api/v1/credits/entries?user_id={world.wb_cadre}&year=2026").json
    assert entries["total"] == 3
    by_id = {e["id"]: e for e in entries["items"]}
    assert by_id[adj]["reversed"] is True and by_id[adj]["reason"] == "多计"
    assert sum(e["credits"] for e in entries["items"]) == 75
    assert staff(app, "jtadmin").post(f"/api/v1/credits/entries/{adj}/reversal",
                                      json={"reason": "越权"}).status_code == 404


def test_assessment_of_a_unit(app, world, clock, unit_of_nine):
    with app.test_request_context():
        for uid in unit_of_nine[3:]:
            give(uid, 60, 2026)
        db.session.commit()
    wb = staff(app, "wbadmin")
    a = wb.get(f"/api/v1/credits/assessment?unit_id={world.wb_bureau}&year=2026").json
    assert (a["cadres"], a["qualified"], a["unqualified"], a["flagged"]) == (9, 6, 3, True)
    assert a["qualified_rate"] == pytest.approx(6 / 9)
    only = wb.get(f"/api/v1/credits/assessment?unit_id={world.wb_bureau}&unqualified_only=true").json
    assert only["total"] == 3 and {i["user"]["id"] for i in only["items"]} == set(unit_of_nine[:3])
    assert all(i["status"] == "unqualified" and i["result"]["missing"] == 60 for i in only["items"])
    assert staff(app, "jtadmin").get(f"/api/v1/credits/assessment?unit_id={world.wb_bureau}").status_code == 404
    assert _cadre_login(app, world.wb_cadre).get("/api/v1/credits/assessment").status_code == 404


def test_rules_and_closing(app, world, clock):
    org = staff(app, "org")
    rules = org.get("/api/v1/credits/rules?year=2027").json
    assert rules["values"]["annual_township"] == 60 and rules["values"]["award_second"] == 4
    r = org.put("/api/v1/credits/rules", json={"effective_year": 2027, "values": {"annual_township": 50},
                                               "reason": "乡科级 50"})
    assert r.status_code == 200 and r.json["values"]["annual_township"] == 50
    assert org.get("/api/v1/credits/rules?year=2026").json["values"]["annual_township"] == 60
    assert org.put("/api/v1/credits/rules", json={"effective_year": 2027,
                                                  "values": {"nonsense": 1}}).status_code == 400
    assert staff(app, "wbadmin").put("/api/v1/credits/rules", json={"effective_year": 2027,
                                                                     "values": {"annual_other": 40}}).status_code == 403

    assert org.post("/api/v1/credits/years/2027/closing").status_code == 422  # not begun
    clock.set(2027, 1, 5)
    r = org.post("/api/v1/credits/years/2026/closing")
    assert r.status_code == 200 and r.json["year"] == 2026 and r.json["cadres"] == 2
    assert org.post("/api/v1/credits/years/2026/closing").status_code == 409
    assert org.get("/api/v1/credits/rules?year=2026").json["closed"] is True
    r = org.put("/api/v1/credits/rules", json={"effective_year": 2026, "values": {"annual_other": 40}})
    assert r.status_code == 422
