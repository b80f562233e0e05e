"""Exams, question banks and papers through the JSON API: no answers before submission, the
server's deadline, limits as problem details, the bank's operations, and papers end to end."""
from __future__ import annotations

import io
import json

from sqlalchemy import func, select

from app.credits.models import CreditEntry
from app.exams import bank
from app.exams.models import ExamAttempt, ExamSetting, Paper, Question
from app.extensions import db
from tests.exams.conftest import _cadre_login

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
BODY = "学习体会:" + "基层治理要坚持以人民为中心," * 20


def _right(app, attempt_id: int) -> dict:
    from app.exams.services import to_shown

    with app.app_context():
        a = db.session.get(ExamAttempt, attempt_id)
        return {str(i.position): to_shown(i, i.question.answer) for i in a.items}


def _no_answers(payload) -> None:
    text = json.dumps(payload, ensure_ascii=False)
    assert '"answer"' not in text and '"explanation"' not in text and "解析" not in text
    assert '"correct"' not in text and '"points"' not in text


def test_start_resume_save_submit(app, world, exam_course, clock):
    c = _cadre_login(app, world.wb_cadre)
    r = c.post(f"/api/v1/courses/{exam_course.id}/exam/attempts")
    assert r.status_code == 201, r.json
    attempt = r.json
    _no_answers(attempt)
    assert attempt["state"] == "open" and attempt["question_count"] == 10 and attempt["seconds_left"] == 1800
    assert {len(q["options"]) for q in attempt["questions"]} <= {2, 4}
    # Starting again resumes the same attempt.
    again = c.post(f"/api/v1/courses/{exam_course.id}/exam/attempts")
    assert again.status_code == 200 and again.json["id"] == attempt["id"]
    got = c.get(f"/api/v1/exam-attempts/{attempt['id']}")
    _no_answers(got.json)
    right = _right(app, attempt["id"])
    clock.advance(120)
    saved = c.put(f"/api/v1/exam-attempts/{attempt['id']}/answers", json={"answers": dict(list(right.items())[:6])})
    assert saved.status_code == 200 and saved.json == {"saved": 6, "answered": 6, "seconds_left": 1680}
    # The same save again changes nothing.
    assert c.put(f"/api/v1/exam-attempts/{attempt['id']}/answers",
                 json={"answers": dict(list(right.items())[:6])}).json["saved"] == 0
    shown = c.get(f"/api/v1/exam-attempts/{attempt['id']}").json
    assert [q["response"] for q in shown["questions"]][:6] == list(right.values())[:6]
    done = c.post(f"/api/v1/exam-attempts/{attempt['id']}/submit", json={"answers": dict(list(right.items())[6:])})
    assert done.status_code == 200
    res = done.json
    assert (res["state"], res["score"], res["passed"], res["credits_earned"], res["late"]) == ("closed", 100, True, 10,
                                                                                             False)
    assert all(q["correct"] and q["answer"] == q["response"] for q in res["questions"])
    assert "10 学分" in res["credits_message"]
    # A retried submission returns the same result and the ledger has one entry.
    assert c.post(f"/api/v1/exam-attempts/{attempt['id']}/submit", json={}).json["score"] == 100
    with app.app_context():
        assert db.session.scalar(select(func.count(CreditEntry.id)).where(
            CreditEntry.source_type == "course_credits", CreditEntry.user_id == world.wb_cadre)) == 1
    # Saving into a closed attempt is a conflict.
    r = c.put(f"/api/v1/exam-attempts/{attempt['id']}/answers", json={"answers": {"1": "A"}})
    assert r.status_code == 409 and r.json["code"] == "attempt_closed"
    mine = c.get("/api/v1/exam-attempts").json
    assert mine["total"] == 1 and mine["items"][0]["credits_earned"] == 10
    status = c.get(f"/api/v1/courses/{exam_course.id}/exam").json
    assert status["passed"] and status["credits_earned"] and status["attempts_used"] == 1


def test_a_late_submission_through_the_api_counts_only_saved_answers(app, world, exam_course, clock):
    c = _cadre_login(app, world.wb_cadre)
    attempt_id = c.post(f"/api/v1/courses/{exam_course.id}/exam/attempts").json["id"]
    right = _right(app, attempt_id)
    c.put(f"/api/v1/exam-attempts/{attempt_id}/answers", json={"answers": {"1": right["1"], "2": right["2"]}})
    clock.advance(31 * 60)
    r = c.post(f"/api/v1/exam-attempts/{attempt_id}/submit", json={"answers": right})
    assert r.status_code == 200
    assert (r.json["late"], r.json["end"], r.json["score"], r.json["passed"]) == (True, "deadline", 20, False)
    assert r.json["credits_earned"] == 0


def test_bad_answers_are_400_and_change_nothing(app, world, exam_course, clock):
    c = _cadre_login(app, world.wb_cadre)
    attempt_id = c.post(f"/api/v1/courses/{exam_course.id}/exam/attempts").json["id"]
    for body in ({"answers": {"1": "Z"}}, {"answers": {"999": "A"}}, {"answers": {"abc": "A"}},
                 {"answers": {"1": "ABCDEFGHIJ"}}, {"answers": "A"}):
        r = c.put(f"/api/v1/exam-attempts/{attempt_id}/answers", json=body)
        assert r.status_code in (400, 422), (body, r.status_code)
    assert all(q["response"] is None for q in c.get(f"/api/v1/exam-attempts/{attempt_id}").json["questions"])


def test_limits_and_access_are_problem_details(app, world, exam_course, clock, make_api):
    with app.app_context():
        db.session.get(ExamSetting, exam_course.id).attempts_total = 1
        db.session.commit()
    c = _cadre_login(app, world.wb_cadre)
    attempt_id = c.post(f"/api/v1/courses/{exam_course.id}/exam/attempts").json["id"]
    c.post(f"/api/v1/exam-attempts/{attempt_id}/submit", json={})
    r = c.post(f"/api/v1/courses/{exam_course.id}/exam/attempts")
    assert r.status_code == 422 and r.json["code"] == "attempts_exhausted"
    assert "最多可参加 1 次" in r.json["detail"]
    # Another cadre cannot see the attempt; staff cannot sit exams.
    other = _cadre_login(app, world.jt_cadre)
    assert other.get(f"/api/v1/exam-attempts/{attempt_id}").status_code == 404
    r = other.post(f"/api/v1/courses/{exam_course.id}/exam/attempts")
    assert r.status_code == 422 and "学完本课程" in r.json["detail"]
    org = make_api()
    org.login("org")
    assert org.post(f"/api/v1/courses/{exam_course.id}/exam/attempts").status_code == 403
    assert make_api().get(f"/api/v1/exam-attempts/{attempt_id}").status_code == 401


def test_question_bank_operations(app, world, exam_course, make_api):
    org = make_api()
    org.login("org")
    listed = org.get(f"/api/v1/courses/{exam_course.id}/questions")
    assert listed.status_code == 200 and len(listed.json) == 13 and listed.json[0]["answer"]
    created = org.post(f"/api/v1/courses/{exam_course.id}/questions", json={
        "kind": "multiple", "stem": "下列属于新发展理念的有?", "options": ["创新", "协调", "停滞"], "answer": "BA",
        "explanation": "创新、协调。"})
    assert created.status_code == 201 and created.json["answer"] == "AB" and created.json["position"] == 14
    bad = org.post(f"/api/v1/courses/{exam_course.id}/questions", json={
        "kind": "single", "stem": "只有一个选项的题?", "options": ["甲"], "answer": "A"})
    assert bad.status_code == 400 and bad.json["field"] == "options"
    qid = created.json["id"]
    patched = org.patch(f"/api/v1/questions/{qid}", json={"stem": "下列属于新发展理念的是?"})
    assert patched.status_code == 200 and patched.json["id"] == qid  # unused: changed in place
    retired = org.patch(f"/api/v1/questions/{qid}", json={"retired": True})
    assert retired.json["retired"] is True
    assert len(org.get(f"/api/v1/courses/{exam_course.id}/questions").json) == 13
    assert len(org.get(f"/api/v1/courses/{exam_course.id}/questions?include_retired=true").json) == 14
    with app.app_context():
        data = bank.template_xlsx()
    imported = org.post(f"/api/v1/courses/{exam_course.id}/questions/import",
                        data={"file": (io.BytesIO(data), "题目.xlsx")}, content_type="multipart/form-data")
    assert imported.status_code == 200 and imported.json == {"ok": True, "created": 3, "unchanged": 0, "errors": []}
    junk = org.post(f"/api/v1/courses/{exam_course.id}/questions/import",
                    data={"file": (io.BytesIO(b"not a workbook"), "x.xlsx")}, content_type="multipart/form-data")
    assert junk.status_code == 400 and junk.json["field"] == "file"
    settings = org.put(f"/api/v1/courses/{exam_course.id}/exam/settings",
                       json={"question_count": 20, "pass_mark": 80, "attempts_total": 5})
    assert settings.status_code == 200 and settings.json["pass_mark"] == 80
    assert "16 道题" in settings.json["shortfall"]
    assert org.put(f"/api/v1/courses/{exam_course.id}/exam/settings", json={"pass_mark": 0}).status_code in (400, 422)
    # Cadres and network administrators cannot read the bank (it holds the answers).
    cadre = _cadre_login(app, world.wb_cadre)
    assert cadre.get(f"/api/v1/courses/{exam_course.id}/questions").status_code == 403
    admin = make_api()
    admin.login("wbadmin")
    assert admin.get(f"/api/v1/courses/{exam_course.id}/questions").status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count(Question.id)).where(Question.course_id == exam_course.id)) == 17


def test_papers_through_the_api(app, world, exam_course, make_api):
    cadre = _cadre_login(app, world.wb_cadre)
    fake = cadre.post("/api/v1/papers", data={"course_id": str(exam_course.id), "title": "我的论文",
                                              "file": (io.BytesIO(b"<html>not a pdf</html>\x00\x01"), "论文.pdf")},
                      content_type="multipart/form-data")
    assert fake.status_code == 400 and fake.json["field"] == "file"
    r = cadre.post("/api/v1/papers", data={"course_id": str(exam_course.id), "title": "关于基层党建的思考",
                                           "file": (io.BytesIO(PDF), "../../etc/论文 终稿.pdf")},
                   content_type="multipart/form-data")
    assert r.status_code == 201, r.json
    paper = r.json
    assert paper["state"] == "submitted" and paper["versions"][0]["file_name"] == "论文 终稿.pdf"
    f = cadre.get(paper["versions"][0]["file_url"])
    assert f.status_code == 200 and f.data == PDF and "attachment" in f.headers["Content-Disposition"]
    org = make_api()
    org.login("org")
    queue = org.get("/api/v1/papers?state=submitted").json
    assert [p["id"] for p in queue["items"]] == [paper["id"]]
    back = org.post(f"/api/v1/papers/{paper['id']}/review", json={"approve": False, "comment": "请补充实践案例"})
    assert back.status_code == 200 and back.json["state"] == "returned"
    v2 = cadre.post(f"/api/v1/papers/{paper['id']}/versions", data={"title": "关于基层党建的思考(修改稿)", "body": BODY},
                    content_type="multipart/form-data")
    assert v2.status_code == 201 and v2.json["version"] == 2
    stale = org.post(f"/api/v1/papers/{paper['id']}/review", json={"approve": True, "score": 85, "version": 1})
    assert stale.status_code == 409
    ok = org.post(f"/api/v1/papers/{paper['id']}/review", json={"approve": True, "score": 85, "version": 2})
    assert ok.status_code == 200, ok.json
    assert (ok.json["state"], ok.json["score"], ok.json["credits"], ok.json["credits_earned"]) == \
        ("approved", 85, 10, 10)
    assert [r_["decision"] for r_ in ok.json["reviews"]] == ["return", "approve"]
    assert len(ok.json["versions"]) == 2
    # The other unit's network administrator (not a reviewer) cannot see it.
    jt = make_api()
    jt.login("jtadmin")
    assert jt.get(f"/api/v1/papers/{paper['id']}").status_code == 404
    with app.app_context():
        assert db.session.get(Paper, paper["id"]).entry.credits == 10


def test_per_type_counts_cannot_make_a_paper_larger_than_the_question_limit(app, world, exam_course, make_api):
    """Each type count may be up to 100, but their sum is the paper's question count, which is
    bounded to 100 like question_count itself (found by tests/security/test_api_fuzz.py: a 200
    with question_count 300, outside the documented range)."""
    org = make_api()
    org.login("org")
    url = f"/api/v1/courses/{exam_course.id}/exam/settings"
    r = org.put(url, json={"single_count": 100, "multiple_count": 100, "truefalse_count": 100})
    assert r.status_code == 400 and r.json["field"] == "single_count"
    assert "不能超过 100" in r.json["detail"]
    with app.app_context():
        s = db.session.get(ExamSetting, exam_course.id)
        assert (s.question_count, s.per_type) == (10, None)
    r = org.put(url, json={"single_count": 60, "multiple_count": 30, "truefalse_count": 10})
    assert r.status_code == 200 and r.json["question_count"] == 100
