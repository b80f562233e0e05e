"""Papers (论文), service level: files checked by their content and stored outside the web root,
one live paper per course, review with score and credits or return with comments, revisions that
keep every version and decision, the course's credits earned once whether by exam or by paper,
free topics under the organisation department's policy, appointed reviewers and scope."""
from __future__ import annotations

import io
import os
import zipfile

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.accounts.models import User
from app.credits.models import CreditEntry
from app.errors import Conflict, Invalid, NotFound, PermissionDenied, RuleViolation
from app.exams import papers
from app.exams import services as exams
from app.exams.models import Paper, PaperDecision, PaperState
from app.extensions import db
from app.notifications.models import Notification
from tests.exams.conftest import right_answers

BODY = "本文结合本单位基层党组织建设的实际,谈谈学习新时代党的建设总要求的体会。" * 8  # > 200 characters
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64 + b"This program cannot be run in DOS mode"


def docx_bytes(text: str = "论文正文") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                                           'package/2006/content-types"/>')
        zf.writestr("word/document.xml", f'<?xml version="1.0"?><w:document><w:body><w:p><w:r><w:t>{text}'
                                         f'</w:t></w:r></w:p></w:body></w:document>')
    return buf.getvalue()


def upload(data: bytes, name: str) -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=name)


def stored_files(app) -> set[str]:
    folder = os.path.join(app.instance_path, "papers")
    return set(os.listdir(folder)) if os.path.isdir(folder) else set()


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def user(user_id: int) -> User:
    return db.session.get(User, user_id)


def submit(cadre, course_id, *, file=None, name="论文.pdf", title="学习新时代党的建设总要求的体会", body=BODY):
    with papers.paper_upload(upload(file, name) if file is not None else None) as stored:
        paper = papers.submit_paper(cadre, course_id=course_id, title=title, body=body if file is None else "",
                                    stored=stored)
        db.session.flush()
    return paper


def course_entries(user_id: int, course_id: int) -> list[CreditEntry]:
    return list(db.session.scalars(select(CreditEntry).where(
        CreditEntry.user_id == user_id, CreditEntry.source_type == "course_credits", CreditEntry.source_id == course_id)))


def pass_exam(cadre, course_id):
    attempt, _created = exams.start_attempt(cadre, course_id)
    exams.save_answers(cadre, attempt.id, right_answers(attempt))
    return exams.submit_attempt(cadre, attempt.id).attempt


@pytest.fixture
def org(app, world, cadre):
    return user(world.orgadmin)


# --- files ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [HTML, EXE, b"PK\x03\x04not really a zip"], ids=["html", "exe", "broken-zip"])
def test_a_file_that_is_not_a_pdf_but_named_pdf_is_refused_and_nothing_is_stored(app, exam_course, cadre, data):
    before = stored_files(app)
    with pytest.raises(Invalid) as err:
        submit(cadre, exam_course.id, file=data, name="x.pdf")
    assert err.value.field == "file"
    assert stored_files(app) == before
    assert count(Paper) == 0


def test_a_text_file_renamed_to_pdf_is_refused_with_the_reason(app, exam_course, cadre):
    with pytest.raises(Invalid) as err:
        submit(cadre, exam_course.id, file=BODY.encode(), name="论文.pdf")
    assert ".pdf" in err.value.message and "纯文本" in err.value.message
    assert count(Paper) == 0


@pytest.mark.parametrize("name", ["论文.doc", "论文.html", "论文"])
def test_a_name_outside_pdf_docx_txt_is_refused(app, exam_course, cadre, name):
    with pytest.raises(Invalid):
        submit(cadre, exam_course.id, file=PDF, name=name)


@pytest.mark.parametrize("data,name,ext", [
    (PDF, "论文.pdf", ".pdf"),
    (docx_bytes(), "论文.DOCX", ".docx"),
    (BODY.encode("utf-8"), "论文.txt", ".txt"),
], ids=["pdf", "docx", "utf8-txt"])
def test_pdf_docx_and_utf8_text_are_accepted_and_stored_as_sent(app, exam_course, cadre, data, name, ext):
    before = stored_files(app)
    paper = submit(cadre, exam_course.id, file=data, name=name)
    v = paper.current
    assert v.file_name == "论文" + ext and v.file_path.endswith(ext) and v.file_size == len(data)
    assert stored_files(app) - before == {v.file_path}
    with open(os.path.join(app.instance_path, "papers", v.file_path), "rb") as fh:
        assert fh.read() == data


def test_gb18030_text_is_accepted_and_stored_as_utf8(app, exam_course, cadre):
    text = "关于加强基层党组织建设的思考\r\n" + BODY
    paper = submit(cadre, exam_course.id, file=text.encode("gb18030"), name="思考.txt")
    with open(os.path.join(app.instance_path, "papers", paper.current.file_path), "rb") as fh:
        assert fh.read().decode("utf-8") == text


def test_an_oversize_file_is_refused(app, exam_course, cadre, monkeypatch):
    monkeypatch.setitem(app.config, "PAPER_MAX_BYTES", 1024 * 1024)
    before = stored_files(app)
    with pytest.raises(Invalid) as err:
        submit(cadre, exam_course.id, file=PDF + b"0" * (1024 * 1024), name="big.pdf")
    assert "1 MB" in err.value.message
    assert stored_files(app) == before and count(Paper) == 0


def test_a_refused_submission_removes_the_file_it_stored(app, exam_course, cadre):
    submit(cadre, exam_course.id)
    before = stored_files(app)
    with pytest.raises(Conflict):
        submit(cadre, exam_course.id, file=PDF, name="again.pdf")  # stored, then the service refuses
    assert stored_files(app) == before


def test_without_a_file_the_body_must_be_long_enough(app, exam_course, cadre):
    with pytest.raises(Invalid) as err:
        submit(cadre, exam_course.id, body="太短了")
    assert err.value.field == "body"
    with pytest.raises(Invalid) as err:
        submit(cadre, exam_course.id, title="x")
    assert err.value.field == "title"


# --- credits: once per course, by exam or by paper -----------------------------------------------------

def test_a_paper_approved_after_the_exam_was_passed_earns_nothing_more(app, world, exam_course, cadre, clock, org):
    attempt = pass_exam(cadre, exam_course.id)
    assert attempt.passed and attempt.entry_id is not None
    paper = submit(cadre, exam_course.id)
    reviewed = papers.review_paper(org, paper.id, approve=True, score=88, version=1)
    assert reviewed.earned == 0
    assert "此前已经获得" in reviewed.message and "不重复计分" in reviewed.message
    assert paper.state == PaperState.APPROVED and paper.entry_id is None and paper.credits == exam_course.credits
    entries = course_entries(world.wb_cadre, exam_course.id)
    assert len(entries) == 1 and entries[0].details["via"] == "exam" and entries[0].credits == exam_course.credits


def test_an_exam_passed_after_the_paper_was_approved_earns_nothing(app, world, exam_course, cadre, clock, org):
    paper = submit(cadre, exam_course.id)
    reviewed = papers.review_paper(org, paper.id, approve=True, score=90, credits_=8, version=1)
    assert reviewed.earned == 8 and paper.entry_id is not None and "获得 8 学分" in reviewed.message
    clock.advance(3600)
    attempt = pass_exam(cadre, exam_course.id)
    assert attempt.passed and attempt.entry_id is None
    result = exams.earned(attempt)
    assert result.credits == 0 and "通过论文获得" in result.message
    entries = course_entries(world.wb_cadre, exam_course.id)
    assert len(entries) == 1 and entries[0].credits == 8 and entries[0].details == {
        "course_id": exam_course.id, "via": "paper", "via_id": paper.id}


def test_approval_credits_default_to_the_course_and_cannot_exceed_it(app, world, exam_course, cadre, org):
    paper = submit(cadre, exam_course.id)
    assert papers.default_credits(paper) == papers.max_credits(paper) == exam_course.credits
    with pytest.raises(Invalid) as err:
        papers.review_paper(org, paper.id, approve=True, score=80, credits_=exam_course.credits + 1)
    assert err.value.field == "credits"
    with pytest.raises(Invalid) as err:
        papers.review_paper(org, paper.id, approve=True, score=101)
    assert err.value.field == "score"
    assert paper.state == PaperState.SUBMITTED and count(CreditEntry) == 0
    reviewed = papers.review_paper(org, paper.id, approve=True, score=75)
    assert reviewed.earned == exam_course.credits


# --- the workflow -------------------------------------------------------------------------------------

def test_return_revise_approve_keeps_both_versions_and_both_decisions(app, world, exam_course, cadre, clock, org):
    paper = submit(cadre, exam_course.id, file=PDF, name="初稿.pdf")
    with pytest.raises(Invalid) as err:
        papers.review_paper(org, paper.id, approve=False, comment="")
    assert err.value.field == "comment"
    papers.review_paper(org, paper.id, approve=False, comment="请补充本单位的具体做法", version=1)
    assert paper.state == PaperState.RETURNED and papers.allowed_actions(cadre, paper) == {"revise", "withdraw"}
    clock.advance(86400)
    papers.revise_paper(cadre, paper.id, title="学习新时代党的建设总要求的体会(修改稿)", body=BODY + "补充了具体做法。",
                        stored=None)
    assert paper.state == PaperState.SUBMITTED and paper.version == 2
    papers.review_paper(org, paper.id, approve=True, score=92, version=2, comment="修改到位")
    db.session.expire_all()
    paper = db.session.get(Paper, paper.id)
    assert [(v.number, v.file_name, v.title) for v in paper.versions] == [
        (1, "初稿.pdf", "学习新时代党的建设总要求的体会"), (2, None, "学习新时代党的建设总要求的体会(修改稿)")]
    assert [(r.version, r.decision, r.score, r.comment) for r in paper.reviews] == [
        (1, PaperDecision.RETURN, None, "请补充本单位的具体做法"), (2, PaperDecision.APPROVE, 92, "修改到位")]
    assert paper.title.endswith("(修改稿)") and paper.entry_id is not None


def test_only_a_returned_paper_can_be_revised(app, exam_course, cadre):
    paper = submit(cadre, exam_course.id)
    with pytest.raises(Conflict):
        papers.revise_paper(cadre, paper.id, title="新题目", body=BODY, stored=None)


def test_a_second_live_paper_for_the_same_course_conflicts(app, world, exam_course, cadre, org):
    first = submit(cadre, exam_course.id)
    with pytest.raises(Conflict) as err:
        submit(cadre, exam_course.id, title="另一篇")
    assert err.value.code == "paper_exists"
    papers.review_paper(org, first.id, approve=False, comment="请修改")
    with pytest.raises(Conflict):
        submit(cadre, exam_course.id, title="另一篇")  # a returned paper is still live
    papers.withdraw_paper(cadre, first.id)
    assert first.state == PaperState.WITHDRAWN
    second = submit(cadre, exam_course.id, title="重新写的一篇")
    assert second.id != first.id and count(Paper) == 2


def test_a_decided_paper_cannot_be_withdrawn(app, exam_course, cadre, org):
    paper = submit(cadre, exam_course.id)
    papers.review_paper(org, paper.id, approve=True, score=80)
    with pytest.raises(Conflict):
        papers.withdraw_paper(cadre, paper.id)


def test_a_course_that_does_not_accept_papers_refuses_them(app, exam_course, cadre):
    exams.get_setting(exam_course.id).papers_allowed = False
    with pytest.raises(RuleViolation):
        submit(cadre, exam_course.id)
    assert exam_course.id not in {c.id for c in papers.course_choices(cadre)}


def test_free_topic_is_refused_unless_the_policy_allows_it_then_earns_the_reviewers_credits(
        app, world, exam_course, cadre, org):
    with pytest.raises(RuleViolation) as err:
        submit(cadre, None)
    assert err.value.code == "free_topic_closed"
    with pytest.raises(PermissionDenied):
        papers.set_policy(user(world.wb_admin), free_topic=True, free_topic_credits=4)
    papers.set_policy(org, free_topic=True, free_topic_credits=4)
    paper = submit(cadre, None, title="关于优化营商环境的调研报告")
    assert paper.course_id is None and papers.default_credits(paper) == 4
    assert papers.max_credits(paper) == papers.MAX_CREDITS
    reviewed = papers.review_paper(org, paper.id, approve=True, score=85, credits_=6)
    assert reviewed.earned == 6
    entry = db.session.get(CreditEntry, paper.entry_id)
    assert (entry.source_type, entry.source_id, entry.credits, entry.title) == ("paper", paper.id, 6, paper.title)
    # two free-topic papers may be live at once: they are different topics
    submit(cadre, None, title="第二篇自选题目")
    submit(cadre, None, title="第三篇自选题目")


def test_policy_credits_are_bounded(app, org):
    with pytest.raises(Invalid):
        papers.set_policy(org, free_topic=True, free_topic_credits=0)
    with pytest.raises(Invalid):
        papers.set_policy(org, free_topic=True, free_topic_credits=papers.MAX_CREDITS + 1)


# --- who reviews --------------------------------------------------------------------------------------

def test_a_reviewer_cannot_review_twice_and_a_stale_version_is_refused(app, world, exam_course, cadre, org):
    paper = submit(cadre, exam_course.id)
    papers.review_paper(org, paper.id, approve=False, comment="请修改", version=1)
    with pytest.raises(Conflict):
        papers.review_paper(org, paper.id, approve=True, score=90, version=1)
    papers.revise_paper(cadre, paper.id, title="修改稿", body=BODY, stored=None)
    with pytest.raises(Conflict) as err:  # the reviewer's page still shows version 1
        papers.review_paper(org, paper.id, approve=True, score=90, version=1)
    assert err.value.code == "paper_changed"
    papers.review_paper(org, paper.id, approve=True, score=90, version=2)
    with pytest.raises(Conflict):
        papers.review_paper(org, paper.id, approve=True, score=95, version=2)
    assert len(paper.reviews) == 2 and count(CreditEntry) == 1


def test_a_cadre_cannot_review(app, world, exam_course, cadre):
    paper = submit(cadre, exam_course.id)
    with pytest.raises(PermissionDenied):
        papers.review_paper(cadre, paper.id, approve=True, score=100)
    other = user(world.jt_cadre)
    with pytest.raises(PermissionDenied):
        papers.review_paper(other, paper.id, approve=True, score=100)
    with pytest.raises(NotFound):
        papers.get_paper(other, paper.id)
    assert "review" not in papers.allowed_actions(cadre, paper)


def test_an_appointed_netadmin_reviews_and_another_units_netadmin_sees_nothing(app, world, exam_course, cadre, org):
    paper = submit(cadre, exam_course.id)
    jt = user(world.jt_admin)
    wb = user(world.wb_admin)
    # not a reviewer: another district's administrator does not see the paper, ours sees it read-only
    with pytest.raises(NotFound):
        papers.get_paper(jt, paper.id)
    assert papers.list_papers(jt).total == 0
    assert papers.get_paper(wb, paper.id) is paper and papers.allowed_actions(wb, paper) == set()
    with pytest.raises(PermissionDenied):
        papers.review_paper(wb, paper.id, approve=True, score=80)
    # appointed, the other district's administrator reviews any paper
    papers.appoint_reviewer(org, jt)
    assert papers.can_review(jt) and papers.queue_count(jt) == 1
    assert papers.allowed_actions(jt, paper) == {"review"}
    reviewed = papers.review_paper(jt, paper.id, approve=True, score=82, version=1)
    assert reviewed.earned == exam_course.credits and paper.reviews[0].reviewer_id == jt.id
    papers.remove_reviewer(org, jt.id)
    assert not papers.can_review(jt)
    with pytest.raises(NotFound):
        papers.get_paper(jt, paper.id)


def test_only_active_staff_accounts_can_be_appointed(app, world, org):
    with pytest.raises(Invalid):
        papers.appoint_reviewer(org, user(world.wb_cadre))
    with pytest.raises(Invalid):
        papers.appoint_reviewer(org, papers.staff_by_username("nobody"))
    with pytest.raises(Conflict):
        papers.appoint_reviewer(org, org)
    viewer = user(world.wb_viewer)
    viewer.is_active = False
    with pytest.raises(Invalid):
        papers.appoint_reviewer(org, viewer)
    viewer.is_active = True
    papers.appoint_reviewer(org, papers.staff_by_username("wbview"))
    with pytest.raises(Conflict):
        papers.appoint_reviewer(org, viewer)
    with pytest.raises(PermissionDenied):
        papers.appoint_reviewer(user(world.wb_admin), user(world.jt_admin))
    assert [r.user_id for r in papers.reviewers()] == [world.wb_viewer]


def test_notifications_reach_the_cadre(app, world, exam_course, cadre, org):
    paper = submit(cadre, exam_course.id)
    papers.review_paper(org, paper.id, approve=False, comment="请补充调研数据")
    papers.revise_paper(cadre, paper.id, title="修改稿", body=BODY, stored=None)
    papers.review_paper(org, paper.id, approve=True, score=86)
    notes = list(db.session.scalars(select(Notification).where(Notification.user_id == world.wb_cadre)
                                    .order_by(Notification.id)))
    assert [n.link for n in notes] == [f"/papers/{paper.id}"] * 2
    assert "退回修改" in notes[0].message and "请补充调研数据" in notes[0].message
    assert "86 分" in notes[1].message and f"获得 {exam_course.credits} 学分" in notes[1].message


def test_the_queue_lists_waiting_papers_oldest_first(app, world, exam_course, catalogue, cadre, clock, org):
    first = submit(cadre, exam_course.id)
    clock.advance(600)
    other = user(world.jt_cadre)
    second = submit(other, catalogue.car, title="新能源汽车产业发展的思考")
    page = papers.list_papers(org, state="submitted")
    assert [p.id for p in page.items] == [first.id, second.id]
    assert papers.count_by_state(org)["submitted"] == 2
    assert [p.id for p in papers.list_papers(cadre).items] == [first.id]  # a cadre sees only their own
    assert papers.count_by_state(user(world.wb_admin))["submitted"] == 1  # the subtree only
    with pytest.raises(Invalid):
        papers.list_papers(org, state="nonsense")
