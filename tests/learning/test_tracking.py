"""The server decides study time: forged, fast, skipping, parallel, repeated and idle reports
earn only what the server's clock allows. Time is controlled by the `clock` fixture, never slept."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.learning.models import CourseProgress, LessonProgress, StudyCheck, StudyDay

TOL = 2.0  # LEARNING_TOLERANCE_SECONDS


def start(api, lesson_id):
    r = api.post(f"/api/v1/lessons/{lesson_id}/watch-sessions")
    assert r.status_code == 201, r.json
    return r.json


def report(api, session, seq, position, ranges, playing=True, event="tick"):
    return api.post(f"/api/v1/watch-sessions/{session}/reports",
                    json={"seq": seq, "position": position, "playing": playing, "ranges": ranges, "event": event})


def test_a_forged_report_of_ten_minutes_after_fifteen_seconds_credits_at_most_fifteen(cadre_api, course, clock):
    s = start(cadre_api, course.lessons[0])
    assert s["report_interval"] == 15 and s["speed_cap"] == 1.0
    clock.advance(15)
    r = report(cadre_api, s["session_id"], 1, 600, [[0, 600]])
    assert r.status_code == 200
    assert r.json["credited"] <= 15 + TOL
    assert r.json["covered_seconds"] <= 15 + TOL
    assert "faster_than_clock" in r.json["notes"] or "beyond_frontier" in r.json["notes"]


def test_honest_reports_are_credited_in_full(cadre_api, course, clock):
    s = start(cadre_api, course.lessons[0])
    for seq in range(1, 5):
        clock.advance(15)
        r = report(cadre_api, s["session_id"], seq, seq * 15, [[(seq - 1) * 15, seq * 15]])
        assert r.json["credited"] == 15, r.json
    assert r.json["covered_seconds"] == 60 and r.json["furthest"] == 60
    assert r.json["coverage"] == pytest.approx(0.1)


def test_a_jump_from_one_minute_to_nine_credits_nothing_past_one_minute(cadre_api, course, clock):
    s = start(cadre_api, course.lessons[0])
    for seq in range(1, 5):
        clock.advance(15)
        report(cadre_api, s["session_id"], seq, seq * 15, [[(seq - 1) * 15, seq * 15]])
    clock.advance(15)
    r = report(cadre_api, s["session_id"], 5, 555, [[540, 555]])
    assert r.json["credited"] == 0 and r.json["covered_seconds"] == 60 and r.json["furthest"] == 60
    assert "beyond_frontier" in r.json["notes"]
    progress = cadre_api.get(f"/api/v1/lessons/{course.lessons[0]}/progress").json
    assert progress["last_position"] <= 60  # the resume point is not past what was watched


def test_watching_a_minute_twice_counts_study_time_but_not_coverage(cadre_api, course, clock):
    s = start(cadre_api, course.lessons[0])
    seq = 0
    for _ in range(2):  # the first minute, twice (seeking back is free)
        for k in range(4):
            seq += 1
            clock.advance(15)
            r = report(cadre_api, s["session_id"], seq, (k + 1) * 15, [[k * 15, (k + 1) * 15]])
    assert r.json["covered_seconds"] == 60
    assert r.json["lesson_credited"] == 120


def test_only_the_newer_of_two_sessions_earns(cadre_api, course, clock, app, world):
    first = start(cadre_api, course.lessons[0])
    second = start(cadre_api, course.lessons[0])  # second tab or device
    clock.advance(15)
    old = report(cadre_api, first["session_id"], 1, 15, [[0, 15]])
    assert old.status_code == 409 and old.json["code"] == "session_ended"
    new = report(cadre_api, second["session_id"], 1, 15, [[0, 15]])
    assert new.status_code == 200 and new.json["credited"] == 15
    assert new.json["lesson_credited"] == 15


def test_the_same_sequence_number_twice_counts_once(cadre_api, course, clock):
    s = start(cadre_api, course.lessons[0])
    clock.advance(15)
    a = report(cadre_api, s["session_id"], 1, 15, [[0, 15]])
    clock.advance(15)
    b = report(cadre_api, s["session_id"], 1, 15, [[0, 15]])
    assert a.json["credited"] == 15 and b.json["duplicate"] and b.json["credited"] == 0
    assert b.json["lesson_credited"] == 15
    # an older number arriving late is acknowledged and earns nothing either
    clock.advance(15)
    report(cadre_api, s["session_id"], 3, 30, [[15, 30]])
    late = report(cadre_api, s["session_id"], 2, 30, [[15, 30]])
    assert late.json["duplicate"] and late.json["lesson_credited"] == 30


def test_nothing_while_paused_or_beyond_the_video(cadre_api, course, clock):
    s = start(cadre_api, course.lessons[1])  # the 3-second lesson
    clock.advance(15)
    paused = report(cadre_api, s["session_id"], 1, 0, [[0, 3]], playing=False)
    assert paused.json["credited"] == 0 and "not_playing" in paused.json["notes"]
    clock.advance(15)
    r = report(cadre_api, s["session_id"], 2, 3, [[0, 50]])
    assert r.json["credited"] == 3 and r.json["covered_seconds"] == 3


def test_a_long_pause_does_not_bank_time_for_later(cadre_api, course, clock):
    s = start(cadre_api, course.lessons[0])
    clock.advance(15)
    report(cadre_api, s["session_id"], 1, 15, [[0, 15]])
    clock.advance(3600)  # an hour on pause: reported as not playing
    report(cadre_api, s["session_id"], 2, 15, [], playing=False, event="pause")
    clock.advance(15)
    r = report(cadre_api, s["session_id"], 3, 600, [[15, 600]])
    assert r.json["credited"] <= 15 + TOL


def test_a_lost_card_mid_session_stops_credit(app, cadre_api, course, clock, world):
    from app.accounts import services as accounts
    from app.accounts.models import User

    s = start(cadre_api, course.lessons[0])
    clock.advance(15)
    assert report(cadre_api, s["session_id"], 1, 15, [[0, 15]]).json["credited"] == 15
    with app.test_request_context():
        admin = db.session.get(User, world.wb_admin)
        cadre = db.session.get(User, world.wb_cadre)
        accounts.report_card_lost(admin, cadre.active_card)
        db.session.commit()
    clock.advance(15)
    r = report(cadre_api, s["session_id"], 2, 30, [[15, 30]])
    assert r.status_code == 401
    with app.app_context():
        lp = db.session.scalar(select(LessonProgress).where(LessonProgress.lesson_id == course.lessons[0]))
        assert lp.credited_seconds == 15


def test_withdrawn_course_stops_credit(cadre_api, org_api, course, clock):
    s = start(cadre_api, course.lessons[0])
    assert org_api.patch(f"/api/v1/courses/{course.id}", json={"state": "draft"}).status_code == 200
    clock.advance(15)
    r = report(cadre_api, s["session_id"], 1, 15, [[0, 15]])
    assert r.status_code == 409 and r.json["code"] == "no_access"


def test_staff_are_not_tracked(org_api, course):
    r = org_api.post(f"/api/v1/lessons/{course.lessons[0]}/watch-sessions")
    assert r.status_code == 403


def test_completion_is_recorded_once_and_the_course_completes_with_its_last_lesson(app, cadre_api, course, clock):
    from app.learning import services

    calls = []
    services.COURSE_COMPLETED.append(lambda *a: calls.append(a))
    try:
        short = start(cadre_api, course.lessons[1])
        clock.advance(5)
        r = report(cadre_api, short["session_id"], 1, 3, [[0, 3]])
        assert r.json["lesson_completed_now"] and not r.json["course_completed_now"]
        clock.advance(5)
        again = report(cadre_api, short["session_id"], 2, 3, [[0, 3]])
        assert again.json["lesson_completed"] and not again.json["lesson_completed_now"]
        long = start(cadre_api, course.lessons[0])
        seq = 0
        for k in range(0, 570, 15):  # 95 % of 600 s
            seq += 1
            clock.advance(15)
            r = report(cadre_api, long["session_id"], seq, k + 15, [[k, k + 15]])
        assert r.json["lesson_completed_now"] and r.json["course_completed_now"]
        assert r.json["course"]["lessons_completed"] == 2 and r.json["course"]["completed_at"]
        clock.advance(15)
        seq += 1
        r = report(cadre_api, long["session_id"], seq, 585, [[570, 585]])
        assert not r.json["course_completed_now"]
    finally:
        services.COURSE_COMPLETED.pop()
    assert len(calls) == 1 and calls[0][1] == course.id
    with app.app_context():
        assert db.session.scalar(select(func.count(CourseProgress.id)).where(
            CourseProgress.completed_at.is_not(None))) == 1


def test_study_time_and_time_online_roll_up_per_day(cadre_api, course, clock):
    s = start(cadre_api, course.lessons[0])
    for seq in range(1, 5):
        clock.advance(15)
        report(cadre_api, s["session_id"], seq, seq * 15, [[(seq - 1) * 15, seq * 15]])
    clock.advance(3600)  # an hour away: the gap counts at most 5 minutes online
    report(cadre_api, s["session_id"], 5, 60, [], playing=False)
    body = cadre_api.get("/api/v1/me/study-time", query_string={"from": "2026-11-23", "to": "2026-11-23"}).json
    day = body["days"][0]
    assert day["study_seconds"] == 60
    assert day["online_seconds"] == 60 + 300
    assert body["totals"]["year"]["study_seconds"] >= 60


def test_bad_reports_are_refused_and_change_nothing(cadre_api, course, clock):
    s = start(cadre_api, course.lessons[0])
    for bad in ({"seq": 0, "position": 1, "playing": True}, {"seq": 1, "position": -5, "playing": True},
                {"seq": 1, "position": 1, "playing": True, "ranges": [[1, 2, 3]]},
                {"seq": 1, "position": 1, "playing": True, "ranges": [[0, 1]] * 201},
                {"seq": "x", "position": 1, "playing": True}):
        r = cadre_api.post(f"/api/v1/watch-sessions/{s['session_id']}/reports", json=bad)
        assert r.status_code == 400, bad
    assert cadre_api.post("/api/v1/watch-sessions/nope/reports",
                          json={"seq": 1, "position": 1, "playing": True}).status_code == 404
    clock.advance(15)
    assert report(cadre_api, s["session_id"], 1, 15, [[0, 15]]).json["credited"] == 15


def test_a_report_without_csrf_token_is_refused_but_a_beacon_token_in_the_body_works(app, cadre_api, course, clock):
    s = start(cadre_api, course.lessons[0])
    clock.advance(15)
    body = {"seq": 1, "position": 15, "playing": True, "ranges": [[0, 15]], "event": "close"}
    r = cadre_api.c.post(f"/api/v1/watch-sessions/{s['session_id']}/reports", json=body)
    assert r.status_code == 400 and r.json["code"] == "csrf"
    r = cadre_api.c.post(f"/api/v1/watch-sessions/{s['session_id']}/reports", json={**body, "csrf_token": cadre_api.csrf})
    assert r.status_code == 200 and r.json["credited"] == 15 and r.json["state"] == "ended"


def test_completion_written_by_a_crossing_report_is_not_written_again(app, world, course, clock):
    """Two reports crossing 95 % together: the second sees the row already completed in the
    database (its own copy still says 'not completed') and does not record or publish again."""
    from sqlalchemy import update

    from app.accounts.models import User
    from app.catalogue.models import Lesson
    from app.learning import services
    from app.learning.models import LessonProgress

    with app.test_request_context():
        user = db.session.get(User, world.wb_cadre)
        lesson = db.session.get(Lesson, course.lessons[1])
        lp, cp = services._progress_rows(user, lesson, clock())
        lp.covered_seconds = 3.0
        db.session.flush()
        db.session.execute(update(LessonProgress).where(LessonProgress.id == lp.id)
                           .values(completed_at=clock()).execution_options(synchronize_session=False))
        assert lp.completed_at is None  # the stale copy of the crossing request
        result = services.ReportResult(None, lp, cp, lesson)
        services._complete(user, lesson, lp, cp, clock(), result)
        assert result.lesson_completed_now is False and lp.completed_at is not None
