"""The unit report in the JSON API (operationId unitReport)."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import Schema, fields

from app.api.schemas import Problem, Ref
from app.reports.api import BINARY, OK_DOC, ReportArgs, blp, report_filter, send_report
from app.reports.unit import report_for, unit_dict, unit_sheets


class FiguresOut(Schema):
    cadres = fields.Integer()
    participants = fields.Integer(metadata={"description": "cadres who studied at all in the period"})
    participation_pct = fields.Float(metadata={"description": "participants ÷ cadres, percent, one decimal"})
    study_hours = fields.Float()
    online_hours = fields.Float()
    credits = fields.Integer(metadata={"description": "earned in the period, reversals deducted"})
    qualified = fields.Integer(metadata={"description": "by the assessment of end's year (carry-over included)"})
    unqualified = fields.Integer()
    qualified_pct = fields.Float()
    flagged = fields.Boolean(metadata={"description": "one third or more unqualified (第十八条)"})


class SubUnitOut(FiguresOut):
    unit = fields.Nested(Ref)


class BinOut(Schema):
    credits = fields.String(metadata={"description": "a range of credits counted towards the year, e.g. 60–69"})
    cadres = fields.Integer()


class UnqualifiedOut(Schema):
    user_id = fields.Integer()
    name = fields.String()
    unit = fields.Nested(Ref)
    rank = fields.String(metadata={"enum": ["county", "township", "other"]})
    credits = fields.Integer(metadata={"description": "counted towards the year (carried in included)"})
    required = fields.Integer()
    missing = fields.Integer()


class UnitReportOut(Schema):
    unit = fields.Nested(Ref)
    start = fields.Date()
    end = fields.Date()
    year = fields.Integer()
    course = fields.Nested(Ref, allow_none=True)
    category = fields.Nested(Ref, allow_none=True)
    user = fields.Nested(Ref, allow_none=True, metadata={"description": "the one cadre reported on, if chosen"})
    figures = fields.Nested(FiguresOut)
    sub_units = fields.List(fields.Nested(SubUnitOut), metadata={"description": "direct sub-units, best first"})
    histogram = fields.List(fields.Nested(BinOut))
    unqualified = fields.List(fields.Nested(UnqualifiedOut))


@blp.route("/reports/units", methods=["GET"])
@blp.arguments(ReportArgs, location="query")
@blp.response(200, UnitReportOut, description=OK_DOC)
@blp.alt_response(200, schema=BINARY, content_type="text/csv", description=OK_DOC)
@blp.alt_response(200, schema=BINARY, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                  description=OK_DOC)
@blp.alt_response(404, schema=Problem, description="no such unit, cadre or course in the caller's scope")
@blp.doc(operationId="unitReport")
@login_required
def unit_report(args):
    """单位学习情况 A unit subtree in a period: cadres, participation, study time, time online, credits, the
    qualified rate and the one-third flag, the credit distribution, the sub-units ranked and the
    unqualified cadres. A large unit's file is better asked for as a background export
    (createReportExport)."""
    flt = report_filter(args)
    d = unit_dict(report_for(current_user, flt))
    if args["format"] == "json":
        return d
    return send_report(_("单位学习情况"), "unit-report", flt, args["format"], unit_sheets(d))
