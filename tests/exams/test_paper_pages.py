"""The paper (论文) pages: a cadre submits through the form with a file, the organisation department
finds it in the review queue and approves it through the form, the cadre sees the credits and the
state; return and revision with the whole history on the page; downloads under a safe name; who
may see and review what; the settings page."""
from __future__ import annotations

import io
import os
import re
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from app.credits.models import CreditEntry
from app.exams import papers
from app.exams.models import Paper, PaperReviewer, PaperState
from app.extensions import db
from tests.catalogue.conftest import _cadre_login
from tests.conftest import ApiClient
from tests.credits.test_pages import page, section, text  # noqa: F401
from tests.exams.test_papers import BODY, PDF

pytestmark = pytest.mark.usefixtures("exam_course")


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def staff(app, login) -> ApiClient:
    c = ApiClient(app.test_client())
    assert c.login(login).status_code == 200
    return c


def in_db(app, fn):
    with app.app_context():
        return fn()


def the_paper(app) -> Paper:
    return in_db(app, lambda: db.session.scalar(select(Paper).order_by(Paper.id.desc())))


def stored_files(app) -> set[str]:
    folder = os.path.join(app.instance_path, "papers")
    return set(os.listdir(folder)) if os.path.isdir(folder) else set()


def submit_form(client, course_id, *, data=PDF, name="我的论文.pdf", title="学习新时代党的建设总要求的体会", body=""):
    html = page(client, f"/papers/new?course_id={course_id}")
    form = {"csrf_token": csrf(html), "course_id": str(course_id), "title": title, "body": body}
    if data is not None:
        form["file"] = (io.BytesIO(data), name)
    return client.c.post("/papers/new", data=form, content_type="multipart/form-data")


def review_form(client, paper_id, **fields):
    html = page(client, f"/papers/{paper_id}")
    version = re.search(r'<input[^>]*name="version"[^>]*value="(\d+)"', section(html, "review"))
    data = {"csrf_token": csrf(html), "version": version.group(1), **fields}
    return client.c.post(f"/papers/{paper_id}/review", data=data)


@pytest.fixture
def cadre_client(app, world, exam_course):
    return _cadre_login(app, world.wb_cadre)


def test_submit_with_a_file_review_in_the_queue_approve_and_the_cadre_sees_the_credits(
        app, world, exam_course, cadre_client):
    html = page(cadre_client, f"/papers/new?course_id={exam_course.id}")
    assert re.search(rf'<option selected value="{exam_course.id}">', html)
    assert "PDF" in text(html) and "10 MB" in text(html) and 'enctype="multipart/form-data"' in html
    r = submit_form(cadre_client, exam_course.id)
    assert r.status_code == 302
    paper = the_paper(app)
    assert r.headers["Location"].endswith(f"/papers/{paper.id}")
    assert paper.state == PaperState.SUBMITTED and paper.user_id == world.wb_cadre
    detail = page(cadre_client, f"/papers/{paper.id}")
    assert "我的论文.pdf" in detail and "等待评审" in text(detail) and 'id="review"' not in detail
    mine = text(section(page(cadre_client, "/papers/"), f"paper-{paper.id}"))
    assert "待评审" in mine and "新时代党的建设总要求" in mine and "第 1 版" in mine

    org = staff(app, "org")
    queue = page(org, "/papers/review")
    row = text(section(queue, f"paper-{paper.id}"))
    assert "李明" in row and "渭滨区财政局" in row and "新时代党的建设总要求" in row and "第 1 版" in row
    assert 'class="active"' in queue and "待评审 (1)" in text(queue)

    detail = page(org, f"/papers/{paper.id}")
    assert 'id="review"' in detail and f'value="{exam_course.credits}"' in section(detail, "review")
    r = review_form(org, paper.id, score="88", credits="10", comment="论述充分", approve="通过评审")
    assert r.status_code == 302
    detail = page(org, f"/papers/{paper.id}")
    assert "获得 10 学分" in text(detail)  # the flash: what the approval earned
    assert 'id="review"' not in detail

    mine = text(section(page(cadre_client, "/papers/"), f"paper-{paper.id}"))
    assert "已通过" in mine and "88" in mine and "+10" in mine
    result = text(section(page(cadre_client, f"/papers/{paper.id}"), "result"))
    assert "通过评审" in result and "88 分" in result and "获得 10 学分" in result
    assert in_db(app, lambda: db.session.scalar(select(func.count()).select_from(CreditEntry)
                                                .where(CreditEntry.source_type == "course_credits"))) == 1


def test_a_non_pdf_named_pdf_is_refused_by_the_form_and_nothing_is_stored(app, exam_course, cadre_client):
    before = stored_files(app)
    r = submit_form(cadre_client, exam_course.id, data=b"<html><script>alert(1)</script></html>", name="x.pdf")
    assert r.status_code == 400
    assert "按文件内容判断" in text(r.get_data(as_text=True))
    assert stored_files(app) == before
    assert the_paper(app) is None


def test_the_download_has_a_safe_name_and_the_content(app, exam_course, cadre_client):
    submit_form(cadre_client, exam_course.id, name="../../我的 论文<script>.pdf")
    paper = the_paper(app)
    for client in (cadre_client, staff(app, "org"), staff(app, "wbadmin")):
        r = client.get(f"/papers/{paper.id}/versions/1/file")
        assert r.status_code == 200
        assert r.data == PDF and r.mimetype == "application/pdf"
        disposition = r.headers["Content-Disposition"]
        assert disposition.startswith("attachment")
        name = unquote(re.search(r"filename\*=UTF-8''(\S+)", disposition).group(1))
        assert name == "我的 论文_script.pdf"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert staff(app, "jtadmin").get(f"/papers/{paper.id}/versions/1/file").status_code == 404
    assert cadre_client.get(f"/papers/{paper.id}/versions/2/file").status_code == 404


def test_return_revise_and_approve_show_every_version_and_decision(app, world, exam_course, cadre_client):
    submit_form(cadre_client, exam_course.id, name="初稿.pdf")
    paper = the_paper(app)
    org = staff(app, "org")
    # returning needs a comment
    r = review_form(org, paper.id, comment="", send_back="退回修改")
    assert r.status_code == 400 and "请写明修改意见" in text(r.get_data(as_text=True))
    assert the_paper(app).state == PaperState.SUBMITTED
    assert review_form(org, paper.id, comment="请结合本单位实际补充案例", send_back="退回修改").status_code == 302

    html = page(cadre_client, f"/papers/{paper.id}")
    assert "请结合本单位实际补充案例" in text(section(html, "result"))
    revise = section(html, "revise")
    assert "学习新时代党的建设总要求的体会" in revise
    r = cadre_client.c.post(f"/papers/{paper.id}/revise", data={
        "csrf_token": csrf(html), "title": "学习新时代党的建设总要求的体会(修改稿)", "body": BODY},
        content_type="multipart/form-data")
    assert r.status_code == 302
    assert review_form(org, paper.id, score="91", credits="9", approve="通过评审").status_code == 302

    html = page(cadre_client, f"/papers/{paper.id}")
    history = text(section(html, "history"))
    for words in ("提交第 1 版", "第 1 版退回修改", "请结合本单位实际补充案例", "提交第 2 版", "第 2 版通过评审", "91 分",
                  "9 学分", "组织部"):
        assert words in history, words
    assert history.index("提交第 1 版") < history.index("第 1 版退回修改") < history.index("提交第 2 版") \
        < history.index("第 2 版通过评审")
    versions = section(html, "versions")
    assert "初稿.pdf" in versions and f"/papers/{paper.id}/versions/1/file" in versions
    assert BODY[:30] in text(section(html, "current"))
    assert "获得 9 学分" in text(section(html, "result"))


def test_a_stale_review_form_is_refused_and_changes_nothing(app, world, exam_course, cadre_client):
    submit_form(cadre_client, exam_course.id)
    paper = the_paper(app)
    org = staff(app, "org")
    stale = page(org, f"/papers/{paper.id}")
    review_form(org, paper.id, comment="请修改", send_back="退回修改")
    html = page(cadre_client, f"/papers/{paper.id}")
    cadre_client.c.post(f"/papers/{paper.id}/revise", data={"csrf_token": csrf(html), "title": "修改稿", "body": BODY},
                        content_type="multipart/form-data")
    # the reviewer's old page still says version 1
    r = org.c.post(f"/papers/{paper.id}/review", data={"csrf_token": csrf(stale), "version": "1", "score": "90",
                                                       "credits": "10", "approve": "通过评审"})
    assert r.status_code == 302
    assert "第 2 版" in text(page(org, f"/papers/{paper.id}"))
    assert the_paper(app).state == PaperState.SUBMITTED
    assert in_db(app, lambda: db.session.scalar(select(func.count()).select_from(CreditEntry))) == 0


def test_the_new_form_says_when_the_courses_credits_were_already_earned(app, world, exam_course, cadre_client):
    html = page(cadre_client, f"/papers/new?course_id={exam_course.id}")
    assert 'id="already-earned"' not in html

    def give():
        from app.credits import services as credits
        from app.catalogue.models import Course
        from datetime import datetime, timezone

        credits.award_course_credits(world.wb_cadre, db.session.get(Course, exam_course.id), via="exam", via_id=1,
                                     earned_at=datetime(2026, 11, 2, tzinfo=timezone.utc))
        db.session.commit()

    in_db(app, give)
    html = page(cadre_client, f"/papers/new?course_id={exam_course.id}")
    assert "不再重复计分" in text(section(html, "already-earned"))
    assert "(学分已获得)" in html


def test_a_second_paper_for_the_same_course_is_refused_on_the_form(app, exam_course, cadre_client):
    assert submit_form(cadre_client, exam_course.id).status_code == 302
    paper = the_paper(app)
    html = page(cadre_client, f"/papers/new?course_id={exam_course.id}")
    assert f'href="/papers/{paper.id}"' in section(html, "live-paper") and "(已有论文在评审中)" in html
    r = submit_form(cadre_client, exam_course.id, title="第二篇")
    assert r.status_code == 409 and "已有待评审或退回修改的论文" in text(r.get_data(as_text=True))


def test_the_cadre_withdraws_a_waiting_paper(app, exam_course, cadre_client):
    submit_form(cadre_client, exam_course.id)
    paper = the_paper(app)
    html = page(cadre_client, f"/papers/{paper.id}")
    r = cadre_client.c.post(f"/papers/{paper.id}/withdraw", data={"csrf_token": csrf(html)})
    assert r.status_code == 302 and the_paper(app).state == PaperState.WITHDRAWN
    assert "作者撤回" in text(section(page(cadre_client, f"/papers/{paper.id}"), "history"))


def test_who_sees_the_queue_and_who_reviews(app, world, exam_course, cadre_client):
    submit_form(cadre_client, exam_course.id)
    paper = the_paper(app)
    page(cadre_client, "/papers/review", 403)
    page(cadre_client, "/papers/settings", 403)
    r = cadre_client.c.post(f"/papers/{paper.id}/review", data={"csrf_token": cadre_client.csrf, "version": "1",
                                                                "score": "100", "approve": "通过评审"})
    assert r.status_code == 403

    wb = staff(app, "wbadmin")  # not a reviewer: reads the papers of the district
    assert f"paper-{paper.id}" in page(wb, "/papers/review")
    html = page(wb, f"/papers/{paper.id}")
    assert 'id="review"' not in html and "仅供查看" in text(page(wb, "/papers/review"))
    jt = staff(app, "jtadmin")
    assert f"paper-{paper.id}" not in page(jt, "/papers/review")
    page(jt, f"/papers/{paper.id}", 404)

    def appoint():
        from app.accounts.models import User

        papers.appoint_reviewer(db.session.get(User, world.orgadmin), db.session.get(User, world.jt_admin))
        db.session.commit()

    in_db(app, appoint)
    assert f"paper-{paper.id}" in page(jt, "/papers/review")
    assert "指定的论文评审人" in text(page(jt, "/papers/review"))
    assert review_form(jt, paper.id, score="80", approve="通过评审").status_code == 302
    assert the_paper(app).state == PaperState.APPROVED
    assert the_paper(app).credits == exam_course.credits  # the default


def test_the_queue_sits_under_credit_administration(app, world, exam_course, cadre_client):
    html = page(staff(app, "wbview"), "/papers/review")
    tabs = re.search(r'<nav class="tabs credit-tabs".*?</nav>', html, re.S).group(0)
    assert 'href="/papers/review" class="active"' in tabs and "学分考核" in text(tabs)
    # a staff member on /papers/ lands on the queue
    assert staff(app, "org").get("/papers/").headers["Location"].endswith("/papers/review")


def test_settings_free_topic_and_reviewers(app, world, exam_course, cadre_client):
    org = staff(app, "org")
    html = page(org, "/papers/settings")
    assert 'class="active"' in re.search(r'<nav class="tabs credit-tabs".*?</nav>', html, re.S).group(0)
    r = org.c.post("/papers/settings", data={"csrf_token": csrf(html), "free_topic": "y", "free_topic_credits": "6"})
    assert r.status_code == 302
    r = org.c.post("/papers/settings", data={"csrf_token": csrf(html), "free_topic": "y", "free_topic_credits": "99"})
    assert r.status_code == 400
    assert in_db(app, lambda: (papers.policy().free_topic, papers.policy().free_topic_credits)) == (True, 6)

    # the cadre may now choose a free topic
    html = page(cadre_client, "/papers/new")
    assert 'value="free"' in html and "默认 6 学分" in text(html)
    r = cadre_client.c.post("/papers/new", data={"csrf_token": csrf(html), "course_id": "free",
                                                 "title": "关于优化营商环境的调研报告", "body": BODY})
    assert r.status_code == 302
    paper = the_paper(app)
    assert paper.course_id is None
    detail = page(org, f"/papers/{paper.id}")
    assert "自选题目" in text(detail) and 'value="6"' in section(detail, "review")

    # appoint by username, refuse a cadre's or an unknown account, remove
    html = page(org, "/papers/settings")
    r = org.c.post("/papers/settings/reviewers", data={"csrf_token": csrf(html), "username": "nobody"})
    assert r.status_code == 400 and "只能指定在用的管理人员账号" in text(r.get_data(as_text=True))
    assert org.c.post("/papers/settings/reviewers", data={"csrf_token": csrf(html),
                                                          "username": "wbadmin"}).status_code == 302
    html = page(org, "/papers/settings")
    assert "渭滨管理员" in text(section(html, f"reviewer-{world.wb_admin}"))
    assert org.c.post(f"/papers/settings/reviewers/{world.wb_admin}/remove",
                      data={"csrf_token": csrf(html)}).status_code == 302
    assert in_db(app, lambda: db.session.get(PaperReviewer, world.wb_admin)) is None
    page(staff(app, "wbadmin"), "/papers/settings", 403)
