"""Credits in the JSON API: a cadre's summary and ledger, adjustments and reversals, a unit's
assessment, the rules of each year and year-end closing (operationIds as in API.md)."""
from __future__ import annotations

from flask_login import current_user, login_required
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.accounts.services import get_cadre, get_unit
from app.api.schemas import DbId, PageArgs, Problem, Ref, page_body
from app.credits import services
from app.credits.models import CreditEntry
from app.credits.rules import FIELDS
from app.db import commit
from app.web import origin_from_request

blp = Blueprint("credits_api", __name__, description="学分 Credits: ledger, assessment and rules")

YEAR = validate.Range(min=2000, max=2100)


class YearArgs(Schema):
    year = fields.Integer(validate=YEAR, metadata={"description": "assessment year (default: this year)"})


class SummaryArgs(YearArgs):
    user_id = DbId(metadata={"description": "the cadre (default: the caller)"})


class EntryArgs(PageArgs):
    user_id = DbId(metadata={"description": "the cadre (default: the caller)"})
    year = fields.Integer(validate=YEAR, metadata={"description": "only entries counted in this year"})


class YearOut(Schema):
    year = fields.Integer()
    rank = fields.String(metadata={"description": "county / township / other: the rank that sets the requirement"})
    requirement = fields.Integer()
    earned = fields.Integer(metadata={"description": "credits earned in the year (all categories)"})
    carried_in = fields.Integer(metadata={"description": "the previous year's excess (第十五条)"})
    total = fields.Integer()
    missing = fields.Integer()
    carried_out = fields.Integer()
    qualified = fields.Boolean()
    hours = fields.Integer()
    closed = fields.Boolean(metadata={"description": "the year is closed: this result is frozen"})


class KindOut(Schema):
    credits = fields.Integer()
    hours = fields.Integer()


class CycleOut(Schema):
    first = fields.Integer()
    last = fields.Integer()
    credits = fields.Integer()
    credits_required = fields.Integer()
    hours = fields.Integer()
    hours_required = fields.Integer()
    status = fields.String(metadata={"description": "qualified / unqualified / in_progress"})
    years = fields.List(fields.Nested(YearOut))


class SummaryOut(YearOut):
    user = fields.Nested(Ref)
    unit = fields.Nested(Ref)
    status = fields.String(metadata={"description": "qualified (合格) / unqualified (不合格)"})
    by_category = fields.Dict(keys=fields.String(), values=fields.Integer(),
                              metadata={"description": "basic / additional / reward / adjustment"})
    by_kind = fields.Dict(keys=fields.String(), values=fields.Nested(KindOut))
    cycle = fields.Nested(CycleOut)


class EntryOut(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    year = fields.Integer()
    kind = fields.String()
    category = fields.String()
    credits = fields.Integer()
    hours = fields.Integer()
    source_type = fields.String(metadata={"description": "course_hours / course_credits / offline_training / "
                                                         "application / adjustment"})
    source_id = fields.Integer(allow_none=True)
    reverses_id = fields.Integer(allow_none=True)
    reversed = fields.Boolean(metadata={"description": "a later entry reverses this one"})
    title = fields.String()
    reason = fields.String(allow_none=True)
    earned_on = fields.Date()
    recorded_at = fields.DateTime()
    recorded_by = fields.Nested(Ref, allow_none=True)


class EntryList(Schema):
    items = fields.List(fields.Nested(EntryOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class AdjustArgs(Schema):
    user_id = DbId(required=True)
    credits = fields.Integer(required=True, validate=validate.Range(min=-services.MAX_ADJUSTMENT,
                                                                    max=services.MAX_ADJUSTMENT))
    hours = fields.Integer(load_default=0, validate=validate.Range(min=-1000, max=1000))
    year = fields.Integer(validate=YEAR, metadata={"description": "the year it counts in (default: this year)"})
    reason = fields.String(required=True, validate=validate.Length(min=2, max=500))


class ReasonArgs(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=500))


class AssessmentArgs(PageArgs):
    unit_id = DbId(metadata={"description": "the unit subtree (default: the caller's unit)"})
    year = fields.Integer(validate=YEAR)
    unqualified_only = fields.Boolean(load_default=False)


class AssessmentRowOut(Schema):
    user = fields.Nested(Ref)
    unit = fields.Nested(Ref)
    status = fields.String()
    result = fields.Nested(YearOut)
    cycle_credits = fields.Integer()
    cycle_hours = fields.Integer()


class AssessmentOut(Schema):
    unit = fields.Nested(Ref)
    year = fields.Integer()
    closed = fields.Boolean()
    cadres = fields.Integer()
    qualified = fields.Integer()
    unqualified = fields.Integer()
    qualified_rate = fields.Float()
    flagged = fields.Boolean(metadata={"description": "one third or more unqualified (第十八条)"})
    items = fields.List(fields.Nested(AssessmentRowOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class RulesOut(Schema):
    year = fields.Integer()
    closed = fields.Boolean()
    values = fields.Dict(keys=fields.String(), values=fields.Integer())
    labels = fields.Dict(keys=fields.String(), values=fields.String())


class RulesArgs(Schema):
    effective_year = fields.Integer(required=True, validate=YEAR)
    values = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"description": "rule key → whole number; keys left out keep their value"})
    reason = fields.String(load_default=None, validate=validate.Length(max=500))


class CloseOut(Schema):
    year = fields.Integer()
    cadres = fields.Integer(metadata={"description": "cadres whose result was frozen"})


# --- bodies ---------------------------------------------------------------------------------------

def year_dict(r: services.YearResult) -> dict:
    return {"year": r.year, "rank": r.rank, "requirement": r.requirement, "earned": r.earned,
            "carried_in": r.carried_in, "total": r.total, "missing": r.missing, "carried_out": r.carried_out,
            "qualified": r.qualified, "hours": r.hours, "closed": r.closed}


def summary_dict(a: services.Assessment) -> dict:
    r, c = a.result, a.cycle
    return {**year_dict(r), "user": {"id": a.user.id, "name": a.user.name},
            "unit": {"id": a.user.unit.id, "name": a.user.unit.name},
            "status": "qualified" if r.qualified else "unqualified",
            "by_category": {"basic": r.basic, "additional": r.additional, "reward": r.reward,
                            "adjustment": r.adjustment},
            "by_kind": a.by_kind,
            "cycle": {"first": c.first, "last": c.last, "credits": c.credits, "credits_required": c.credits_required,
                      "hours": c.hours, "hours_required": c.hours_required, "status": c.status,
                      "years": [year_dict(y) for y in c.years]}}


def entry_dict(e: CreditEntry, reversed_ids: set[int] = frozenset()) -> dict:
    return {"id": e.id, "user_id": e.user_id, "year": e.year, "kind": e.kind.value, "category": e.category.value,
            "credits": e.credits, "hours": e.hours, "source_type": e.source_type, "source_id": e.source_id,
            "reverses_id": e.reverses_id, "reversed": e.id in reversed_ids, "title": e.title, "reason": e.reason,
            "earned_on": e.earned_on, "recorded_at": e.recorded_at,
            "recorded_by": {"id": e.recorded_by.id, "name": e.recorded_by.name} if e.recorded_by else None}


def _cadre(user_id: int | None):
    return current_user if user_id is None else get_cadre(current_user, user_id)


# --- operations ---------------------------------------------------------------------------------

@blp.route("/credits/summary", methods=["GET"])
@blp.arguments(SummaryArgs, location="query")
@blp.response(200, SummaryOut)
@blp.alt_response(404, schema=Problem, description="no such cadre in the caller's scope")
@blp.doc(operationId="getCreditSummary")
@login_required
def get_credit_summary(args):
    """学分汇总 A cadre's year: earned by kind, carried over, total against the requirement, status,
    class hours and the five-year cycle."""
    year = args.get("year") or services.today().year
    return summary_dict(services.assess_cadre(current_user, _cadre(args.get("user_id")), year))


@blp.route("/credits/entries", methods=["GET"])
@blp.arguments(EntryArgs, location="query")
@blp.response(200, EntryList)
@blp.doc(operationId="listCreditEntries")
@login_required
def list_credit_entries(args):
    """学分记录 A cadre's ledger, newest first; reversals are entries of their own."""
    user = _cadre(args.get("user_id"))
    page = services.list_entries(current_user, user, year=args.get("year"), page=args["page"],
                                 per_page=args["per_page"])
    reversed_ids = services.reversed_among(page.items)
    return page_body(page, [entry_dict(e, reversed_ids) for e in page.items])


@blp.route("/credits/adjustments", methods=["POST"])
@blp.arguments(AdjustArgs)
@blp.response(201, EntryOut)
@blp.alt_response(403, schema=Problem, description="only the organisation department adjusts credits")
@blp.doc(operationId="adjustCredits")
@login_required
def adjust_credits(args):
    """学分调整 Add a correcting entry to a cadre's ledger (reason required, audited)."""
    user = get_cadre(current_user, args["user_id"])
    entry = services.adjust_credits(current_user, user, credits=args["credits"], hours=args["hours"],
                                    reason=args["reason"], year=args.get("year"), origin=origin_from_request())
    body = entry_dict(entry)
    commit()
    return body


@blp.route("/credits/entries/<int:entry_id>/reversal", methods=["POST"])
@blp.arguments(ReasonArgs)
@blp.response(201, EntryOut)
@blp.alt_response(409, schema=Problem, description="already reversed")
@blp.doc(operationId="reverseCreditEntry")
@login_required
def reverse_credit_entry(args, entry_id):
    """撤销学分 Reverse an entry by a new entry of the opposite amount (the original stays)."""
    rev = services.reverse_entry(current_user, entry_id, reason=args["reason"], origin=origin_from_request())
    body = entry_dict(rev)
    commit()
    return body


@blp.route("/credits/assessment", methods=["GET"])
@blp.arguments(AssessmentArgs, location="query")
@blp.response(200, AssessmentOut)
@blp.doc(operationId="getAssessment")
@login_required
def get_assessment(args):
    """学分考核 A unit subtree's cadres for a year: each one's status, the qualified rate and the
    one-third flag (第十八条)."""
    unit = get_unit(current_user, args.get("unit_id") or current_user.unit_id)
    ua = services.assess_unit(current_user, unit, args.get("year") or services.today().year)
    rows = ua.unqualified if args["unqualified_only"] else ua.rows
    start = (args["page"] - 1) * args["per_page"]
    items = [{"user": {"id": r.user_id, "name": r.name}, "unit": {"id": r.unit_id, "name": r.unit_name},
              "status": "qualified" if r.result.qualified else "unqualified", "result": year_dict(r.result),
              "cycle_credits": r.cycle.credits, "cycle_hours": r.cycle.hours}
             for r in rows[start:start + args["per_page"]]]
    return {"unit": {"id": unit.id, "name": unit.name}, "year": ua.year, "closed": ua.closed, "cadres": ua.total,
            "qualified": ua.qualified, "unqualified": len(ua.unqualified), "qualified_rate": ua.qualified_rate,
            "flagged": ua.flagged, "items": items, "total": len(rows), "page": args["page"],
            "per_page": args["per_page"]}


@blp.route("/credits/rules", methods=["GET"])
@blp.arguments(YearArgs, location="query")
@blp.response(200, RulesOut)
@blp.doc(operationId="getCreditRules")
@login_required
def get_credit_rules(args):
    """学分规则 The rules in force for a year."""
    year = args.get("year") or services.today().year
    return {"year": year, "closed": services.is_closed(year), "values": services.get_rules(year).values,
            "labels": {f.key: str(f.label) for f in FIELDS}}


@blp.route("/credits/rules", methods=["PUT"])
@blp.arguments(RulesArgs)
@blp.response(200, RulesOut)
@blp.doc(operationId="updateCreditRules")
@login_required
def update_credit_rules(args):
    """修改学分规则 Save the rules in force from a year on (organisation department; audited)."""
    year = args["effective_year"]
    values = {**services.get_rules(year).values, **args["values"]}
    services.set_rules(current_user, year, values, reason=args["reason"], origin=origin_from_request())
    body = {"year": year, "closed": False, "values": services.get_rules(year).values,
            "labels": {f.key: str(f.label) for f in FIELDS}}
    commit()
    return body


@blp.route("/credits/years/<int:year>/closing", methods=["POST"])
@blp.response(200, CloseOut)
@blp.alt_response(409, schema=Problem, description="already closed")
@blp.alt_response(422, schema=Problem, description="an earlier year is still open, or the year has not begun")
@blp.doc(operationId="closeCreditYear")
@login_required
def close_credit_year(year):
    """年度结转 Freeze a year's rules and every cadre's result (organisation department; audited)."""
    n = services.close_year(current_user, year, origin=origin_from_request())
    commit()
    return {"year": year, "cadres": n}
