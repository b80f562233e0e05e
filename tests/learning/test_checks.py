"""Still-studying checks (防挂机): the answer never reaches the browser before it is answered;
until it is answered correctly nothing is credited; unanswered in time, the session pauses."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.learning.models import StudyCheck
from tests.learning.test_tracking import report, start


@pytest.fixture
def checks_every_half_minute(app, course):
    app.config["LEARNING_CHECK_MIN_MINUTES"] = app.config["LEARNING_CHECK_MAX_MINUTES"] = 0.5
    yield
    app.config["LEARNING_CHECK_MIN_MINUTES"] = app.config["LEARNING_CHECK_MAX_MINUTES"] = 10_000


def play_until_check(api, clock, session, seq=0, pos=0):
    while True:
        seq += 1
        clock.advance(15)
        r = report(api, session, seq, pos + 15, [[pos, pos + 15]])
        pos += 15
        if r.json["check"]:
            return r, seq, pos


def test_an_unanswered_check_stops_credit_a_wrong_answer_does_not_resume_a_right_one_does(
        app, cadre_api, course, clock, checks_every_half_minute):
    s = start(cadre_api, course.lessons[0])
    r, seq, pos = play_until_check(cadre_api, clock, s["session_id"])
    check = r.json["check"]
    assert len(check["options"]) == 4 and check["image_url"].endswith(".png")
    with app.app_context():
        answer = db.session.scalar(db.select(StudyCheck.answer).where(StudyCheck.key == check["id"]))
    # nothing in the report says which option is right
    assert set(r.json["check"]) == {"id", "prompt", "image_url", "options", "expires_at"}
    assert str(answer) not in r.json["check"]["prompt"]
    img = cadre_api.get(check["image_url"])
    assert img.status_code == 200 and img.mimetype == "image/png" and img.data[:4] == b"\x89PNG"

    credited = r.json["lesson_credited"]
    clock.advance(15)
    blocked = report(cadre_api, s["session_id"], seq + 1, pos + 15, [[pos, pos + 15]])
    assert blocked.json["credited"] == 0 and "check_pending" in blocked.json["notes"]
    assert blocked.json["check"]["id"] == check["id"]

    wrong = next(o for o in check["options"] if o != answer)
    w = cadre_api.post(f"/api/v1/study-checks/{check['id']}/answer", json={"answer": wrong})
    assert w.status_code == 200 and w.json == {"ok": False, "wrong_answers": 1}
    clock.advance(15)
    still = report(cadre_api, s["session_id"], seq + 2, pos + 15, [[pos, pos + 15]])
    assert still.json["credited"] == 0

    ok = cadre_api.post(f"/api/v1/study-checks/{check['id']}/answer", json={"answer": answer})
    assert ok.json["ok"] is True
    clock.advance(15)
    resumed = report(cadre_api, s["session_id"], seq + 3, pos + 15, [[pos, pos + 15]])
    assert resumed.json["credited"] == 15 and resumed.json["lesson_credited"] == credited + 15


def test_an_unanswered_check_past_its_limit_pauses_the_session(app, cadre_api, course, clock, checks_every_half_minute):
    s = start(cadre_api, course.lessons[0])
    r, seq, pos = play_until_check(cadre_api, clock, s["session_id"])
    clock.advance(app.config["LEARNING_CHECK_TIMEOUT_SECONDS"] + 1)
    paused = report(cadre_api, s["session_id"], seq + 1, pos, [[pos, pos + 15]])
    assert paused.json["state"] == "paused" and paused.json["credited"] == 0
    late = cadre_api.post(f"/api/v1/study-checks/{r.json['check']['id']}/answer", json={"answer": 10})
    assert late.status_code == 409 and late.json["code"] == "check_expired"
    clock.advance(15)
    after = report(cadre_api, s["session_id"], seq + 2, pos + 15, [[pos, pos + 15]])
    assert after.status_code == 409 and after.json["code"] == "session_paused"
    # starting again is allowed; the new session earns
    s2 = start(cadre_api, course.lessons[0])
    clock.advance(15)
    assert report(cadre_api, s2["session_id"], 1, pos + 15, [[pos, pos + 15]]).json["credited"] == 15


def test_another_cadre_cannot_see_or_answer_my_check(app, make_api, cadre_api, course, clock, checks_every_half_minute, world):
    from tests.catalogue.conftest import _cadre_login

    s = start(cadre_api, course.lessons[0])
    r, _seq, _pos = play_until_check(cadre_api, clock, s["session_id"])
    other = _cadre_login(app, world.jt_cadre)
    assert other.get(r.json["check"]["image_url"]).status_code == 404
    assert other.post(f"/api/v1/study-checks/{r.json['check']['id']}/answer", json={"answer": 10}).status_code == 404
    assert other.post(f"/api/v1/watch-sessions/{s['session_id']}/reports",
                      json={"seq": 99, "position": 1, "playing": True}).status_code == 404
