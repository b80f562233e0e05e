"""The trend report in the JSON API (operationId trendReport)."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import Schema, fields, validate

from app.api.schemas import Problem, Ref
from app.reports import trend
from app.reports.api import BINARY, OK_DOC, ReportArgs, blp, report_filter, send_report
from app.reports.exports import CSV_MIME, XLSX_MIME
from app.reports.trend import GRANULARITIES, trend_dict, trend_sheets


class TrendArgs(ReportArgs):
    granularity = fields.String(validate=validate.OneOf(GRANULARITIES), metadata={
        "description": "day, week (Monday to Sunday) or month; default: by the period's length (day up to 62 "
                       "days, week up to 183 days, month beyond)"})


class TrendTotalsOut(Schema):
    cadres = fields.Integer(metadata={"description": "active cadres in scope"})
    study_hours = fields.Float()
    active_learners = fields.Integer(metadata={"description": "distinct cadres who studied in the period (not the "
                                                              "sum of the points)"})
    active_pct = fields.Float(metadata={"description": "active_learners ÷ cadres, percent, one decimal"})
    online_hours = fields.Float()
    credits = fields.Integer(metadata={"description": "earned in the period (by earned_on), reversals deducted"})
    completions = fields.Integer(metadata={"description": "courses completed in the period"})


class TrendPointOut(Schema):
    start = fields.Date(metadata={"description": "first day of the bucket inside the period"})
    end = fields.Date(metadata={"description": "last day of the bucket inside the period"})
    days = fields.Integer()
    partial = fields.Boolean(metadata={"description": "the period's start or end cuts the week or month: only its "
                                                      "days inside the period are counted"})
    study_hours = fields.Float()
    active_learners = fields.Integer(metadata={"description": "distinct cadres with study time in the bucket"})
    online_hours = fields.Float()
    credits = fields.Integer()
    completions = fields.Integer()


class TrendReportOut(Schema):
    unit = fields.Nested(Ref)
    start = fields.Date()
    end = fields.Date()
    granularity = fields.String(metadata={"enum": list(GRANULARITIES)})
    automatic = fields.Boolean(metadata={"description": "the granularity was chosen from the period's length"})
    user = fields.Nested(Ref, allow_none=True)
    course = fields.Nested(Ref, allow_none=True)
    category = fields.Nested(Ref, allow_none=True)
    online_narrowed = fields.Boolean(metadata={
        "description": "always false: time online belongs to no course, so a course or category does not narrow it "
                       "(study time, learners, credits from that course's entries and completions are narrowed)"})
    totals = fields.Nested(TrendTotalsOut)
    points = fields.List(fields.Nested(TrendPointOut), metadata={"description": "one per bucket, empty ones as zeros"})


@blp.route("/reports/trends", methods=["GET"])
@blp.arguments(TrendArgs, location="query")
@blp.response(200, TrendReportOut, description=OK_DOC)
@blp.alt_response(200, schema=BINARY, content_type=CSV_MIME.split(";")[0], description=OK_DOC)
@blp.alt_response(200, schema=BINARY, content_type=XLSX_MIME, description=OK_DOC)
@blp.alt_response(404, schema=Problem, description="no such unit, cadre or course in the caller's scope")
@blp.doc(operationId="trendReport")
@login_required
def trend_report(args):
    """学习趋势 Study time, active learners, time online, credits and course completions per day, week or
    month of a period, for a unit subtree or one cadre, optionally narrowed to a course or category;
    every bucket is listed (empty ones as zeros), weeks start on Monday, and a bucket cut by the
    period's start or end counts only its days inside the period. format=csv|xlsx downloads the same
    numbers."""
    flt = report_filter(args)
    d = trend_dict(trend.trend_report(current_user, flt, args.get("granularity")))
    if args["format"] == "json":
        return d
    return send_report(_("学习趋势"), "trend", flt, args["format"], trend_sheets(d))
