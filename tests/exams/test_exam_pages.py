"""The cadre's exam pages: the start page with its rules and blocked reasons, the exam page (no
answers in its HTML, saved answers shown), handing in by a plain form post (graded; late answers
not counted), the result page (explanations only after a pass), 考试与论文 and the course page's
exam panel; staff cannot sit exams."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from app.credits.models import CreditEntry
from app.exams.models import AttemptEnd, ExamAttempt, ExamSetting
from app.extensions import db
from tests.catalogue.conftest import _cadre_login
from tests.conftest import ApiClient
from tests.exams.conftest import BANK, right_answers, wrong_answers


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def page(client, url, status=200) -> str:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code)
    return r.get_data(as_text=True)


def in_db(app, fn):
    with app.app_context():
        return fn()


def attempts_of(app, user_id: int) -> list[int]:
    return in_db(app, lambda: list(db.session.scalars(
        select(ExamAttempt.id).where(ExamAttempt.user_id == user_id).order_by(ExamAttempt.id))))


def begin(client, course_id: int) -> int:
    r = client.post(f"/exams/courses/{course_id}/begin")
    assert r.status_code == 302, r.status_code
    m = re.search(r"/exams/attempts/(\d+)$", r.headers["Location"])
    assert m, r.headers["Location"]
    return int(m.group(1))


def answers_of(app, attempt_id: int, which) -> dict[str, str]:
    return in_db(app, lambda: which(db.session.get(ExamAttempt, attempt_id)))


def as_form(answers: dict[str, str | None]) -> list[tuple[str, str]]:
    """{position: letters} → the form fields a browser posts: q1=B, q2=A, q2=C, …"""
    return [(f"q{pos}", letter) for pos, letters in answers.items() for letter in (letters or "")]


def hand_in(client, attempt_id: int, answers: dict[str, str | None]):
    from werkzeug.datastructures import MultiDict

    r = client.post(f"/exams/attempts/{attempt_id}/submit", data=MultiDict(as_form(answers)))
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/exams/attempts/{attempt_id}")
    return r


@pytest.fixture
def li(app, world, exam_course, clock) -> ApiClient:
    """李明, who completed the exam course, logged in."""
    return _cadre_login(app, world.wb_cadre)


EXPLANATIONS = [f"解析{n}" for n in range(1, len(BANK) + 1)]


def test_the_open_exam_page_shows_the_paper_and_no_answers(app, li, exam_course):
    attempt_id = begin(li, exam_course.id)
    html = page(li, f"/exams/attempts/{attempt_id}")
    stems = in_db(app, lambda: [i.question.stem for i in db.session.get(ExamAttempt, attempt_id).items])
    for n, stem in enumerate(stems, start=1):
        assert stem in html
        assert f'id="q{n}"' in html and f'href="#q{n}"' in html  # the question and its navigator entry
    # 4 single + 3 multiple choice at most, grouped and numbered as a paper is printed
    assert "一、单选题" in html and 'type="checkbox"' in html and 'value="T"' in html
    # nothing of the answers: no explanation, no answer attribute, no correctness
    for e in EXPLANATIONS:
        assert e not in html
    assert not re.search(r'data-(answers?|correct|right|explanation)[=\s>]', html)
    assert "正确答案" not in html and "rq-explain" not in html
    # the clock comes from the server, the saves go to the API
    left = int(re.search(r'data-seconds-left="(\d+)"', html).group(1))
    assert 30 * 60 - 5 <= left <= 30 * 60
    assert f'data-save-url="/api/v1/exam-attempts/{attempt_id}/answers"' in html
    assert "作答后自动保存" in html and "已答 0 / 10" in text(html)


def test_saved_answers_are_checked_when_the_page_is_opened_again(app, li, exam_course, clock):
    attempt_id = begin(li, exam_course.id)
    right = answers_of(app, attempt_id, right_answers)
    saved = {"1": right["1"], "2": right["2"]}
    assert li.put(f"/api/v1/exam-attempts/{attempt_id}/answers", json={"answers": saved}).status_code == 200
    html = page(li, f"/exams/attempts/{attempt_id}")
    checked = re.findall(r'name="q(\d+)" value="(\w)" checked', html)
    assert sorted(checked) == sorted((p, letter) for p, letters in saved.items() for letter in letters)
    assert "已答 2 / 10" in text(html)
    assert re.search(r"已保存 \d\d:\d\d:\d\d", html)  # the server's time of the last save (10:00 in Beijing)
    assert "已保存 10:00:00" in html


def test_begin_resumes_the_open_attempt(app, li, exam_course, world):
    first = begin(li, exam_course.id)
    assert begin(li, exam_course.id) == first
    assert attempts_of(app, world.wb_cadre) == [first]
    assert "已为您继续" in page(li, f"/exams/attempts/{first}")
    start = page(li, f"/exams/courses/{exam_course.id}")
    assert "继续考试" in start and f'href="/exams/attempts/{first}"' in start


def test_the_start_page_states_the_rules(li, exam_course):
    html = text(page(li, f"/exams/courses/{exam_course.id}"))
    for phrase in ("10 道题", "30 分钟", "60 分合格", "单选题、多选题、判断题", "每天 3 次", "共 5 次",
                   "今天已考 0 次,今天还可考 3 次", "累计已考 0 次,还可考 5 次", "以服务器时间为准",
                   "自动保存", "超过截止时间提交的答案不计入", "首次考试合格获得本课程 10 学分",
                   "考试合格后可查看每道题的正确答案和解析", "以论文代替"):
        assert phrase in html, phrase
    assert 'action="/exams/courses/%d/begin"' % exam_course.id in page(li, f"/exams/courses/{exam_course.id}")


def test_handing_in_by_form_grades_and_the_pass_shows_answers_and_credits(app, li, exam_course, world):
    attempt_id = begin(li, exam_course.id)
    right = answers_of(app, attempt_id, right_answers)
    assert any(len(v) > 1 for v in right.values())  # a multiple-choice answer goes as q2=A&q2=C
    hand_in(li, attempt_id, right)

    def state():
        a = db.session.get(ExamAttempt, attempt_id)
        return a.end, a.score, a.passed, a.entry.credits if a.entry else None

    assert in_db(app, state) == (AttemptEnd.SUBMITTED, 100, True, 10)
    html = page(li, f"/exams/attempts/{attempt_id}")
    t = text(html)
    assert "100 分" in t and "合格" in t and "10 / 10 题" in t
    assert "+10 考试合格,获得本课程 10 学分,已记入学分档案" in t
    shown = in_db(app, lambda: [i.question.explanation for i in db.session.get(ExamAttempt, attempt_id).items])
    for e in shown:
        assert e in html
    assert t.count("正确答案:") == 10 and "✓ 正确" in t and "✗ 错误" not in t
    assert 'href="/credits/"' in html  # 查看我的学分
    # a second form post of the same paper changes nothing
    hand_in(li, attempt_id, answers_of(app, attempt_id, wrong_answers))
    assert in_db(app, state) == (AttemptEnd.SUBMITTED, 100, True, 10)


def test_a_failed_result_shows_right_and_wrong_but_no_answers(app, li, exam_course):
    attempt_id = begin(li, exam_course.id)
    hand_in(li, attempt_id, answers_of(app, attempt_id, wrong_answers))
    html = page(li, f"/exams/attempts/{attempt_id}")
    t = text(html)
    assert "0 分" in t and "不合格" in t and "未达到 60 分合格线,本次不计学分" in t
    for e in EXPLANATIONS:
        assert e not in html
    assert "正确答案:" not in t and 'opt-tag right' not in html and "考试合格后才显示正确答案和解析" in t
    assert t.count("✗ 错误") == 10
    assert "再考一次" in t  # 2 attempts left today


def test_a_pass_without_show_answers_hides_them(app, li, exam_course):
    def hide():
        db.session.get(ExamSetting, exam_course.id).show_answers_after_pass = False
        db.session.commit()

    in_db(app, hide)
    attempt_id = begin(li, exam_course.id)
    hand_in(li, attempt_id, answers_of(app, attempt_id, right_answers))
    html = page(li, f"/exams/attempts/{attempt_id}")
    assert "合格" in html and "本课程不公布正确答案" in html
    for e in EXPLANATIONS:
        assert e not in html


def test_a_late_form_submission_counts_only_what_was_saved(app, li, exam_course, clock):
    attempt_id = begin(li, exam_course.id)
    right = answers_of(app, attempt_id, right_answers)
    saved = {k: right[k] for k in ("1", "2", "3", "4", "5")}
    assert li.put(f"/api/v1/exam-attempts/{attempt_id}/answers", json={"answers": saved}).status_code == 200
    clock.advance(30 * 60 + app.config["EXAM_GRACE_SECONDS"] + 1)
    hand_in(li, attempt_id, right)  # all ten right, but too late
    html = page(li, f"/exams/attempts/{attempt_id}")
    t = text(html)
    assert "本次提交的答案未计入" in t  # the flash
    assert "已按截止时保存的答案评分" in t  # the result's deadline notice
    assert in_db(app, lambda: (lambda a: (a.end, a.score, a.correct_count))(db.session.get(ExamAttempt, attempt_id))) \
        == (AttemptEnd.DEADLINE, 50, 5)
    assert "50 分" in t and "不合格" in t


def test_answers_posted_within_the_grace_still_count(app, li, exam_course, clock):
    attempt_id = begin(li, exam_course.id)
    clock.advance(30 * 60 + 2)  # the page submitted itself at 0; the request arrived 2 s later
    hand_in(li, attempt_id, answers_of(app, attempt_id, right_answers))
    assert in_db(app, lambda: db.session.get(ExamAttempt, attempt_id).score) == 100


def test_an_open_attempt_past_its_deadline_opens_as_its_result(app, li, exam_course, clock):
    attempt_id = begin(li, exam_course.id)
    right = answers_of(app, attempt_id, right_answers)
    li.put(f"/api/v1/exam-attempts/{attempt_id}/answers", json={"answers": {"1": right["1"]}})
    clock.advance(31 * 60)
    t = text(page(li, f"/exams/attempts/{attempt_id}"))
    assert "10 分" in t and "已按截止时保存的答案评分" in t
    assert in_db(app, lambda: db.session.get(ExamAttempt, attempt_id).closed_at) is not None


def test_a_bad_answer_in_the_form_is_refused_and_the_exam_stays_open(app, li, exam_course):
    attempt_id = begin(li, exam_course.id)
    r = li.post(f"/exams/attempts/{attempt_id}/submit", data={"q1": "Z"})
    assert r.status_code == 302
    html = page(li, f"/exams/attempts/{attempt_id}")
    assert "第 1 题" in html and 'id="exam-form"' in html  # the message, and still the exam page
    assert in_db(app, lambda: db.session.get(ExamAttempt, attempt_id).closed_at) is None


def test_blocked_reasons_are_shown_and_no_attempt_starts(app, world, exam_course, clock):
    wang = _cadre_login(app, world.jt_cadre)  # has not completed the course
    html = page(wang, f"/exams/courses/{exam_course.id}")
    assert "学完本课程全部课时后才能参加考试" in html and "去学习课程" in html
    assert "/begin" not in html
    r = wang.post(f"/exams/courses/{exam_course.id}/begin")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/exams/courses/{exam_course.id}")
    assert "学完本课程全部课时后才能参加考试" in page(wang, r.headers["Location"])
    assert attempts_of(app, world.jt_cadre) == []
    course = page(wang, f"/courses/{exam_course.id}")
    assert "学完本课程全部课时后才能参加考试" in course and ">参加考试<" not in course


def test_the_day_s_attempts_used_up_are_said_on_the_start_page(app, li, exam_course, world):
    def one_a_day():
        db.session.get(ExamSetting, exam_course.id).attempts_per_day = 1
        db.session.commit()

    in_db(app, one_a_day)
    attempt_id = begin(li, exam_course.id)
    hand_in(li, attempt_id, answers_of(app, attempt_id, wrong_answers))
    html = text(page(li, f"/exams/courses/{exam_course.id}"))
    assert "今天的次数已用完" in html and "今天已考 1 次,今天还可考 0 次" in html
    assert "第 1 次" in html and "不合格" in html  # the course's attempts
    result = text(page(li, f"/exams/attempts/{attempt_id}"))
    assert "再考一次" not in result and "今天的次数已用完" in result
    assert li.post(f"/exams/courses/{exam_course.id}/begin").status_code == 302
    assert attempts_of(app, world.wb_cadre) == [attempt_id]


def test_staff_cannot_sit_exams(app, world, exam_course, clock):
    org = ApiClient(app.test_client())
    assert org.login("org").status_code == 200
    for url in ("/exams/", f"/exams/courses/{exam_course.id}"):
        assert "考试页面仅供学员使用" in page(org, url, 403)
    assert org.post(f"/exams/courses/{exam_course.id}/begin").status_code == 403
    assert in_db(app, lambda: db.session.scalar(select(func.count()).select_from(ExamAttempt))) == 0
    course = page(org, f"/courses/{exam_course.id}")
    assert 'id="exam-panel"' not in course and "随机抽取 10 题" in course


def test_someone_else_s_attempt_is_not_found(app, li, world, exam_course):
    attempt_id = begin(li, exam_course.id)
    wang = _cadre_login(app, world.jt_cadre)
    page(wang, f"/exams/attempts/{attempt_id}", 404)
    assert wang.post(f"/exams/attempts/{attempt_id}/submit", data={"q1": "A"}).status_code == 404
    assert in_db(app, lambda: db.session.get(ExamAttempt, attempt_id).closed_at) is None


def test_my_exams_lists_open_courses_and_attempts_with_credits(app, li, exam_course):
    html = page(li, "/exams/")
    opened = text(re.search(r'<section class="panel" id="open-exams">.*?</section>', html, re.S).group(0))
    assert "新时代党的建设总要求" in opened and "参加考试" in opened
    assert "还没有参加过考试" in html

    failed = begin(li, exam_course.id)
    hand_in(li, failed, answers_of(app, failed, wrong_answers))
    passed = begin(li, exam_course.id)
    hand_in(li, passed, answers_of(app, passed, right_answers))
    html = page(li, "/exams/")
    rows = re.findall(r"<tr>.*?</tr>", re.search(r'id="attempts".*?</table>', html, re.S).group(0), re.S)[1:]
    assert [text(r) for r in rows] == [
        "新时代党的建设总要求 第 2 次 2026-11-23 10:00 100 合格 +10 查看成绩",
        "新时代党的建设总要求 第 1 次 2026-11-23 10:00 0 不合格 0 查看成绩",
    ]
    assert f'href="/exams/attempts/{passed}"' in html
    opened = text(re.search(r'id="open-exams".*?</section>', html, re.S).group(0))
    assert "目前没有待参加的考试" in opened  # passed: no longer offered


def test_an_open_attempt_is_continued_from_my_exams(app, li, exam_course):
    attempt_id = begin(li, exam_course.id)
    html = page(li, "/exams/")
    assert html.count(f'href="/exams/attempts/{attempt_id}"') == 2  # the course's row and the attempt's
    assert "继续考试" in html and "进行中" in html


def test_the_course_page_exam_panel_follows_the_cadre(app, li, exam_course):
    panel = lambda: text(re.search(r'<div class="exam-panel[^"]*" id="exam-panel">.*?</div>\s*</div>',  # noqa: E731
                                   page(li, f"/courses/{exam_course.id}"), re.S).group(0))
    t = panel()
    assert "考试已开放" in t and "参加考试" in t and "提交论文" in t
    attempt_id = begin(li, exam_course.id)
    t = panel()
    assert "继续考试" in t and "第 1 次考试尚未交卷" in t
    hand_in(li, attempt_id, answers_of(app, attempt_id, right_answers))
    t = panel()
    assert "已获得本课程 10 学分" in t and "考试合格" in t and "最高 100 分" in t and "再次参加考试" in t
    assert "提交论文" not in t  # the course's credits are earned
    assert in_db(app, lambda: db.session.scalar(select(func.count()).select_from(CreditEntry).where(
        CreditEntry.source_type == "course_credits"))) == 1


def test_a_second_pass_earns_nothing_more_and_says_so(app, li, exam_course):
    first = begin(li, exam_course.id)
    hand_in(li, first, answers_of(app, first, right_answers))
    second = begin(li, exam_course.id)
    hand_in(li, second, answers_of(app, second, right_answers))
    t = text(page(li, f"/exams/attempts/{second}"))
    assert "考试合格。本课程学分已于 2026-11-23 获得,不重复计分" in t and "+10" not in t
