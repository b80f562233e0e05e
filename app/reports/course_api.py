"""The course report in the JSON API (operationId courseReport)."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import Schema, fields

from app.api.schemas import Problem, Ref
from app.reports.api import BINARY, OK_DOC, ReportArgs, blp, report_filter, send_report
from app.reports import course as service
from app.reports.exports import CSV_MIME, XLSX_MIME


class CourseFiguresOut(Schema):
    enrolments = fields.Integer(metadata={"description": "course progress started in the period"})
    enrolled_completed = fields.Integer(metadata={"description": "of the enrolments, completed by the period's end"})
    completions = fields.Integer(metadata={"description": "course progress completed in the period"})
    completion_pct = fields.Float(metadata={"description": "enrolled_completed ÷ enrolments, percent, one decimal"})
    learners = fields.Integer(metadata={"description": "cadres with study time in the period"})
    study_hours = fields.Float()
    avg_study_hours = fields.Float(metadata={"description": "study time ÷ learners, hours, one decimal"})
    attempts = fields.Integer(metadata={"description": "exam attempts closed in the period"})
    avg_score = fields.Float(allow_none=True, metadata={"description": "of those attempts, one decimal"})
    exam_takers = fields.Integer(metadata={"description": "cadres who closed an attempt (over several courses: "
                                                          "once per cadre and course)"})
    exam_passers = fields.Integer(metadata={"description": "of whom passed in the period"})
    pass_pct = fields.Float(metadata={"description": "exam_passers ÷ exam_takers, percent, one decimal"})
    papers = fields.Integer(metadata={"description": "papers on the course handed in in the period (not withdrawn)"})
    papers_approved = fields.Integer(metadata={"description": "papers approved in the period"})


class CourseRowOut(CourseFiguresOut):
    course = fields.Nested(Ref)
    category = fields.Nested(Ref)


class CourseUnitOut(CourseFiguresOut):
    unit = fields.Nested(Ref)
    cadres = fields.Integer()


class CourseReportOut(Schema):
    unit = fields.Nested(Ref)
    start = fields.Date()
    end = fields.Date()
    user = fields.Nested(Ref, allow_none=True)
    course = fields.Nested(Ref, allow_none=True)
    category = fields.Nested(Ref, allow_none=True)
    cadres = fields.Integer(metadata={"description": "active cadres in scope"})
    figures = fields.Nested(CourseFiguresOut, metadata={"description": "all the report's courses together"})
    courses = fields.List(fields.Nested(CourseRowOut), metadata={"description": "most enrolments first"})
    sub_units = fields.List(fields.Nested(CourseUnitOut), metadata={
        "description": "direct sub-units (their subtrees): the chosen course, or all the courses together"})


@blp.route("/reports/courses", methods=["GET"])
@blp.arguments(ReportArgs, location="query")
@blp.response(200, CourseReportOut, description=OK_DOC)
@blp.alt_response(200, schema=BINARY, content_type=CSV_MIME.split(";")[0], description=OK_DOC)
@blp.alt_response(200, schema=BINARY, content_type=XLSX_MIME, description=OK_DOC)
@blp.alt_response(404, schema=Problem, description="no such unit, cadre, course or category in the caller's scope")
@blp.doc(operationId="courseReport")
@login_required
def course_report(args):
    """课程学习情况 Per course in a unit subtree and a period: enrolments, completions and the completion
    rate, study time per learner, exam attempts, pass rate and average score, papers handed in and
    approved; and the same per direct sub-unit. format=csv|xlsx downloads the same numbers (sheets
    概况, 课程, 按单位)."""
    flt = report_filter(args)
    d = service.course_dict(service.course_report(current_user, flt))
    if args["format"] == "json":
        return d
    return send_report(_("课程学习情况"), "course-report", flt, args["format"], service.course_sheets(d))
