"""The question bank: validation, editing (a used question gets a successor, past papers keep the
old one), retire / restore, the XLSX import (all or nothing, per-row errors) and its template, and
the organisation department's bank and exam settings pages."""
from __future__ import annotations

import io
import re
from html import unescape

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.accounts.models import User
from app.audit.models import AuditEvent
from app.errors import Invalid
from app.exams import bank, services
from app.exams.models import ExamAttempt, ExamSetting, Question, QuestionKind
from app.extensions import db
from tests.catalogue.conftest import _cadre_login
from tests.conftest import PASSWORD, ApiClient

# --- helpers ----------------------------------------------------------------------------------


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def staff(app, login: str) -> ApiClient:
    c = ApiClient(app.test_client())
    assert c.login(login, PASSWORD).status_code == 200
    return c


def page(client, url: str, status: int = 200) -> str:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code)
    return r.get_data(as_text=True)


def in_db(app, fn):
    with app.app_context():
        return fn()


def item_html(html: str, qid: int) -> str:
    """One question of the bank page's list, up to the next question."""
    start = html.index(f'id="q-{qid}"')
    end = html.find('<li class="q', start)
    return html[start:end if end > 0 else None]


def org_user() -> User:
    return db.session.scalar(select(User).where(User.username == "org"))


def xlsx(rows, header=tuple(bank.HEADERS)) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "题目"
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def row(kind, stem, options=(), answer="", explanation=""):
    opts = list(options) + [None] * (bank.MAX_OPTIONS - len(options))
    return [kind, stem, *opts, answer, explanation]


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def active_count(course_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Question).where(
        Question.course_id == course_id, Question.retired_at.is_(None)))


@pytest.fixture
def org(app, world):
    with app.test_request_context():
        yield org_user()


# --- validation -------------------------------------------------------------------------------

def test_validate_cleans_each_kind():
    clean, errors = bank.validate("单选", "  民法典自何时起施行?  ", ["2020年", "2021年", "", None], "b", "")
    assert not errors
    assert clean == {"kind": QuestionKind.SINGLE, "stem": "民法典自何时起施行?", "options": ["2020年", "2021年"],
                     "answer": "B", "explanation": ""}
    clean, errors = bank.validate("multiple", "下列属于新发展理念的有?", ["创新", "协调", "绿色"], "c、Ａ", "解析")
    assert not errors and clean["kind"] == QuestionKind.MULTIPLE and clean["answer"] == "AC"  # sorted, full-width A
    for word, letter in (("正确", "T"), ("对", "T"), ("t", "T"), (True, "T"), ("错误", "F"), ("F", "F"), (False, "F")):
        clean, errors = bank.validate("判断", "领导干部应当带头遵守八项规定。", ["会被忽略"], word, None)
        assert not errors, word
        assert clean["answer"] == letter and clean["options"] == []
    clean, errors = bank.validate("单选题", "选项是数字的题目?", [3, 4.0, 5.5], "C", "")
    assert not errors and clean["options"] == ["3", "4", "5.5"]


@pytest.mark.parametrize("kind, options, answer, field, message", [
    ("单选", ["甲", "乙", "丙"], "AB", "answer", "单选题只能有一个正确答案"),
    ("多选", ["甲", "乙", "丙"], "A", "answer", "多选题至少有两个正确答案"),
    ("单选", ["甲", "乙", "丙"], "D", "answer", "答案须为选项字母(A–C)"),
    ("多选", ["甲", "乙", "丙"], "AAB", "answer", "答案须为选项字母"),
    ("单选", ["甲", "乙"], "", "answer", "答案须为选项字母"),
    ("判断", [], "B", "answer", "判断题的答案须为 正确 或 错误"),
    ("单选", ["甲"], "A", "options", "选择题须有 2–6 个选项"),
    ("单选", ["甲", "乙", "丙", "丁", "戊", "己", "庚"], "A", "options", "选择题须有 2–6 个选项"),
    ("单选", ["甲", "", "丙"], "A", "options", "选项须从 A 起连续填写:选项B 是空的"),
    ("多选", ["甲", "乙", "甲"], "AB", "options", "选项不能重复"),
    ("填空", ["甲", "乙"], "A", "kind", "题型须为 单选、多选 或 判断"),
])
def test_validate_refuses_bad_questions(app, kind, options, answer, field, message):
    with app.test_request_context():
        _clean, errors = bank.validate(kind, "一道完整的题目?", options, answer, "")
    assert field in errors and message in errors[field][0]
    if field == "options":
        assert "answer" not in errors  # letters are not checked against options that are wrong


def test_validate_refuses_short_stem_and_long_explanation(app):
    with app.test_request_context():
        _clean, errors = bank.validate("判断", "太短", [], "T", "长" * 2001)
    assert set(errors) == {"stem", "explanation"}


def test_create_refuses_an_identical_active_question_but_not_a_retired_one(app, exam_course, org):
    first = db.session.get(Question, exam_course.questions[0])
    data = {"kind": first.kind.value, "stem": first.stem, "options": list(first.options), "answer": first.answer}
    with pytest.raises(Invalid) as e:
        bank.create_question(org, exam_course.id, data)
    assert e.value.field == "stem" and "已有相同的题目" in e.value.message
    bank.retire_question(org, first.id)
    again = bank.create_question(org, exam_course.id, data)
    assert again.id != first.id and again.retired_at is None
    # …and the retired one cannot come back beside its twin
    with pytest.raises(Invalid, match="无需恢复"):
        bank.restore_question(org, first.id)


def test_create_adds_at_the_end_and_is_audited(app, exam_course, org):
    q = bank.create_question(org, exam_course.id, {"kind": "多选", "stem": "下列哪些是新发展理念?",
                                                   "options": ["创新", "协调", "守旧"], "answer": "A,B",
                                                   "explanation": "新发展理念"})
    assert q.position == len(exam_course.questions) + 1 and q.answer == "AB"
    (ev,) = events("exams.question_create")
    assert ev.target_id == q.id and ev.actor_id == org.id and ev.details["course_id"] == exam_course.id


def test_create_reports_every_bad_field(app, exam_course, org):
    with pytest.raises(Invalid) as e:
        bank.create_question(org, exam_course.id, {"kind": "单选", "stem": "短", "options": ["甲"], "answer": "A"})
    assert set(e.value.extra["errors"]) == {"stem", "options"}
    assert active_count(exam_course.id) == len(exam_course.questions)


# --- editing, retiring, restoring ----------------------------------------------------------------

def test_update_of_an_unused_question_is_in_place(app, exam_course, org):
    qid = exam_course.questions[0]
    current = bank.update_question(org, qid, {"stem": "修改后的单选题题干?", "answer": "B"})
    assert current.id == qid and current.stem == "修改后的单选题题干?" and current.answer == "B"
    assert current.retired_at is None and current.position == 1
    (ev,) = events("exams.question_update")
    assert ev.target_id == qid and ev.details["replaced"] is None
    # saving the same content again changes nothing and records nothing
    assert bank.update_question(org, qid, {"stem": "修改后的单选题题干?"}).id == qid
    assert len(events("exams.question_update")) == 1


def test_update_of_a_used_question_retires_it_and_adds_a_successor(app, exam_course, cadre):
    attempt, created = services.start_attempt(cadre, exam_course.id)
    assert created
    item = attempt.items[0]
    old_id, old_stem, old_position = item.question_id, item.question.stem, item.question.position
    org = org_user()
    assert old_id in bank.used_ids(exam_course.id)
    assert bank.usage_counts(exam_course.id)[old_id] == 1

    current = bank.update_question(org, old_id, {"stem": "新版本的题干,旧试卷不受影响?"})

    assert current.id != old_id and current.stem == "新版本的题干,旧试卷不受影响?"
    assert current.position == old_position and current.retired_at is None
    old = db.session.get(Question, old_id)
    assert old.retired_at is not None and old.stem == old_stem and old.position == -old_id
    db.session.expire_all()
    attempt = db.session.get(ExamAttempt, attempt.id)
    assert attempt.items[0].question_id == old_id and attempt.items[0].question.stem == old_stem
    pool = services.pool_of(exam_course.id)
    ids = [qid for ids_ in pool.values() for qid in ids_]
    assert current.id in ids and old_id not in ids
    (ev,) = events("exams.question_update")
    assert ev.target_id == current.id and ev.details["replaced"] == old_id


def test_retire_and_restore(app, exam_course, org):
    qid = exam_course.questions[-1]
    bank.retire_question(org, qid)
    assert qid not in services.pool_of(exam_course.id)["truefalse"]
    with pytest.raises(Invalid, match="请先恢复"):
        bank.update_question(org, qid, {"stem": "停用后不能修改的题目"})
    bank.retire_question(org, qid)  # retiring twice records one event
    restored = bank.restore_question(org, qid)
    assert restored.retired_at is None and restored.position == len(exam_course.questions)
    assert qid in services.pool_of(exam_course.id)["truefalse"]
    assert [e.target_id for e in events("exams.question_retire")] == [qid]
    assert [e.target_id for e in events("exams.question_restore")] == [qid]


def test_only_the_organisation_department_edits_the_bank(app, world, exam_course):
    from app.errors import PermissionDenied

    with app.test_request_context():
        netadmin = db.session.get(User, world.wb_admin)
        with pytest.raises(PermissionDenied):
            bank.create_question(netadmin, exam_course.id, {"kind": "判断", "stem": "网络管理员不能出题。", "answer": "T"})
        with pytest.raises(PermissionDenied):
            bank.import_xlsx(netadmin, exam_course.id, bank.template_xlsx())


# --- XLSX import ----------------------------------------------------------------------------------

GOOD_ROWS = [
    row("单选", "基层党组织的基本任务不包括?", ["宣传党的主张", "团结动员群众", "经营企业"], "C", "基层党组织不经营企业。"),
    row("多选", "全面从严治党的要求有?", ["严字当头", "全面覆盖", "宽松软"], "AB", ""),
    row("判断", "党支部是党的基础组织。", [], "正确", "党章规定。"),
]


def test_import_of_a_good_file_adds_the_rows(app, exam_course, org):
    existing = db.session.get(Question, exam_course.questions[0])
    same = row("单选", existing.stem, existing.options, existing.answer)
    result = bank.import_xlsx(org, exam_course.id, xlsx(GOOD_ROWS + [same]))
    assert result.ok and result.created == 3 and result.unchanged == 1
    added = list(db.session.scalars(select(Question).where(
        Question.course_id == exam_course.id, Question.position > len(exam_course.questions)).order_by(Question.position)))
    assert [(q.kind, q.stem, q.options, q.answer, q.explanation) for q in added] == [
        (QuestionKind.SINGLE, "基层党组织的基本任务不包括?", ["宣传党的主张", "团结动员群众", "经营企业"], "C",
         "基层党组织不经营企业。"),
        (QuestionKind.MULTIPLE, "全面从严治党的要求有?", ["严字当头", "全面覆盖", "宽松软"], "AB", ""),
        (QuestionKind.TRUEFALSE, "党支部是党的基础组织。", [], "T", "党章规定。"),
    ]
    (ev,) = events("exams.question_import")
    assert ev.details == {"created": 3, "unchanged": 1} and ev.target_id == exam_course.id


def test_import_with_two_bad_rows_imports_nothing_and_reports_those_rows(app, exam_course, org):
    rows = [GOOD_ROWS[0],
            row("单选", "答案写错的题目?", ["甲", "乙"], "AB"),       # Excel row 3
            GOOD_ROWS[1],
            row("多选", "选项不够的题目?", ["只有一个"], "A"),         # Excel row 5
            GOOD_ROWS[2]]
    result = bank.import_xlsx(org, exam_course.id, xlsx(rows))
    assert not result.ok and result.created == 0
    assert [(e.row, e.field) for e in result.errors] == [(3, "答案"), (5, "选项")]
    assert "单选题只能有一个正确答案" in result.errors[0].message
    assert active_count(exam_course.id) == len(exam_course.questions)
    assert events("exams.question_import") == []


def test_import_skips_blank_rows_and_reports_duplicate_rows(app, exam_course, org):
    rows = [GOOD_ROWS[0], [None] * len(bank.HEADERS), GOOD_ROWS[2], GOOD_ROWS[0]]
    result = bank.import_xlsx(org, exam_course.id, xlsx(rows))
    assert [(e.row, e.field, e.message) for e in result.errors] == [(5, "题干", "与第 2 行重复")]
    assert active_count(exam_course.id) == len(exam_course.questions)


def test_import_refuses_a_file_that_is_not_the_template(app, exam_course, org):
    header = [h for h in bank.HEADERS if h != "答案"]
    with pytest.raises(Invalid) as e:
        bank.import_xlsx(org, exam_course.id, xlsx(GOOD_ROWS, header=header))
    assert "表头不符合导入模板" in e.value.message and "缺少 答案 列" in e.value.message
    with pytest.raises(Invalid, match="无法读取文件"):
        bank.import_xlsx(org, exam_course.id, "题型,题干\n单选,题目".encode())
    with pytest.raises(Invalid, match="文件中没有题目"):
        bank.import_xlsx(org, exam_course.id, xlsx([]))
    assert events("exams.question_import") == []


def test_the_template_opens_and_its_examples_import(app, exam_course, org):
    wb = load_workbook(io.BytesIO(bank.template_xlsx()))
    assert wb.sheetnames == ["题目", "说明"]
    assert [c.value for c in wb["题目"][1]] == bank.HEADERS
    first = bank.import_xlsx(org, exam_course.id, bank.template_xlsx())
    assert first.ok and first.created == 3
    again = bank.import_xlsx(org, exam_course.id, bank.template_xlsx())
    assert again.ok and again.created == 0 and again.unchanged == 3


# --- pages ------------------------------------------------------------------------------------

def bank_url(course_id: int) -> str:
    return f"/admin/exams/courses/{course_id}"


def test_bank_page_shows_the_settings_and_the_questions(app, exam_course, cadre):
    attempt, _ = services.start_attempt(cadre, exam_course.id)
    used_id = attempt.items[0].question_id
    unused = [q for q in exam_course.questions if q not in {i.question_id for i in attempt.items}]
    retired_id, plain_id = unused[0], unused[1]
    bank.retire_question(org_user(), retired_id)
    db.session.commit()
    org = staff(app, "org")
    html = page(org, bank_url(exam_course.id))
    assert "题库与考试" in html and 'name="question_count"' in html and 'value="10"' in html
    assert "已被 1 份试卷使用" in item_html(html, used_id)
    retired = re.search(rf'<li class="q q-retired" id="q-{retired_id}">.*?恢复', html, re.S)
    assert retired and html.index(f'id="q-{retired_id}"') > html.index('id="questions"')
    assert html.index(f'id="q-{retired_id}"') > html.index('id="retired"')
    # the correct options are marked
    q = in_db(app, lambda: db.session.get(Question, plain_id))
    item = item_html(html, q.id)
    assert "已被" not in item and f"解析{q.position}" in item
    if q.kind == QuestionKind.TRUEFALSE:
        assert '<li class="correct">' in item and item.count('class="q-mark"') == 1
    else:
        marked = re.findall(r'<li class="correct"><span class="q-letter">(\w)</span>', item)
        assert "".join(marked) == q.answer
    assert "题库不足" not in html


def test_the_catalogue_admin_links_to_the_bank(app, exam_course):
    org = staff(app, "org")
    link = f'href="/admin/exams/courses/{exam_course.id}"'
    assert link in page(org, "/admin/catalogue/courses")
    assert link in page(org, f"/admin/catalogue/courses/{exam_course.id}")


def settings_form(html: str, **values) -> dict:
    data = {"csrf_token": csrf(html), "question_count": "10", "single_count": "", "multiple_count": "",
            "truefalse_count": "", "time_limit_minutes": "30", "pass_mark": "60", "attempts_per_day": "3",
            "attempts_total": "5", "show_answers_after_pass": "y", "papers_allowed": "y"}
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


def test_settings_are_saved_and_audited(app, exam_course):
    org = staff(app, "org")
    html = page(org, bank_url(exam_course.id))
    r = org.c.post(f"{bank_url(exam_course.id)}/settings", data=settings_form(
        html, question_count="12", time_limit_minutes="45", pass_mark="80", attempts_per_day="0",
        attempts_total="0", show_answers_after_pass=None, multiple_partial="y"))
    assert r.status_code == 303
    s = in_db(app, lambda: db.session.get(ExamSetting, exam_course.id))
    assert (s.question_count, s.time_limit_minutes, s.pass_mark, s.attempts_per_day, s.attempts_total) == (12, 45, 80, 0, 0)
    assert s.show_answers_after_pass is False and s.multiple_partial is True and s.per_type is None
    ev = in_db(app, lambda: events("exams.settings"))
    assert len(ev) == 1 and ev[0].details["changed"]["pass_mark"] == [60, 80]
    assert "已保存考试设置" in page(org, bank_url(exam_course.id))


def test_settings_per_type_counts_decide_the_paper(app, exam_course):
    org = staff(app, "org")
    html = page(org, bank_url(exam_course.id))
    r = org.c.post(f"{bank_url(exam_course.id)}/settings",
                   data=settings_form(html, question_count="", single_count="4", multiple_count="2", truefalse_count=""))
    assert r.status_code == 303
    s = in_db(app, lambda: db.session.get(ExamSetting, exam_course.id))
    assert s.per_type == {"single": 4, "multiple": 2, "truefalse": 0} and s.question_count == 6
    html = page(org, bank_url(exam_course.id))
    assert re.search(r'<input[^>]*name="single_count"[^>]*value="4"', html)
    # asking for more multiple-choice questions than the bank has: saved, with a clear warning
    org.c.post(f"{bank_url(exam_course.id)}/settings",
               data=settings_form(html, single_count="4", multiple_count="9", truefalse_count="1"))
    warning = text(re.search(r'<div class="flash flash-warn bank-shortfall".*?</div>', page(org, bank_url(exam_course.id)),
                             re.S).group(0))
    assert "题库不足" in warning and "多选题只有 4 道,少于每卷所需的 9 道" in warning


def test_bad_settings_are_refused_with_field_errors(app, exam_course):
    org = staff(app, "org")
    html = page(org, bank_url(exam_course.id))
    r = org.c.post(f"{bank_url(exam_course.id)}/settings",
                   data=settings_form(html, pass_mark="0", time_limit_minutes="500", attempts_per_day="x"))
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert "考试设置未保存" in body
    # the form's own check (not an integer) first; then the service's ranges, each beside its field
    assert re.search(r'has-error">\s*<label for="attempts_per_day"', body)
    r = org.c.post(f"{bank_url(exam_course.id)}/settings",
                   data=settings_form(html, pass_mark="0", time_limit_minutes="500"))
    body = r.get_data(as_text=True)
    assert r.status_code == 400
    assert re.search(r'<label for="pass_mark">.*?须为 1–100 的整数', body, re.S)
    assert re.search(r'<label for="time_limit_minutes">.*?须为 5–240 的整数', body, re.S)
    r = org.c.post(f"{bank_url(exam_course.id)}/settings", data=settings_form(html, question_count=""))
    assert r.status_code == 400 and "请填写每卷题数,或按题型填写各题型的数量" in r.get_data(as_text=True)
    r = org.c.post(f"{bank_url(exam_course.id)}/settings",
                   data=settings_form(html, single_count="0", multiple_count="0", truefalse_count="0"))
    assert r.status_code == 400 and "各题型数量之和至少为 1" in r.get_data(as_text=True)
    s = in_db(app, lambda: db.session.get(ExamSetting, exam_course.id))
    assert (s.pass_mark, s.time_limit_minutes, s.question_count, s.per_type) == (60, 30, 10, None)
    assert in_db(app, lambda: events("exams.settings")) == []


def test_a_course_without_an_exam_gets_one_from_the_settings_form(app, exam_course, catalogue):
    org = staff(app, "org")
    html = page(org, bank_url(catalogue.car))
    assert "本课程尚未设置结业考试" in html and "题库中还没有题目" in html
    r = org.c.post(f"{bank_url(catalogue.car)}/settings", data=settings_form(html, question_count="5"))
    assert r.status_code == 303
    html = page(org, bank_url(catalogue.car))
    assert "题库中只有 0 道题,少于每卷所需的 5 道" in text(html)


def question_form(html: str, **values) -> dict:
    data = {"csrf_token": csrf(html), "kind": "single", "stem": "", "option_a": "", "option_b": "", "option_c": "",
            "option_d": "", "option_e": "", "option_f": "", "explanation": ""}
    data.update(values)
    return data


def test_add_a_question_through_the_page(app, exam_course):
    org = staff(app, "org")
    html = page(org, bank_url(exam_course.id))
    r = org.c.post(f"{bank_url(exam_course.id)}/questions", data=question_form(
        html, kind="multiple", stem="网页上新增的多选题?", option_a="甲", option_b="乙", option_c="丙",
        correct=["A", "C"], explanation="甲和丙"))
    assert r.status_code == 303
    q = in_db(app, lambda: db.session.scalar(select(Question).where(Question.stem == "网页上新增的多选题?")))
    assert q.kind == QuestionKind.MULTIPLE and q.options == ["甲", "乙", "丙"] and q.answer == "AC"
    assert r.headers["Location"].endswith(f"#q-{q.id}")
    # a true/false question: its (hidden) option boxes are not sent to the bank
    r = org.c.post(f"{bank_url(exam_course.id)}/questions", data=question_form(
        html, kind="truefalse", stem="网页上新增的判断题。", option_a="残留", truefalse="F"))
    assert r.status_code == 303
    q = in_db(app, lambda: db.session.scalar(select(Question).where(Question.stem == "网页上新增的判断题。")))
    assert q.answer == "F" and q.options == []


def test_a_bad_question_is_shown_again_with_its_errors(app, exam_course):
    org = staff(app, "org")
    html = page(org, bank_url(exam_course.id))
    r = org.c.post(f"{bank_url(exam_course.id)}/questions", data=question_form(
        html, kind="single", stem="两个答案的单选题?", option_a="甲", option_b="乙", correct=["A", "B"]))
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    new = re.search(r'id="new-question".*?</section>', body, re.S).group(0)
    assert "单选题只能有一个正确答案" in new and "两个答案的单选题?" in new and 'value="甲"' in new
    assert in_db(app, lambda: active_count(exam_course.id)) == len(exam_course.questions)


def test_edit_page_updates_an_unused_question_in_place(app, exam_course):
    org = staff(app, "org")
    qid = exam_course.questions[0]
    url = f"/admin/exams/questions/{qid}"
    html = page(org, url)
    assert "单选题第0题" in html and "已被" not in text(html)
    r = org.c.post(url, data=question_form(html, stem="改过的单选题?", option_a="一", option_b="二", option_c="三",
                                           correct=["C"], explanation="新解析"))
    assert r.status_code == 303 and r.headers["Location"].endswith(f"#q-{qid}")
    q = in_db(app, lambda: db.session.get(Question, qid))
    assert (q.stem, q.options, q.answer, q.explanation, q.retired_at) == ("改过的单选题?", ["一", "二", "三"], "C", "新解析", None)
    assert "已保存题目" in page(org, bank_url(exam_course.id))


def test_edit_page_of_a_used_question_saves_a_new_version(app, exam_course, cadre):
    attempt, _ = services.start_attempt(cadre, exam_course.id)
    qid = attempt.items[-1].question_id
    db.session.commit()
    org = staff(app, "org")
    url = f"/admin/exams/questions/{qid}"
    html = page(org, url)
    assert "本题已被 1 份试卷使用" in text(html) and "保存为新版本" in html
    form = question_form(html, kind="truefalse", stem="改过的判断题。", truefalse="T")
    r = org.c.post(url, data=form)
    assert r.status_code == 303
    new = in_db(app, lambda: db.session.scalar(select(Question).where(Question.stem == "改过的判断题。")))
    assert new.id != qid and r.headers["Location"].endswith(f"#q-{new.id}")
    old = in_db(app, lambda: db.session.get(Question, qid))
    assert old.retired_at is not None and old.stem != "改过的判断题。"
    assert "原题已停用并保留在这些试卷中" in page(org, bank_url(exam_course.id))
    # the retired version's page says it cannot be edited
    html = page(org, url)
    assert "不能修改" in html and "disabled" in html


def test_retire_and_restore_buttons(app, exam_course):
    org = staff(app, "org")
    qid = exam_course.questions[2]
    html = page(org, bank_url(exam_course.id))
    r = org.c.post(f"/admin/exams/questions/{qid}/retire", data={"csrf_token": csrf(html)})
    assert r.status_code == 303
    assert in_db(app, lambda: db.session.get(Question, qid).retired_at) is not None
    html = page(org, bank_url(exam_course.id))
    assert f'<li class="q q-retired" id="q-{qid}">' in html
    r = org.c.post(f"/admin/exams/questions/{qid}/restore", data={"csrf_token": csrf(html)})
    assert r.status_code == 303
    assert in_db(app, lambda: db.session.get(Question, qid).retired_at) is None
    # without the form's token nothing happens
    org.c.post(f"/admin/exams/questions/{qid}/retire", data={})
    assert in_db(app, lambda: db.session.get(Question, qid).retired_at) is None


def upload(org, course_id: int, data: bytes, name: str = "题目.xlsx"):
    html = page(org, bank_url(course_id))
    return org.c.post(f"{bank_url(course_id)}/import", content_type="multipart/form-data",
                      data={"csrf_token": csrf(html), "file": (io.BytesIO(data), name)})


def test_import_page_adds_the_rows_and_says_how_many(app, exam_course):
    org = staff(app, "org")
    existing = in_db(app, lambda: db.session.get(Question, exam_course.questions[0]))
    r = upload(org, exam_course.id, xlsx(GOOD_ROWS + [row("单选", existing.stem, existing.options, existing.answer)]))
    assert r.status_code == 303
    assert "已导入 3 道题,1 道与题库重复未导入" in page(org, bank_url(exam_course.id))
    assert in_db(app, lambda: active_count(exam_course.id)) == len(exam_course.questions) + 3


def test_import_page_lists_the_bad_rows_and_changes_nothing(app, exam_course):
    org = staff(app, "org")
    rows = [GOOD_ROWS[0], row("判断", "答案不是对错的判断题。", [], "B"), row("单选", "缺", ["甲", "乙"], "A")]
    r = upload(org, exam_course.id, xlsx(rows), name="有错的题目.xlsx")
    assert r.status_code == 400
    report = re.search(r'<section class="panel import-report".*?</section>', r.get_data(as_text=True), re.S).group(0)
    assert "发现 2 处问题" in text(report) and "有错的题目.xlsx" in report
    cells = [text(c) for c in re.findall(r'<tr class="row-error">(.*?)</tr>', report, re.S)]
    assert cells == ["3 答案 判断题的答案须为 正确 或 错误(T/F)", "4 题干 题干须为 4–1000 个字"]
    assert in_db(app, lambda: active_count(exam_course.id)) == len(exam_course.questions)


def test_import_page_refuses_other_files_with_a_clear_message(app, exam_course):
    org = staff(app, "org")
    r = upload(org, exam_course.id, b"\x00\x01 not a workbook", name="题目.xls")
    assert r.status_code == 400 and "无法读取文件:请上传用导入模板填写的 .xlsx 文件" in r.get_data(as_text=True)
    r = upload(org, exam_course.id, xlsx(GOOD_ROWS, header=["类型", "内容", "答案"]))
    assert r.status_code == 400 and "表头不符合导入模板" in r.get_data(as_text=True)
    html = page(org, bank_url(exam_course.id))
    r = org.c.post(f"{bank_url(exam_course.id)}/import", content_type="multipart/form-data",
                   data={"csrf_token": csrf(html)})
    assert r.status_code == 400 and "请选择要导入的 .xlsx 文件" in r.get_data(as_text=True)
    assert in_db(app, lambda: active_count(exam_course.id)) == len(exam_course.questions)


def test_template_download(app, exam_course):
    org = staff(app, "org")
    r = org.c.get("/admin/exams/template.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''%E9%A2%98%E7%9B%AE%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx" in r.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(r.data))
    assert [c.value for c in wb["题目"][1]] == bank.HEADERS and wb["题目"].max_row == 4


def test_only_the_organisation_department_sees_the_bank_pages(app, world, exam_course):
    qid = exam_course.questions[0]
    gets = [bank_url(exam_course.id), f"/admin/exams/questions/{qid}", "/admin/exams/template.xlsx"]
    posts = [f"{bank_url(exam_course.id)}/settings", f"{bank_url(exam_course.id)}/questions",
             f"{bank_url(exam_course.id)}/import", f"/admin/exams/questions/{qid}",
             f"/admin/exams/questions/{qid}/retire", f"/admin/exams/questions/{qid}/restore"]
    clients = [staff(app, "wbadmin"), staff(app, "wbview"), _cadre_login(app, world.wb_cadre)]
    for client in clients:
        for url in gets:
            assert client.get(url).status_code in (403, 404), url
        token = csrf(page(client, "/"))
        for url in posts:
            assert client.c.post(url, data={"csrf_token": token, "pass_mark": "1"}).status_code in (403, 404), url
    assert in_db(app, lambda: db.session.get(ExamSetting, exam_course.id).pass_mark) == 60
    assert in_db(app, lambda: db.session.get(Question, qid).retired_at) is None
    anonymous = app.test_client()
    assert anonymous.get(bank_url(exam_course.id)).status_code == 302
    org = staff(app, "org")
    assert org.get(bank_url(999999)).status_code == 404
    assert org.get("/admin/exams/questions/999999").status_code == 404


def test_import_refuses_a_workbook_that_unpacks_too_large(app, exam_course, org, monkeypatch):
    # A zip bomb in small: 9 MB of repeated explanations packs into a few tens of KB. The stated
    # unpacked size is checked before openpyxl opens the file (which would read all shared strings).
    big = xlsx([GOOD_ROWS[0][:-1] + ["解析" * 15_000]] * 100)
    assert len(big) < 100 * 1024
    monkeypatch.setitem(app.config, "XLSX_MAX_UNPACKED_BYTES", 2 * 1024 * 1024)
    with pytest.raises(Invalid) as e:
        bank.import_xlsx(org, exam_course.id, big)
    assert e.value.field == "file" and "解压后过大" in e.value.message and "上限 2 MB" in e.value.message
    assert active_count(exam_course.id) == len(exam_course.questions)
    assert events("exams.question_import") == []
    monkeypatch.setitem(app.config, "XLSX_MAX_UNPACKED_BYTES", 64 * 1024 * 1024)
    result = bank.import_xlsx(org, exam_course.id, big)   # under the bound it is read, row by row
    assert [(e.row, e.field) for e in result.errors] == [(n, "解析") for n in range(2, 102)]


def test_import_reads_only_the_template_columns_of_a_very_wide_sheet(app, exam_course, org):
    wb = Workbook()
    ws = wb.active
    ws.append(bank.HEADERS)
    ws.append(GOOD_ROWS[0])
    ws.cell(row=2, column=16_000, value="far away")   # a row 16,000 cells wide
    buf = io.BytesIO()
    wb.save(buf)
    result = bank.import_xlsx(org, exam_course.id, buf.getvalue())
    assert result.ok and result.created == 1
