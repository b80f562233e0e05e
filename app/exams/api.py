"""Exams, question banks and papers in the JSON API (operationIds as in API.md). An open attempt's
questions never carry answers; the server keeps the clock and grades."""
from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.schemas import DbId, PageArgs, Problem, Ref, page_body
from app.catalogue.services import get_course
from app.db import commit
from app.errors import NotFound
from app.exams import bank, papers, services
from app.exams.models import ExamAttempt, Paper, PaperState, Question, QuestionKind
from app.web import origin_from_request

blp = Blueprint("exams_api", __name__, description="考试与论文 Course exams, question banks and papers")

MAX_ANSWERS = services.MAX_QUESTIONS


# --- schemas ---------------------------------------------------------------------------------

Answers = fields.Dict(
    keys=fields.String(validate=validate.Regexp(r"^\d{1,3}$")),
    values=fields.String(allow_none=True, validate=validate.Length(max=8)),
    validate=validate.Length(max=MAX_ANSWERS),
    metadata={"description": "question position → the letters of the options chosen as shown (\"B\", \"ACD\"; "
                             "true/false: \"T\" or \"F\"); null or \"\" clears an answer"})


class OptionOut(Schema):
    key = fields.String(metadata={"description": "the letter to send back"})
    text = fields.String()


class QuestionOut(Schema):
    position = fields.Integer()
    kind = fields.String(metadata={"enum": [k.value for k in QuestionKind]})
    kind_label = fields.String()
    stem = fields.String()
    options = fields.List(fields.Nested(OptionOut))
    response = fields.String(allow_none=True, metadata={"description": "the saved answer, as shown"})
    correct = fields.Boolean(metadata={"description": "closed attempts only"})
    points = fields.Float(metadata={"description": "closed attempts only: 1, 0.5 (partial multiple) or 0"})
    answer = fields.String(metadata={"description": "closed and passed attempts only, when the course shows answers"})
    explanation = fields.String(metadata={"description": "as `answer`"})


class AttemptOut(Schema):
    id = fields.Integer()
    course = fields.Nested(Ref, metadata={"description": "id and title"})
    number = fields.Integer(metadata={"description": "1 for the cadre's first attempt of this course, …"})
    state = fields.String(metadata={"enum": ["open", "closed"]})
    started_at = fields.DateTime()
    deadline = fields.DateTime()
    seconds_left = fields.Integer(metadata={"description": "by the server's clock; 0 once closed"})
    time_limit_minutes = fields.Integer()
    pass_mark = fields.Integer()
    question_count = fields.Integer()
    answered = fields.Integer()
    closed_at = fields.DateTime(allow_none=True)
    end = fields.String(allow_none=True, metadata={"enum": ["submitted", "deadline", None],
                                                   "description": "deadline: closed by the server at its deadline"})
    score = fields.Integer(allow_none=True)
    passed = fields.Boolean(allow_none=True)
    correct_count = fields.Integer(allow_none=True)
    credits_earned = fields.Integer(metadata={"description": "what this attempt put in the ledger"})
    credits_message = fields.String()
    late = fields.Boolean(metadata={"description": "submitExamAttempt only: answers sent with it came after the "
                                                   "deadline and were not counted"})
    questions = fields.List(fields.Nested(QuestionOut))


class AttemptSummary(Schema):
    id = fields.Integer()
    course = fields.Nested(Ref)
    number = fields.Integer()
    state = fields.String()
    started_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    end = fields.String(allow_none=True)
    score = fields.Integer(allow_none=True)
    passed = fields.Boolean(allow_none=True)
    credits_earned = fields.Integer()


class AttemptList(Schema):
    items = fields.List(fields.Nested(AttemptSummary))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class AttemptListArgs(PageArgs):
    course_id = DbId()


class SaveAnswersArgs(Schema):
    answers = Answers


class SubmitArgs(Schema):
    answers = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^\d{1,3}$")),
                          values=fields.String(allow_none=True, validate=validate.Length(max=8)),
                          validate=validate.Length(max=MAX_ANSWERS), load_default=None,
                          metadata={"description": "optional: answers not yet saved (counted only if in time)"})


class SavedOut(Schema):
    saved = fields.Integer(metadata={"description": "answers that changed"})
    answered = fields.Integer()
    seconds_left = fields.Integer()


class ExamStatusOut(Schema):
    course = fields.Nested(Ref)
    has_exam = fields.Boolean()
    completed = fields.Boolean(metadata={"description": "the course's lessons are done (the exam opens then)"})
    can_start = fields.Boolean()
    blocked_reason = fields.String(allow_none=True)
    blocked_code = fields.String(allow_none=True, metadata={
        "enum": ["no_exam", "not_published", "not_completed", "attempts_exhausted", "bank_short", None]})
    open_attempt_id = fields.Integer(allow_none=True)
    attempts_used = fields.Integer()
    attempts_today = fields.Integer()
    attempts_total_allowed = fields.Integer(metadata={"description": "0: unlimited"})
    attempts_per_day_allowed = fields.Integer(metadata={"description": "0: unlimited"})
    question_count = fields.Integer()
    time_limit_minutes = fields.Integer()
    pass_mark = fields.Integer()
    best_score = fields.Integer(allow_none=True)
    passed = fields.Boolean()
    credits_earned = fields.Boolean(metadata={"description": "the course's credits are in the ledger (exam or paper)"})


class BankQuestionOut(Schema):
    id = fields.Integer()
    position = fields.Integer()
    kind = fields.String(metadata={"enum": [k.value for k in QuestionKind]})
    stem = fields.String()
    options = fields.List(fields.String())
    answer = fields.String(metadata={"description": "letters of the correct options; T/F for true/false"})
    explanation = fields.String()
    retired = fields.Boolean()
    used = fields.Boolean(metadata={"description": "some attempt's paper has it: an edit creates a successor"})


class QuestionListArgs(Schema):
    include_retired = fields.Boolean(load_default=False)


class QuestionArgs(Schema):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in QuestionKind]))
    stem = fields.String(required=True, validate=validate.Length(max=1000))
    options = fields.List(fields.String(validate=validate.Length(max=300)), load_default=list,
                          validate=validate.Length(max=bank.MAX_OPTIONS))
    answer = fields.String(required=True, validate=validate.Length(max=8))
    explanation = fields.String(load_default="", validate=validate.Length(max=2000))


class QuestionPatchArgs(Schema):
    kind = fields.String(validate=validate.OneOf([k.value for k in QuestionKind]))
    stem = fields.String(validate=validate.Length(max=1000))
    options = fields.List(fields.String(validate=validate.Length(max=300)), validate=validate.Length(max=bank.MAX_OPTIONS))
    answer = fields.String(validate=validate.Length(max=8))
    explanation = fields.String(validate=validate.Length(max=2000))
    retired = fields.Boolean(metadata={"description": "true retires the question, false restores it"})


class QuestionImportFile(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": "the XLSX template filled in"})


class RowErrorOut(Schema):
    row = fields.Integer()
    field = fields.String()
    message = fields.String()


class QuestionImportOut(Schema):
    ok = fields.Boolean(metadata={"description": "false: nothing was imported; see errors"})
    created = fields.Integer()
    unchanged = fields.Integer(metadata={"description": "rows identical to a question already in the bank"})
    errors = fields.List(fields.Nested(RowErrorOut))


class SettingsArgs(Schema):
    question_count = fields.Integer(validate=validate.Range(min=1, max=services.MAX_QUESTIONS))
    single_count = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=services.MAX_QUESTIONS))
    multiple_count = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=services.MAX_QUESTIONS))
    truefalse_count = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=services.MAX_QUESTIONS))
    time_limit_minutes = fields.Integer(validate=validate.Range(min=5, max=240))
    pass_mark = fields.Integer(validate=validate.Range(min=1, max=100))
    attempts_per_day = fields.Integer(validate=validate.Range(min=0, max=20))
    attempts_total = fields.Integer(validate=validate.Range(min=0, max=100))
    show_answers_after_pass = fields.Boolean()
    multiple_partial = fields.Boolean()
    papers_allowed = fields.Boolean()


class SettingsOut(SettingsArgs):
    course_id = fields.Integer()
    shortfall = fields.String(allow_none=True, metadata={"description": "why the bank cannot supply a paper now"})


# --- serialisers ---------------------------------------------------------------------------------

def _course_ref(course) -> dict:
    return {"id": course.id, "name": course.title}


def attempt_dict(a: ExamAttempt, *, late: bool = False) -> dict:
    earned = services.earned(a)
    questions = services.paper_questions(a) if a.closed_at is None else services.result_questions(a)
    return {"id": a.id, "course": _course_ref(a.course), "number": a.number,
            "state": "open" if a.closed_at is None else "closed", "started_at": a.started_at, "deadline": a.deadline,
            "seconds_left": services.seconds_left(a), "time_limit_minutes": a.time_limit_minutes, "pass_mark": a.pass_mark,
            "question_count": len(a.items), "answered": sum(1 for i in a.items if i.response),
            "closed_at": a.closed_at, "end": a.end.value if a.end else None, "score": a.score, "passed": a.passed,
            "correct_count": a.correct_count, "credits_earned": earned.credits, "credits_message": earned.message,
            "late": late, "questions": questions}


def _summary(a: ExamAttempt) -> dict:
    return {"id": a.id, "course": _course_ref(a.course), "number": a.number,
            "state": "open" if a.closed_at is None else "closed", "started_at": a.started_at,
            "closed_at": a.closed_at, "end": a.end.value if a.end else None, "score": a.score, "passed": a.passed,
            "credits_earned": a.entry.credits if a.entry is not None else 0}


def _bank_dict(q: Question, used: set[int]) -> dict:
    return {"id": q.id, "position": q.position, "kind": q.kind.value, "stem": q.stem, "options": q.options,
            "answer": q.answer, "explanation": q.explanation, "retired": q.retired_at is not None,
            "used": q.id in used}


def _settings_dict(course_id: int) -> dict:
    s = services.get_setting(course_id)
    if s is None:
        raise NotFound(_("本课程还没有考试设置"))
    keys = ("question_count", "single_count", "multiple_count", "truefalse_count", "time_limit_minutes", "pass_mark",
            "attempts_per_day", "attempts_total", "show_answers_after_pass", "multiple_partial", "papers_allowed")
    return {"course_id": course_id, **{k: getattr(s, k) for k in keys},
            "shortfall": services.shortfall(s, services.pool_of(course_id))}


# --- exams -----------------------------------------------------------------------------------

@blp.route("/courses/<int:course_id>/exam", methods=["GET"])
@blp.response(200, ExamStatusOut)
@blp.alt_response(404, schema=Problem)
@blp.doc(operationId="getExamStatus")
@login_required
def get_exam_status(course_id):
    """考试状态 Whether the caller may start the course's exam now, and why not; attempts used and left."""
    st = services.exam_status(current_user, get_course(current_user, course_id))
    commit()  # attempts closed at their deadline on the way
    s = st.setting
    return {"course": _course_ref(st.course), "has_exam": s is not None, "completed": st.completed,
            "can_start": st.blocked is None, "blocked_reason": st.blocked, "blocked_code": st.blocked_code,
            "open_attempt_id": st.open_attempt.id if st.open_attempt else None, "attempts_used": st.attempts_total,
            "attempts_today": st.attempts_today, "attempts_total_allowed": s.attempts_total if s else 0,
            "attempts_per_day_allowed": s.attempts_per_day if s else 0,
            "question_count": s.question_count if s else 0, "time_limit_minutes": s.time_limit_minutes if s else 0,
            "pass_mark": s.pass_mark if s else 0, "best_score": st.best_score, "passed": st.passed,
            "credits_earned": st.credit_entry is not None}


@blp.route("/courses/<int:course_id>/exam/attempts", methods=["POST"])
@blp.response(201, AttemptOut, description="a new attempt (200 with the open one when it is resumed)")
@blp.alt_response(200, schema=AttemptOut, description="the open attempt, resumed")
@blp.alt_response(403, schema=Problem, description="not a cadre")
@blp.alt_response(422, schema=Problem, description="code not_completed (the course's lessons are not done), "
                                                    "attempts_exhausted, no_exam, not_published or bank_short")
@blp.doc(operationId="startExamAttempt")
@login_required
def start_exam_attempt(course_id):
    """开始考试 Draw a random paper (or resume the open attempt): questions and options without answers, and
    the deadline by the server's clock."""
    attempt, created = services.start_attempt(current_user, course_id)
    commit()
    return attempt_dict(attempt), 201 if created else 200


@blp.route("/exam-attempts", methods=["GET"])
@blp.arguments(AttemptListArgs, location="query")
@blp.response(200, AttemptList)
@blp.doc(operationId="listExamAttempts")
@login_required
def list_exam_attempts(args):
    """我的考试 The caller's attempts, newest first."""
    page = services.list_attempts(current_user, course_id=args.get("course_id"), page=args["page"],
                                  per_page=args["per_page"])
    commit()
    return page_body(page, [_summary(a) for a in page.items])


@blp.route("/exam-attempts/<int:attempt_id>", methods=["GET"])
@blp.response(200, AttemptOut)
@blp.alt_response(404, schema=Problem)
@blp.doc(operationId="getExamAttempt")
@login_required
def get_exam_attempt(attempt_id):
    """考试详情 An open attempt (questions and saved answers, time left) or a closed one (score, result per
    question, credits earned; answers and explanations after a pass if the course shows them)."""
    attempt = services.get_attempt(current_user, attempt_id)
    commit()
    return attempt_dict(attempt)


@blp.route("/exam-attempts/<int:attempt_id>/answers", methods=["PUT"])
@blp.arguments(SaveAnswersArgs)
@blp.response(200, SavedOut)
@blp.alt_response(400, schema=Problem, description="an answer that does not fit its question")
@blp.alt_response(409, schema=Problem, description="the attempt is closed (handed in or out of time)")
@blp.doc(operationId="saveExamAnswers")
@login_required
def save_exam_answers(args, attempt_id):
    """保存答案 Save answers as the cadre goes (idempotent); after the deadline nothing more is saved."""
    attempt = services.get_attempt(current_user, attempt_id)
    if attempt.closed_at is not None:
        commit()  # a closing at the deadline on the way stays
    before = {i.position: i.response for i in attempt.items}
    attempt = services.save_answers(current_user, attempt_id, args.get("answers") or {})
    commit()
    return {"saved": sum(1 for i in attempt.items if before[i.position] != i.response),
            "answered": sum(1 for i in attempt.items if i.response), "seconds_left": services.seconds_left(attempt)}


@blp.route("/exam-attempts/<int:attempt_id>/submit", methods=["POST"])
@blp.arguments(SubmitArgs)
@blp.response(200, AttemptOut)
@blp.alt_response(404, schema=Problem)
@blp.doc(operationId="submitExamAttempt")
@login_required
def submit_exam_attempt(args, attempt_id):
    """交卷 Hand in: graded by the server; the first pass of a course earns its credits. A retry returns the
    same result; answers that arrive after the deadline are not counted (late = true)."""
    result = services.submit_attempt(current_user, attempt_id, args.get("answers"))
    commit()
    return attempt_dict(result.attempt, late=result.late)


# --- question bank -----------------------------------------------------------------------------

@blp.route("/courses/<int:course_id>/questions", methods=["GET"])
@blp.arguments(QuestionListArgs, location="query")
@blp.response(200, BankQuestionOut(many=True))
@blp.alt_response(403, schema=Problem)
@blp.doc(operationId="listQuestions")
@login_required
def list_questions(args, course_id):
    """题库 A course's questions with their answers (organisation department only)."""
    questions = bank.list_questions(current_user, course_id, include_retired=args["include_retired"])
    used = bank.used_ids(course_id)
    return [_bank_dict(q, used) for q in questions]


@blp.route("/courses/<int:course_id>/questions", methods=["POST"])
@blp.arguments(QuestionArgs)
@blp.response(201, BankQuestionOut)
@blp.alt_response(400, schema=Problem)
@blp.alt_response(403, schema=Problem)
@blp.doc(operationId="createQuestion")
@login_required
def create_question(args, course_id):
    """新增题目 Add a question to a course's bank."""
    q = bank.create_question(current_user, course_id, args, origin=origin_from_request())
    commit()
    return _bank_dict(q, set())


@blp.route("/questions/<int:question_id>", methods=["PATCH"])
@blp.arguments(QuestionPatchArgs)
@blp.response(200, BankQuestionOut, description="the question now current (a new id when a used one was revised)")
@blp.alt_response(400, schema=Problem)
@blp.alt_response(403, schema=Problem)
@blp.doc(operationId="updateQuestion")
@login_required
def update_question(args, question_id):
    """修改题目 Change, retire or restore a question; a question some paper has used is retired and replaced,
    so past papers read as they were sat."""
    retired = args.pop("retired", None)
    origin = origin_from_request()
    q = bank.get_question(current_user, question_id)
    if retired is False:
        q = bank.restore_question(current_user, question_id, origin=origin)
    if args:
        q = bank.update_question(current_user, q.id, args, origin=origin)
    if retired is True:
        q = bank.retire_question(current_user, q.id, origin=origin)
    commit()
    return _bank_dict(q, bank.used_ids(q.course_id))


@blp.route("/courses/<int:course_id>/questions/import", methods=["POST"])
@blp.arguments(QuestionImportFile, location="files")
@blp.response(200, QuestionImportOut)
@blp.alt_response(400, schema=Problem, description="not a workbook, or not the template's columns")
@blp.alt_response(403, schema=Problem)
@blp.doc(operationId="importQuestions")
@login_required
def import_questions(files, course_id):
    """导入题目 Import questions from the XLSX template: all rows or none (ok = false lists each bad row)."""
    upload = files["file"]
    result = bank.import_xlsx(current_user, course_id, upload.read(), origin=origin_from_request())
    commit()
    return {"ok": result.ok, "created": result.created, "unchanged": result.unchanged,
            "errors": [{"row": e.row, "field": e.field, "message": e.message} for e in result.errors]}


@blp.route("/courses/<int:course_id>/exam/settings", methods=["GET"])
@blp.response(200, SettingsOut)
@blp.alt_response(404, schema=Problem)
@blp.doc(operationId="getExamSettings")
@login_required
def get_exam_settings(course_id):
    """考试设置 A course's exam settings (organisation department)."""
    bank.list_questions(current_user, course_id)  # the manager check
    return _settings_dict(course_id)


@blp.route("/courses/<int:course_id>/exam/settings", methods=["PUT"])
@blp.arguments(SettingsArgs)
@blp.response(200, SettingsOut)
@blp.alt_response(400, schema=Problem)
@blp.alt_response(403, schema=Problem)
@blp.doc(operationId="updateExamSettings")
@login_required
def update_exam_settings(args, course_id):
    """修改考试设置 Questions drawn (optionally per kind), time limit, pass mark, attempts per day and in
    total, answers after a pass, partial credit for multiple choice, papers allowed."""
    services.update_setting(current_user, course_id, args, origin=origin_from_request())
    commit()
    return _settings_dict(course_id)


# --- papers -----------------------------------------------------------------------------------

class SubmitPaperArgs(Schema):
    course_id = DbId(load_default=None, metadata={"description": "omit for a free topic (if allowed)"})
    title = fields.String(required=True, validate=validate.Length(max=200))
    body = fields.String(load_default="", validate=validate.Length(max=papers.MAX_BODY))


class RevisePaperArgs(Schema):
    title = fields.String(required=True, validate=validate.Length(max=200))
    body = fields.String(load_default="", validate=validate.Length(max=papers.MAX_BODY))


class PaperFile(Schema):
    file = fields.Raw(load_default=None, metadata={"type": "string", "format": "binary",
                                                   "description": "PDF, DOCX or TXT (checked by content)"})


class PaperVersionOut(Schema):
    number = fields.Integer()
    title = fields.String()
    body = fields.String()
    file_name = fields.String(allow_none=True)
    file_size = fields.Integer(allow_none=True)
    file_url = fields.String(allow_none=True)
    submitted_at = fields.DateTime()


class PaperReviewOut(Schema):
    version = fields.Integer()
    reviewer = fields.Nested(Ref)
    decision = fields.String(metadata={"enum": ["approve", "return"]})
    score = fields.Integer(allow_none=True)
    credits = fields.Integer(allow_none=True)
    comment = fields.String()
    decided_at = fields.DateTime()


class PaperOut(Schema):
    id = fields.Integer()
    author = fields.Nested(Ref)
    unit = fields.Nested(Ref)
    course = fields.Nested(Ref, allow_none=True, metadata={"description": "null: a free topic"})
    title = fields.String()
    state = fields.String(metadata={"enum": [s.value for s in PaperState]})
    version = fields.Integer()
    submitted_at = fields.DateTime()
    score = fields.Integer(allow_none=True)
    credits = fields.Integer(allow_none=True, metadata={"description": "granted by the approval"})
    credits_earned = fields.Integer(metadata={"description": "what the ledger gained (0 if the course's credits "
                                                             "were earned before)"})
    default_credits = fields.Integer()
    max_credits = fields.Integer()
    versions = fields.List(fields.Nested(PaperVersionOut))
    reviews = fields.List(fields.Nested(PaperReviewOut))
    actions = fields.List(fields.String(), metadata={"description": "revise, withdraw, review"})


class PaperList(Schema):
    items = fields.List(fields.Nested(PaperOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class PaperListArgs(PageArgs):
    state = fields.String(validate=validate.OneOf([s.value for s in PaperState]))
    course_id = DbId()
    mine = fields.Boolean(load_default=False)


class ReviewPaperArgs(Schema):
    approve = fields.Boolean(required=True)
    score = fields.Integer(load_default=None, validate=validate.Range(min=0, max=100),
                           metadata={"description": "required to approve"})
    credits = fields.Integer(load_default=None, validate=validate.Range(min=1, max=papers.MAX_CREDITS),
                             metadata={"description": "default: the course's credits"})
    comment = fields.String(load_default="", validate=validate.Length(max=4000),
                            metadata={"description": "required to return"})
    version = fields.Integer(load_default=None, metadata={"description": "the version reviewed; a newer one "
                                                                         "submitted meanwhile gives 409"})


def paper_dict(p: Paper) -> dict:
    return {
        "id": p.id, "author": {"id": p.user.id, "name": p.user.name},
        "unit": {"id": p.user.unit.id, "name": p.user.unit.name},
        "course": _course_ref(p.course) if p.course is not None else None, "title": p.title,
        "state": p.state.value, "version": p.version, "submitted_at": p.submitted_at, "score": p.score,
        "credits": p.credits, "credits_earned": p.entry.credits if p.entry is not None else 0,
        "default_credits": papers.default_credits(p), "max_credits": papers.max_credits(p),
        "versions": [{"number": v.number, "title": v.title, "body": v.body, "file_name": v.file_name,
                      "file_size": v.file_size, "submitted_at": v.submitted_at,
                      "file_url": url_for("exams_api.get_paper_file", paper_id=p.id, number=v.number)
                      if v.file_path else None} for v in p.versions],
        "reviews": [{"version": r.version, "reviewer": {"id": r.reviewer.id, "name": r.reviewer.name},
                     "decision": r.decision.value, "score": r.score, "credits": r.credits, "comment": r.comment,
                     "decided_at": r.decided_at} for r in p.reviews],
        "actions": sorted(papers.allowed_actions(current_user, p)),
    }


@blp.route("/papers", methods=["POST"])
@blp.arguments(SubmitPaperArgs, location="form")
@blp.arguments(PaperFile, location="files")
@blp.response(201, PaperOut)
@blp.alt_response(400, schema=Problem, description="invalid input or a file that is not PDF/DOCX/TXT by content")
@blp.alt_response(409, schema=Problem, description="a paper for this course is already waiting or returned")
@blp.alt_response(422, schema=Problem, description="the course takes no papers, or free topics are closed")
@blp.doc(operationId="submitPaper")
@login_required
def submit_paper(args, files):
    """提交论文 A cadre submits a paper for a course (or a free topic): text, a file, or both (multipart)."""
    with papers.paper_upload(files.get("file")) as stored:
        paper = papers.submit_paper(current_user, course_id=args["course_id"], title=args["title"],
                                    body=args["body"], stored=stored, origin=origin_from_request())
        commit()
    return paper_dict(paper)


@blp.route("/papers", methods=["GET"])
@blp.arguments(PaperListArgs, location="query")
@blp.response(200, PaperList)
@blp.doc(operationId="listPapers")
@login_required
def list_papers(args):
    """论文列表 A cadre's own papers; for reviewers every paper (state=submitted: the review queue, oldest
    first); for other staff those of their subtree."""
    page = papers.list_papers(current_user, state=args.get("state"), course_id=args.get("course_id"),
                              mine=args["mine"], page=args["page"], per_page=args["per_page"])
    return page_body(page, [paper_dict(p) for p in page.items])


@blp.route("/papers/<int:paper_id>", methods=["GET"])
@blp.response(200, PaperOut)
@blp.alt_response(404, schema=Problem)
@blp.doc(operationId="getPaper")
@login_required
def get_paper(paper_id):
    """论文详情 A paper with every version and decision."""
    return paper_dict(papers.get_paper(current_user, paper_id))


@blp.route("/papers/<int:paper_id>/versions/<int:number>/file", methods=["GET"])
@blp.doc(operationId="getPaperFile", responses={"200": {"description": "the file", "content": {
    "application/pdf": {}, "text/plain": {},
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {}}}})
@login_required
def get_paper_file(paper_id, number):
    """论文文件 Download a version's file (under a cleaned name)."""
    paper = papers.get_paper(current_user, paper_id)
    version = next((v for v in paper.versions if v.number == number and v.file_path), None)
    if version is None:
        raise NotFound(_("没有这个文件"))
    return papers.send_paper_file(version)


@blp.route("/papers/<int:paper_id>/versions", methods=["POST"])
@blp.arguments(RevisePaperArgs, location="form")
@blp.arguments(PaperFile, location="files")
@blp.response(201, PaperOut)
@blp.alt_response(409, schema=Problem, description="the paper is not returned for revision")
@blp.doc(operationId="revisePaper")
@login_required
def revise_paper(args, files, paper_id):
    """修改后重新提交 Submit a new version of a returned paper."""
    with papers.paper_upload(files.get("file")) as stored:
        paper = papers.revise_paper(current_user, paper_id, title=args["title"], body=args["body"], stored=stored,
                                    origin=origin_from_request())
        commit()
    return paper_dict(paper)


@blp.route("/papers/<int:paper_id>/review", methods=["POST"])
@blp.arguments(ReviewPaperArgs)
@blp.response(200, PaperOut)
@blp.alt_response(403, schema=Problem, description="not a reviewer")
@blp.alt_response(409, schema=Problem, description="already decided, or a newer version came in")
@blp.doc(operationId="reviewPaper")
@login_required
def review_paper(args, paper_id):
    """评审论文 Approve with a score and credits (the course's credits enter the ledger once) or return with
    comments."""
    result = papers.review_paper(current_user, paper_id, approve=args["approve"], score=args["score"],
                                 credits_=args["credits"], comment=args["comment"], version=args["version"],
                                 origin=origin_from_request())
    commit()
    return paper_dict(result.paper)


@blp.route("/papers/<int:paper_id>/withdraw", methods=["POST"])
@blp.response(200, PaperOut)
@blp.alt_response(409, schema=Problem)
@blp.doc(operationId="withdrawPaper")
@login_required
def withdraw_paper(paper_id):
    """撤回论文 The author withdraws a paper that is waiting or returned."""
    paper = papers.withdraw_paper(current_user, paper_id, origin=origin_from_request())
    commit()
    return paper_dict(paper)
