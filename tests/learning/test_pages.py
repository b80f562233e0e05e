"""The pages around study-time tracking: the lesson page's player data (cadres only), progress on
the lesson and course pages, and 我的学习 (My learning)."""
from __future__ import annotations

import json
import re
from html import unescape

import pytest

from app.catalogue.models import Lesson
from app.extensions import db
from app.learning.models import StudyCheck
from tests.learning.test_checks import play_until_check
from tests.learning.test_tracking import report, start


def page(api, url) -> str:
    r = api.get(url)
    assert r.status_code == 200, r.status_code
    return r.get_data(as_text=True)


def lesson_url(course, i=0) -> str:
    return f"/courses/{course.id}/lessons/{course.lessons[i]}"


def section(html: str, element_id: str) -> str:
    m = re.search(rf'<(\w+)[^>]* id="{element_id}".*?</\1>', html, re.S)
    assert m, f"no #{element_id}"
    return m.group(0)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def watch(api, clock, lesson_id, seconds, step=15):
    s = start(api, lesson_id)
    seq, pos = 0, 0
    while pos < seconds:
        seq += 1
        clock.advance(step)
        r = report(api, s["session_id"], seq, pos + step, [[pos, pos + step]])
        assert r.status_code == 200, r.json
        pos += step
    return r.json


def test_the_lesson_page_of_a_cadre_carries_the_player_data_and_nothing_of_a_check(
        app, cadre_api, course, clock):
    html = page(cadre_api, lesson_url(course))
    assert f'data-track-start="/api/v1/lessons/{course.lessons[0]}/watch-sessions"' in html
    assert 'data-answer-url="/api/v1/study-checks/__KEY__/answer"' in html
    assert re.search(r'data-csrf="[^"]{20,}"', html)
    assert "/static/js/player.js" in html
    assert 'id="study-check"' in html and 'data-lesson-pct>0<' in html
    assert re.search(r"课程进度 <b data-course-pct>0</b>% · 已完成 <b data-course-done>0</b>/<b data-course-lessons>2</b>", html)
    labels = json.loads(unescape(re.search(r"data-labels='([^']+)'", html).group(1)))
    assert labels["no_skip"] == "不能跳过未观看的内容"

    # a check is pending: the page says nothing about it (neither its key nor its picture)
    app.config["LEARNING_CHECK_MIN_MINUTES"] = app.config["LEARNING_CHECK_MAX_MINUTES"] = 0.5
    s = start(cadre_api, course.lessons[0])
    r, _seq, _pos = play_until_check(cadre_api, clock, s["session_id"])
    check = r.json["check"]
    with app.app_context():
        answer = db.session.scalar(db.select(StudyCheck.answer).where(StudyCheck.key == check["id"]))
    html = page(cadre_api, lesson_url(course))
    assert check["id"] not in html and check["image_url"] not in html
    assert "data-answer=" not in html and f">{answer}<" not in html
    assert "请确认您仍在学习" not in html


def test_staff_get_the_plain_video_without_tracking(org_api, course):
    html = page(org_api, lesson_url(course))
    assert "<video" in html
    assert "data-track-start" not in html and "player.js" not in html
    assert 'id="study-progress"' not in html and 'id="study-check"' not in html
    course_page = page(org_api, f"/courses/{course.id}")
    assert "课程进度" not in course_page


def test_progress_shows_on_the_lesson_and_course_pages(cadre_api, course, clock):
    last = watch(cadre_api, clock, course.lessons[0], 30)
    assert last["coverage"] == 0.05
    html = page(cadre_api, lesson_url(course))
    assert "data-lesson-pct>5<" in html and 'data-furthest="30.0"' in html
    assert "data-course-pct>5<" in html  # 30 s of 603 s

    course_page = page(cadre_api, f"/courses/{course.id}")
    assert re.search(r'课程进度 <b class="cp-pct">5</b>%', course_page)
    assert "已完成 0/2 课时" in text(course_page)
    assert "已观看 5%" in text(course_page) and "未学习" in text(course_page)
    assert "继续学习" in course_page  # the button now resumes

    # the short lesson, watched in full, shows as done
    short = start(cadre_api, course.lessons[1])
    clock.advance(5)
    assert report(cadre_api, short["session_id"], 1, 3, [[0, 3]]).json["lesson_completed"]
    course_page = page(cadre_api, f"/courses/{course.id}")
    assert "✓ 已完成" in course_page and "已完成 1/2 课时" in text(course_page)
    html = page(cadre_api, lesson_url(course, 1))
    assert re.search(r'class="badge badge-done" data-lesson-done>', html)  # not hidden


def test_my_learning_shows_the_course_in_progress_and_the_study_time(cadre_api, course, clock):
    empty = page(cadre_api, "/learning/")
    assert "还没有正在学习的课程" in empty

    watch(cadre_api, clock, course.lessons[0], 30)
    html = page(cadre_api, "/learning/")
    doing = text(section(html, "in-progress"))
    assert "新时代党的建设总要求" in doing
    assert "5 %" in doing and "已完成 0/2 课时" in doing and "累计学习 30 秒" in doing
    assert "最近学习 2026-11-23 10:00" in doing
    assert f'href="{lesson_url(course)}"' in section(html, "in-progress")  # 继续学习
    assert "还没有完成的课程" in section(html, "completed")
    assert "30 秒" in text(html[html.index('data-total="week"'):html.index('data-total="month"')])
    days = section(html, "days")
    assert days.count("<tr") == 31  # header + 30 days
    assert re.search(r"11-23 <span[^>]*>周一</span> <span[^>]*>今天</span></td>\s*<td class=\"num\">30 秒</td>", days)


def test_my_learning_lists_a_completed_course_with_its_date(app, cadre_api, course, clock):
    with app.app_context():
        db.session.get(Lesson, course.lessons[0]).video.duration = 30.0
        db.session.commit()
    watch(cadre_api, clock, course.lessons[0], 30)
    last = watch(cadre_api, clock, course.lessons[1], 3, step=3)
    assert last["course"]["completed_at"]
    html = page(cadre_api, "/learning/")
    done = text(section(html, "completed"))
    assert "新时代党的建设总要求" in done and "2026-11-23" in done
    assert "新时代党的建设总要求" not in text(section(html, "in-progress"))
    course_page = page(cadre_api, f"/courses/{course.id}")
    assert "已于 2026-11-23 完成本课程" in course_page


@pytest.mark.parametrize("who", ["org_api"])
def test_my_learning_is_for_cadres_only(request, who, course):
    api = request.getfixturevalue(who)
    r = api.get("/learning/")
    assert r.status_code == 403
    assert "只有学员" in r.get_data(as_text=True)
    home = page(api, "/")
    assert 'href="/learning/"' not in home


def test_my_learning_needs_a_login(app):
    r = app.test_client().get("/learning/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_cadre_pages_link_my_learning_and_report_activity(cadre_api, course, clock):
    home = page(cadre_api, "/")
    nav = re.search(r'<nav class="mainnav">(.*?)</nav>', home, re.S).group(1)
    assert 'href="/learning/"' in nav and "我的学习" in nav
    assert home.count('href="/learning/"') >= 2  # the nav and the home page's own link
    assert 'data-activity-url="/api/v1/me/activity"' in home
    assert cadre_api.post("/api/v1/me/activity").status_code == 204
