"""A course's question bank: validation, the editor's create / revise / retire / restore, and the
XLSX import (all or nothing, with an error per row). A question a paper has used is never changed
in place: revising it retires it and adds its successor, so past papers read as they were."""
from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import exists, func, select

from app.accounts.models import User
from app.audit.services import CLI, Origin, record_event
from app.catalogue import services as catalogue
from app.catalogue.models import Course
from app.db import utcnow
from app.errors import Invalid, NotFound
from app.exams.models import AttemptItem, Question, QuestionKind
from app.extensions import db
from app.spreadsheets import open_xlsx

LETTERS = "ABCDEFGH"
MAX_OPTIONS = 6
MAX_IMPORT_ROWS = 1000
MAX_SCANNED_ROWS = 20 * MAX_IMPORT_ROWS  # blank rows included: a sheet formatted down to row 1,048,576
KIND_BY_LABEL = {"单选": QuestionKind.SINGLE, "单选题": QuestionKind.SINGLE, "单项选择题": QuestionKind.SINGLE,
                 "single": QuestionKind.SINGLE,
                 "多选": QuestionKind.MULTIPLE, "多选题": QuestionKind.MULTIPLE, "多项选择题": QuestionKind.MULTIPLE,
                 "multiple": QuestionKind.MULTIPLE,
                 "判断": QuestionKind.TRUEFALSE, "判断题": QuestionKind.TRUEFALSE, "truefalse": QuestionKind.TRUEFALSE}
TRUE_WORDS = {"T", "正确", "对", "是", "TRUE", "√"}
FALSE_WORDS = {"F", "错误", "错", "否", "FALSE", "×"}


def _text(value) -> str:
    """A cell or form value as text: Excel gives numbers as int/float and dates as datetimes."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def validate(kind, stem, options, answer, explanation) -> tuple[dict, dict[str, list[str]]]:
    """Clean question fields, or per-field error messages. Options are filled from A on without gaps
    (trailing blanks are dropped); answers are letters of the correct options (single: one;
    multiple: two or more), or T/F (正确/错误) for true/false, whose options are ignored."""
    errors: dict[str, list[str]] = {}
    kind_text = unicodedata.normalize("NFKC", _text(kind))
    k = KIND_BY_LABEL.get(kind_text.lower()) or KIND_BY_LABEL.get(kind_text)
    if k is None:
        errors["kind"] = [_("题型须为 单选、多选 或 判断")]
    stem = _text(stem)
    if not 4 <= len(stem) <= 1000:
        errors["stem"] = [_("题干须为 4–1000 个字")]
    opts = [_text(o) for o in (options or [])]
    while opts and not opts[-1]:
        opts.pop()
    answer_raw = unicodedata.normalize("NFKC", _text(answer)).upper()
    for sep in (",", "、", ";", " ", "/"):
        answer_raw = answer_raw.replace(sep, "")
    clean_answer = ""
    if k == QuestionKind.TRUEFALSE:
        opts = []
        if answer_raw in TRUE_WORDS:
            clean_answer = "T"
        elif answer_raw in FALSE_WORDS:
            clean_answer = "F"
        else:
            errors["answer"] = [_("判断题的答案须为 正确 或 错误(T/F)")]
    elif k is not None:
        if "" in opts:
            missing = LETTERS[opts.index("")]
            errors["options"] = [_("选项须从 A 起连续填写:选项%(l)s 是空的", l=missing)]
        elif not 2 <= len(opts) <= MAX_OPTIONS:
            errors["options"] = [_("选择题须有 2–%(n)d 个选项", n=MAX_OPTIONS)]
        elif any(len(o) > 300 for o in opts):
            errors["options"] = [_("每个选项不超过 300 个字")]
        elif len(set(opts)) != len(opts):
            errors["options"] = [_("选项不能重复")]
        valid = LETTERS[:len(opts)]
        if "options" in errors:
            pass  # the answer's letters cannot be checked against options that are wrong
        elif not answer_raw or any(ch not in valid for ch in answer_raw) or len(set(answer_raw)) != len(answer_raw):
            errors["answer"] = [_("答案须为选项字母(%(first)s–%(last)s),如 B 或 ACD", first=valid[0], last=valid[-1])]
        elif k == QuestionKind.SINGLE and len(answer_raw) != 1:
            errors["answer"] = [_("单选题只能有一个正确答案")]
        elif k == QuestionKind.MULTIPLE and len(answer_raw) < 2:
            errors["answer"] = [_("多选题至少有两个正确答案")]
        else:
            clean_answer = "".join(sorted(answer_raw))
    explanation = _text(explanation)
    if len(explanation) > 2000:
        errors["explanation"] = [_("解析不超过 2000 个字")]
    return {"kind": k, "stem": stem, "options": opts, "answer": clean_answer, "explanation": explanation}, errors


def _raise(errors: dict[str, list[str]]) -> None:
    key = next(iter(errors))
    raise Invalid(errors[key][0], field=key, errors=errors)


def _course(actor: User, course_id: int) -> Course:
    catalogue.require_manager(actor)
    return catalogue.get_course(actor, course_id)


def list_questions(actor: User, course_id: int, *, include_retired: bool = False) -> list[Question]:
    """A course's questions in bank order, the retired ones (if asked for) after the active ones."""
    course = _course(actor, course_id)
    q = select(Question).where(Question.course_id == course.id)
    if not include_retired:
        q = q.where(Question.retired_at.is_(None))
    return list(db.session.scalars(q.order_by(Question.retired_at.is_not(None), Question.position)))


def get_question(actor: User, question_id: int) -> Question:
    catalogue.require_manager(actor)
    q = db.session.get(Question, question_id)
    if q is None:
        raise NotFound(_("题目不存在"))
    return q


def is_used(question_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(AttemptItem.question_id == question_id))))


def used_ids(course_id: int) -> set[int]:
    return set(db.session.scalars(select(AttemptItem.question_id).join(Question).where(
        Question.course_id == course_id).distinct()))


def usage_counts(course_id: int) -> dict[int, int]:
    """How many attempts' papers each of a course's questions is on (questions never used are absent)."""
    return dict(db.session.execute(
        select(AttemptItem.question_id, func.count(AttemptItem.attempt_id.distinct())).join(Question)
        .where(Question.course_id == course_id).group_by(AttemptItem.question_id)).all())


def _duplicate_of(course_id: int, clean: dict, *, exclude: int | None = None) -> Question | None:
    """An active question of the course with the same kind, stem, options and answer."""
    q = select(Question).where(Question.course_id == course_id, Question.retired_at.is_(None),
                               Question.kind == clean["kind"], Question.stem == clean["stem"],
                               Question.answer == clean["answer"])
    if exclude is not None:
        q = q.where(Question.id != exclude)
    return next((d for d in db.session.scalars(q) if list(d.options) == clean["options"]), None)


def _next_position(course_id: int) -> int:
    return (db.session.scalar(select(func.max(Question.position)).where(Question.course_id == course_id)) or 0) + 1


def create_question(actor: User, course_id: int, data: dict, *, origin: Origin = CLI) -> Question:
    """Add a question at the end of a course's bank (an identical active question is refused)."""
    course = _course(actor, course_id)
    clean, errors = validate(data.get("kind"), data.get("stem"), data.get("options"), data.get("answer"),
                             data.get("explanation"))
    if errors:
        _raise(errors)
    if _duplicate_of(course.id, clean) is not None:
        raise Invalid(_("题库中已有相同的题目"), field="stem", code="duplicate_question")
    q = Question(course_id=course.id, position=_next_position(course.id), **clean)
    db.session.add(q)
    db.session.flush()
    record_event(actor, "exams.question_create", target=q, target_label=course.title, origin=origin,
                 course_id=course.id, position=q.position)
    return q


def revise(q: Question, clean: dict) -> Question:
    """Apply new content: in place if no paper has used the question, else retire it and add its
    successor at its place (the old one moves to position -id). Returns the question now current."""
    if all(getattr(q, k) == v for k, v in clean.items()):
        return q
    if not is_used(q.id):
        for k, v in clean.items():
            setattr(q, k, v)
        return q
    position = q.position
    q.retired_at = q.retired_at or utcnow()
    q.position = -q.id
    db.session.flush()
    successor = Question(course_id=q.course_id, position=position, **clean)
    db.session.add(successor)
    db.session.flush()
    return successor


def update_question(actor: User, question_id: int, data: dict, *, origin: Origin = CLI) -> Question:
    """Change a question (fields missing from `data` keep their value); returns the question now
    current, which is a new one when a paper had used the old (see `revise`)."""
    q = get_question(actor, question_id)
    if q.retired_at is not None:
        raise Invalid(_("已停用的题目不能修改,请先恢复"), code="question_retired")
    clean, errors = validate(data.get("kind", q.kind.value), data.get("stem", q.stem), data.get("options", q.options),
                             data.get("answer", q.answer), data.get("explanation", q.explanation))
    if errors:
        _raise(errors)
    if _duplicate_of(q.course_id, clean, exclude=q.id) is not None:
        raise Invalid(_("题库中已有相同的题目"), field="stem", code="duplicate_question")
    if all(getattr(q, k) == v for k, v in clean.items()):
        return q  # nothing changed: no new version, no audit event
    old_id = q.id
    current = revise(q, clean)
    db.session.flush()
    record_event(actor, "exams.question_update", target=current, target_label=current.stem[:60], origin=origin,
                 course_id=current.course_id, replaced=old_id if current.id != old_id else None)
    return current


def retire_question(actor: User, question_id: int, *, origin: Origin = CLI) -> Question:
    """Take a question out of future papers; papers that had it keep it."""
    q = get_question(actor, question_id)
    if q.retired_at is None:
        q.retired_at = utcnow()
        db.session.flush()
        record_event(actor, "exams.question_retire", target=q, target_label=q.stem[:60], origin=origin,
                     course_id=q.course_id)
    return q


def restore_question(actor: User, question_id: int, *, origin: Origin = CLI) -> Question:
    """Put a retired question back into the bank (at the end if its place was taken)."""
    q = get_question(actor, question_id)
    if q.retired_at is not None:
        clean = {"kind": q.kind, "stem": q.stem, "options": list(q.options), "answer": q.answer}
        if _duplicate_of(q.course_id, clean) is not None:
            raise Invalid(_("题库中已有与本题相同的有效题目,无需恢复"), code="duplicate_question")
        if q.position < 0:
            q.position = _next_position(q.course_id)
        q.retired_at = None
        db.session.flush()
        record_event(actor, "exams.question_restore", target=q, target_label=q.stem[:60], origin=origin,
                     course_id=q.course_id)
    return q


# --- XLSX -----------------------------------------------------------------------------------------

HEADERS = ["题型", "题干"] + [f"选项{LETTERS[i]}" for i in range(MAX_OPTIONS)] + ["答案", "解析"]


def template_xlsx() -> bytes:
    """The import template: headers, two example rows and notes."""
    wb = Workbook()
    ws = wb.active
    ws.title = "题目"
    ws.append(HEADERS)
    ws.append(["单选", "党的二十大报告指出,中国式现代化是( )的现代化。", "人口规模巨大", "人口规模较小", "", "", "", "",
               "A", "中国式现代化是人口规模巨大的现代化。"])
    ws.append(["多选", "下列属于新发展理念的有( )。", "创新", "协调", "绿色", "开放", "", "", "ABCD",
               "新发展理念是创新、协调、绿色、开放、共享。"])
    ws.append(["判断", "领导干部应当带头遵守中央八项规定精神。", "", "", "", "", "", "", "正确", ""])
    bold = Font(bold=True, color="FFFFFF")
    fill = PatternFill("solid", fgColor="A61B1B")
    for cell in ws[1]:
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(horizontal="center")
    ws.freeze_panes = "A2"
    kinds = DataValidation(type="list", formula1='"单选,多选,判断"', allow_blank=True,
                           errorTitle="题型", error="题型须为 单选、多选 或 判断")
    ws.add_data_validation(kinds)
    kinds.add(f"A2:A{MAX_IMPORT_ROWS + 1}")
    for col, width in zip("ABCDEFGHIJ", (8, 48, 20, 20, 20, 20, 16, 16, 8, 40), strict=True):
        ws.column_dimensions[col].width = width
    notes = wb.create_sheet("说明")
    for line in ("题型:单选、多选 或 判断。", "选项:选择题填 2–6 个选项,从选项A起连续填写;判断题不填选项。",
                 "答案:选项字母,如 B 或 ACD(多选至少两个);判断题填 正确 或 错误。",
                 "解析:答题后向学员展示的说明,可不填。", "第 2–4 行是示例,可直接改写或删除(保留则会一并导入)。",
                 "导入是全部成功或全部不导入:有任何一行出错时,会逐行列出错误,题库不变。",
                 "与题库中已有题目完全相同的行不会重复导入。", f"一次最多导入 {MAX_IMPORT_ROWS} 道题。"):
        notes.append([line])
    notes.column_dimensions["A"].width = 90
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@dataclass
class RowError:
    row: int
    field: str
    message: str


@dataclass
class ImportResult:
    created: int = 0
    unchanged: int = 0  # rows identical to an active question (not added twice)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


FIELD_LABELS = {"kind": "题型", "stem": "题干", "options": "选项", "answer": "答案", "explanation": "解析"}


def _read_rows(data: bytes) -> list[tuple[int, list]]:
    """(row number, [kind, stem, [options A–F], answer, explanation]) of every non-blank row."""
    if not data:
        raise Invalid(_("请选择要导入的 .xlsx 文件"), field="file")
    wb = open_xlsx(data, _("无法读取文件:请上传用导入模板填写的 .xlsx 文件(.xls 或 .csv 请先在 Excel 中另存为 .xlsx)"))
    try:
        ws = wb["题目"] if "题目" in wb.sheetnames else wb.worksheets[0]
        rows = ws.iter_rows(values_only=True, max_col=4 * len(HEADERS))
        header = [unicodedata.normalize("NFKC", _text(c)).replace(" ", "") for c in next(rows, None) or []]
        missing = [h for h in HEADERS if h not in header]
        if missing:
            raise Invalid(_("表头不符合导入模板:第一行缺少 %(m)s 列。请下载导入模板,在模板中填写后再导入",
                            m="、".join(missing)), field="file")
        idx = {name: header.index(name) for name in HEADERS}
        out = []
        for n, row in enumerate(rows, start=2):
            if n > MAX_SCANNED_ROWS:
                raise Invalid(_("表格行数过多,一次最多导入 %(n)d 道题", n=MAX_IMPORT_ROWS), field="file")
            if row is None or all(_text(c) == "" for c in row):
                continue
            if len(out) >= MAX_IMPORT_ROWS:
                raise Invalid(_("一次最多导入 %(n)d 道题", n=MAX_IMPORT_ROWS), field="file")
            get = lambda name: row[idx[name]] if idx[name] < len(row) else None  # noqa: E731
            out.append((n, [get("题型"), get("题干"), [get(f"选项{LETTERS[i]}") for i in range(MAX_OPTIONS)],
                            get("答案"), get("解析")]))
    finally:
        wb.close()
    return out


def import_xlsx(actor: User, course_id: int, data: bytes, *, origin: Origin = CLI) -> ImportResult:
    """Add the workbook's questions to a course's bank: every row valid, or nothing is added and
    each bad row is reported. Rows identical to an active question are skipped."""
    course = _course(actor, course_id)
    rows = _read_rows(data)
    result = ImportResult()
    if not rows:
        raise Invalid(_("文件中没有题目"), field="file")
    existing = {(q.kind, q.stem, tuple(q.options), q.answer) for q in db.session.scalars(
        select(Question).where(Question.course_id == course.id, Question.retired_at.is_(None)))}
    seen: dict[tuple, int] = {}
    clean_rows = []
    for n, (kind, stem, options, answer, explanation) in rows:
        clean, errors = validate(kind, stem, options, answer, explanation)
        for key, messages in errors.items():
            result.errors.extend(RowError(n, FIELD_LABELS.get(key, key), m) for m in messages)
        if errors:
            continue
        key = (clean["kind"], clean["stem"], tuple(clean["options"]), clean["answer"])
        if key in seen:
            result.errors.append(RowError(n, "题干", _("与第 %(n)d 行重复", n=seen[key])))
            continue
        seen[key] = n
        if key in existing:
            result.unchanged += 1
            continue
        clean_rows.append(clean)
    if result.errors:
        return result
    position = _next_position(course.id)
    for clean in clean_rows:
        db.session.add(Question(course_id=course.id, position=position, **clean))
        position += 1
    result.created = len(clean_rows)
    db.session.flush()
    record_event(actor, "exams.question_import", target=course, target_label=course.title, origin=origin,
                 created=result.created, unchanged=result.unchanged)
    return result
