"""Credit applications in the JSON API (operationIds as in API.md): apply with evidence, list and
read them, the unit's review, the organisation department's decision, withdrawal."""
from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.schemas import PageArgs, Problem, Ref, page_body
from app.credits import applications
from app.credits.evidence import evidence_upload, send_evidence
from app.credits.labels import APPLICATION_STATE_LABELS, KIND_LABELS
from app.credits.models import ApplicationKind, ApplicationState, CreditApplication
from app.credits.rules import LEVEL_LABELS, LEVELS
from app.db import commit
from app.errors import NotFound
from app.web import origin_from_request

blp = Blueprint("credits_applications_api", __name__, description="学分申请 Credit applications (第十二条)")

ALL_LEVELS = sorted({lv for levels in LEVELS.values() for lv in levels})


# --- schemas -----------------------------------------------------------------------------

class ApplyForCreditsArgs(Schema):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in ApplicationKind]))
    level = fields.String(required=True, validate=validate.OneOf(ALL_LEVELS), metadata={
        "description": "degree: none/doctorate/master/bachelor (obtained in the year of study claimed); "
                       "book: sole/co/contributor; article: sole/co; award: first/second/third/honour"})
    title = fields.String(required=True, validate=validate.Length(min=2, max=200))
    details = fields.String(load_default=None, validate=validate.Length(max=2000))
    event_date = fields.Date(load_default=None, metadata={
        "description": "published / awarded; for a degree a date in the year of study (default: its end)"})
    study_year = fields.Integer(load_default=None, validate=validate.Range(min=2000, max=2100),
                                metadata={"description": "degree only: the year of study claimed"})
    admission_date = fields.Date(load_default=None, metadata={"description": "degree only: 入学通知书"})


class ApplicationEvidenceFile(Schema):
    evidence = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                                   "description": "PDF, JPEG or PNG (checked by content)"})


class ApplicationApplicantOut(Ref):
    unit_id = fields.Integer()
    unit_name = fields.String()


class ApplicationOut(Schema):
    id = fields.Integer()
    applicant = fields.Nested(ApplicationApplicantOut)
    kind = fields.String(metadata={"enum": [k.value for k in ApplicationKind]})
    kind_label = fields.String()
    level = fields.String()
    level_label = fields.String()
    title = fields.String()
    details = fields.String(allow_none=True)
    event_date = fields.Date()
    study_year = fields.Integer(allow_none=True)
    admission_date = fields.Date(allow_none=True)
    amount = fields.Integer(metadata={"description": "credits by the rules of the year it counts in"})
    state = fields.String(metadata={"enum": [s.value for s in ApplicationState]})
    state_label = fields.String()
    submitted_at = fields.DateTime()
    evidence_name = fields.String(allow_none=True)
    evidence_url = fields.String(allow_none=True)
    reviewed_by = fields.Nested(Ref, allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    review_comment = fields.String(allow_none=True)
    decided_by = fields.Nested(Ref, allow_none=True, metadata={
        "description": "who approved or rejected it (or the applicant, for a withdrawal)"})
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    entry_id = fields.Integer(allow_none=True, metadata={"description": "the ledger entry, once approved"})
    credited_year = fields.Integer(allow_none=True, metadata={"description": "the year the entry counts in"})
    actions = fields.List(fields.String(), metadata={
        "description": "what the caller may do now: withdraw, review, decide"})


class ApplicationListArgs(PageArgs):
    state = fields.String(validate=validate.OneOf([s.value for s in ApplicationState]))
    kind = fields.String(validate=validate.OneOf([k.value for k in ApplicationKind]))


class ApplicationList(Schema):
    items = fields.List(fields.Nested(ApplicationOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ApplicationReviewArgs(Schema):
    forward = fields.Boolean(required=True, metadata={"description": "true: forward to the organisation "
                                                                     "department; false: return (comment required)"})
    comment = fields.String(load_default=None, validate=validate.Length(max=2000))


class ApplicationDecisionArgs(Schema):
    approve = fields.Boolean(required=True)
    reason = fields.String(load_default=None, validate=validate.Length(max=2000),
                           metadata={"description": "required when not approving"})


# --- serialiser --------------------------------------------------------------------------

def _person(user) -> dict | None:
    return {"id": user.id, "name": user.name} if user is not None else None


def application_dict(a: CreditApplication) -> dict:
    return {
        "id": a.id, "applicant": {"id": a.user.id, "name": a.user.name, "unit_id": a.user.unit_id,
                                  "unit_name": a.user.unit.name},
        "kind": a.kind.value, "kind_label": str(KIND_LABELS[a.kind.value]), "level": a.level,
        "level_label": str(LEVEL_LABELS.get(a.level, a.level)), "title": a.title, "details": a.details,
        "event_date": a.event_date, "study_year": a.study_year, "admission_date": a.admission_date,
        "amount": a.amount, "state": a.state.value, "state_label": str(APPLICATION_STATE_LABELS[a.state.value]),
        "submitted_at": a.submitted_at, "evidence_name": a.evidence_name,
        "evidence_url": url_for("credits_applications_api.get_credit_application_evidence", application_id=a.id)
        if a.evidence_path else None,
        "reviewed_by": _person(a.reviewed_by), "reviewed_at": a.reviewed_at, "review_comment": a.review_comment,
        "decided_by": _person(a.decided_by), "decided_at": a.decided_at, "decision_reason": a.decision_reason,
        "entry_id": a.entry_id, "credited_year": a.entry.year if a.entry else None,
        "actions": sorted(applications.allowed_actions(current_user, a)),
    }


# --- operations --------------------------------------------------------------------------

@blp.route("/credits/applications", methods=["POST"])
@blp.arguments(ApplyForCreditsArgs, location="form")
@blp.arguments(ApplicationEvidenceFile, location="files")
@blp.response(201, ApplicationOut)
@blp.alt_response(400, schema=Problem, description="invalid input, with the field at fault")
@blp.alt_response(409, schema=Problem, description="a live degree application for that year of study exists")
@blp.doc(operationId="applyForCredits")
@login_required
def apply_for_credits(args, files):
    """申请学分 A cadre applies for additional or reward credits (multipart, with the evidence file)."""
    with evidence_upload(files["evidence"]) as stored:
        application = applications.apply(current_user, evidence=stored, origin=origin_from_request(), **args)
        commit()
    return application_dict(application)


@blp.route("/credits/applications", methods=["GET"])
@blp.arguments(ApplicationListArgs, location="query")
@blp.response(200, ApplicationList)
@blp.doc(operationId="listCreditApplications")
@login_required
def list_credit_applications(args):
    """学分申请列表 The caller's own applications (a cadre) or those of the cadres in the caller's subtree."""
    page = applications.list_applications(current_user, state=args.get("state"), kind=args.get("kind"),
                                          page=args["page"], per_page=args["per_page"])
    return page_body(page, [application_dict(a) for a in page.items])


@blp.route("/credits/applications/<int:application_id>", methods=["GET"])
@blp.response(200, ApplicationOut)
@blp.alt_response(404, schema=Problem)
@blp.doc(operationId="getCreditApplication")
@login_required
def get_credit_application(application_id):
    """学分申请详情 One application (404 if not the caller's and outside the caller's subtree)."""
    return application_dict(applications.get_application(current_user, application_id))


@blp.route("/credits/applications/<int:application_id>/evidence", methods=["GET"])
@blp.doc(operationId="getCreditApplicationEvidence",
         responses={"200": {"description": "the evidence file",
                            "content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}}})
@login_required
def get_credit_application_evidence(application_id):
    """证明材料 Download an application's evidence file."""
    a = applications.get_application(current_user, application_id)
    if not a.evidence_path:
        raise NotFound(_("没有证明材料"))
    return send_evidence(a.evidence_path, a.evidence_name)


@blp.route("/credits/applications/<int:application_id>/review", methods=["POST"])
@blp.arguments(ApplicationReviewArgs)
@blp.response(200, ApplicationOut)
@blp.alt_response(409, schema=Problem, description="the application is no longer waiting for review")
@blp.doc(operationId="reviewCreditApplication")
@login_required
def review_credit_application(args, application_id):
    """单位审核 A network administrator forwards an application or returns it (comment required)."""
    a = applications.review(current_user, application_id, forward=args["forward"], comment=args["comment"],
                            origin=origin_from_request())
    commit()
    return application_dict(a)


@blp.route("/credits/applications/<int:application_id>/decision", methods=["POST"])
@blp.arguments(ApplicationDecisionArgs)
@blp.response(200, ApplicationOut)
@blp.alt_response(409, schema=Problem, description="already decided or withdrawn")
@blp.doc(operationId="decideCreditApplication")
@login_required
def decide_credit_application(args, application_id):
    """组织部审批 Approve (credits enter the ledger once) or reject (reason required)."""
    a = applications.decide(current_user, application_id, approve=args["approve"], reason=args["reason"],
                            origin=origin_from_request())
    commit()
    return application_dict(a)


@blp.route("/credits/applications/<int:application_id>/withdraw", methods=["POST"])
@blp.response(200, ApplicationOut)
@blp.alt_response(409, schema=Problem, description="already decided")
@blp.doc(operationId="withdrawCreditApplication")
@login_required
def withdraw_credit_application(application_id):
    """撤回申请 The applicant withdraws an application that has not been decided."""
    a = applications.withdraw(current_user, application_id, origin=origin_from_request())
    commit()
    return application_dict(a)
