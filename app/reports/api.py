"""Reports in the JSON API (operationIds as in API.md). Every report answers in `format` json (the
default), csv (UTF-8 with a BOM) or xlsx: the files carry the same numbers as the JSON."""
from __future__ import annotations

from flask_login import current_user, login_required
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.accounts.models import User
from app.api.schemas import DbId, Problem, Ref
from app.credits import services as credits
from app.credits.api import CycleOut, KindOut, YearOut
from app.extensions import db
from app.reports import archive
from app.reports.filters import ReportFilter, resolve_filter
from app.reports.exports import CSV_MIME, XLSX_MIME, csv_sheets_response, xlsx_response

blp = Blueprint("reports_api", __name__, description="报表 Reports: a cadre's learning archive, units, courses, trends")

FORMATS = ("json", "csv", "xlsx")
BINARY = {"type": "string", "format": "binary"}
OK_DOC = "JSON by default; format=csv or xlsx: a download (Content-Disposition) with the same numbers"


class FormatArgs(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS),
                           metadata={"description": "json (default), csv (UTF-8 with BOM) or xlsx"})


class ReportArgs(FormatArgs):
    """The filters every report takes, in any combination (this year so far by default)."""
    unit_id = DbId(metadata={"description": "the unit subtree (default: the caller's unit)"})
    user_id = DbId(metadata={"description": "one cadre"})
    course_id = DbId(metadata={"description": "one course"})
    category_id = DbId(metadata={"description": "one course category (ignored with course_id)"})
    start = fields.Date(metadata={"description": "first day (default: 1 January of end's year)"})
    end = fields.Date(metadata={"description": "last day (default: today); at most three years after start"})


def report_filter(args: dict) -> ReportFilter:
    """The caller's report filter from ReportArgs (scope checked; a bad period is a 400)."""
    return resolve_filter(current_user, unit_id=args.get("unit_id"), user_id=args.get("user_id"),
                          course_id=args.get("course_id"), category_id=args.get("category_id"),
                          start=args.get("start"), end=args.get("end"), strict=True)


class ArchiveArgs(FormatArgs):
    user_id = DbId(metadata={"description": "the cadre (default: the caller)"})
    year = fields.Integer(validate=validate.Range(min=archive.MIN_YEAR, max=archive.MAX_YEAR),
                          metadata={"description": "assessment year (default: this year)"})


class ArchiveAssessmentOut(YearOut):
    status = fields.String(metadata={"enum": ["qualified", "unqualified"]})
    in_progress = fields.Boolean(metadata={"description": "the year is still running: the status is so far"})


class ArchiveCycleOut(CycleOut):
    class Meta:
        exclude = ("years",)  # the archive is one year; the cycle's years are on getCreditSummary


class ArchiveTotalsOut(Schema):
    courses_completed = fields.Integer()
    course_hours = fields.Integer()
    exams_taken = fields.Integer()
    exams_passed = fields.Integer()
    papers = fields.Integer()
    papers_approved = fields.Integer()
    trainings = fields.Integer()
    training_days = fields.Integer()
    applications = fields.Integer()
    applications_approved = fields.Integer()
    study_seconds = fields.Float()
    online_seconds = fields.Float()
    study_hours = fields.Float()
    online_hours = fields.Float()


class ArchiveCourseOut(Schema):
    course_id = fields.Integer()
    title = fields.String()
    completed_on = fields.Date()
    class_hours = fields.Integer()
    credits = fields.Integer()
    credits_via = fields.String(allow_none=True, metadata={"enum": ["exam", "paper", None]})
    best_score = fields.Integer(allow_none=True)
    study_seconds = fields.Float(metadata={"description": "credited study time on the course in the year"})


class ArchiveExamOut(Schema):
    attempt_id = fields.Integer()
    course_id = fields.Integer()
    course_title = fields.String()
    number = fields.Integer()
    closed_on = fields.Date()
    score = fields.Integer(allow_none=True)
    pass_mark = fields.Integer()
    passed = fields.Boolean()
    credits = fields.Integer()


class ArchivePaperOut(Schema):
    paper_id = fields.Integer()
    title = fields.String()
    course_title = fields.String(allow_none=True)
    state = fields.String()
    versions = fields.Integer()
    on = fields.Date()
    score = fields.Integer(allow_none=True)
    credits = fields.Integer()


class ArchiveTrainingOut(Schema):
    attendance_id = fields.Integer()
    name = fields.String()
    organiser = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    days = fields.Integer()
    credits = fields.Integer()
    hours = fields.Integer()
    reversed = fields.Boolean()


class ArchiveApplicationOut(Schema):
    application_id = fields.Integer()
    kind = fields.String()
    level = fields.String()
    title = fields.String()
    event_date = fields.Date()
    state = fields.String()
    credits = fields.Integer()
    reversed = fields.Boolean()


class ArchiveEntryOut(Schema):
    entry_id = fields.Integer()
    earned_on = fields.Date()
    kind = fields.String()
    category = fields.String()
    source_type = fields.String()
    title = fields.String()
    credits = fields.Integer()
    hours = fields.Integer()
    reverses_id = fields.Integer(allow_none=True)
    reversed = fields.Boolean()


class ArchiveMonthOut(Schema):
    month = fields.Integer()
    study_seconds = fields.Float()
    online_seconds = fields.Float()


class ArchiveOut(Schema):
    user = fields.Nested(Ref)
    unit = fields.Nested(Ref)
    rank = fields.String()
    year = fields.Integer()
    as_of = fields.Date()
    assessment = fields.Nested(ArchiveAssessmentOut)
    by_category = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_kind = fields.Dict(keys=fields.String(), values=fields.Nested(KindOut))
    cycle = fields.Nested(ArchiveCycleOut)
    totals = fields.Nested(ArchiveTotalsOut)
    courses = fields.List(fields.Nested(ArchiveCourseOut))
    exams = fields.List(fields.Nested(ArchiveExamOut))
    papers = fields.List(fields.Nested(ArchivePaperOut))
    trainings = fields.List(fields.Nested(ArchiveTrainingOut))
    applications = fields.List(fields.Nested(ArchiveApplicationOut))
    entries = fields.List(fields.Nested(ArchiveEntryOut))
    months = fields.List(fields.Nested(ArchiveMonthOut))


def file_name(stem: str, fmt: str) -> str:
    return f"{stem}.{fmt}"


def send_report(label: str, ascii_label: str, flt: ReportFilter, fmt: str, sheets: list):
    """A report's sheets as a csv or xlsx download named <label>-<unit>[-<cadre>]-<start>-<end>."""
    from app.reports.export_jobs import period_stem

    period = f"{flt.start.isoformat()}-{flt.end.isoformat()}"
    stem, fallback = period_stem(label, flt), f"{ascii_label}-{flt.unit.id}-{period}"
    if fmt == "xlsx":
        return xlsx_response(file_name(stem, "xlsx"), sheets, fallback=file_name(fallback, "xlsx"))
    return csv_sheets_response(file_name(stem, "csv"), sheets, fallback=file_name(fallback, "csv"))


@blp.route("/reports/archive", methods=["GET"])
@blp.arguments(ArchiveArgs, location="query")
@blp.response(200, ArchiveOut, description=OK_DOC)
@blp.alt_response(200, schema=BINARY, content_type=CSV_MIME.split(";")[0], description=OK_DOC)
@blp.alt_response(200, schema=BINARY, content_type=XLSX_MIME, description=OK_DOC)
@blp.alt_response(404, schema=Problem, description="no such cadre in the caller's scope")
@blp.doc(operationId="personArchive")
@login_required
def person_archive(args):
    """学习档案 A cadre's year: courses completed with hours, exam results, papers, offline training,
    applications, the ledger and credits by kind, the assessment with the carry-over, study time and
    time online by month. format=csv|xlsx downloads the same numbers."""
    user = current_user if args.get("user_id") is None else db.session.get(User, args["user_id"])
    year = args.get("year") or credits.today().year
    a = archive.person_archive(current_user, user, year)
    fmt = args["format"]
    if fmt == "json":
        return archive.archive_dict(a)
    stem, fallback = f"学习档案-{a.user.name}-{year}", f"archive-{a.user.id}-{year}"
    sheets = archive.archive_sheets(a)
    if fmt == "xlsx":
        return xlsx_response(file_name(stem, "xlsx"), sheets, fallback=file_name(fallback, "xlsx"))
    return csv_sheets_response(file_name(stem, "csv"), sheets, fallback=file_name(fallback, "csv"))


# The other reports attach their operations to `blp` (one module per report).
from app.reports import course_api, export_api, trend_api, unit_api  # noqa: E402,F401
