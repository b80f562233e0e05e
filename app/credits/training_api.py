"""Offline training (脱产培训) in the JSON API: record a class for a list of cadres, list and read
classes (operationIds as in API.md)."""
from __future__ import annotations

import re

from flask import request, url_for
from flask_login import current_user, login_required
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.schemas import PageArgs, Problem, Ref, page_body
from app.credits import training
from app.credits.evidence import evidence_upload
from app.credits.models import TrainingClass
from app.db import commit
from app.web import origin_from_request

blp = Blueprint("credits_training_api", __name__, description="脱产培训 Offline training (第七条(一))")

_SEPARATORS = re.compile(r"[,,;;]")


# --- schemas -----------------------------------------------------------------------------

class RecordArgs(Schema):
    name = fields.String(required=True, metadata={"description": "培训班名称 (≤ 200)"})
    organiser = fields.String(required=True, metadata={"description": "主办单位 (≤ 200)"})
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True, metadata={"description": "not after today"})
    days = fields.Integer(required=True, validate=validate.Range(min=1, max=366), metadata={
        "description": "days attended: 1 … the calendar days from start_date to end_date; credits from "
                       "offline_min_days (3) days up"})
    cadres = fields.String(required=True, metadata={
        "description": "one cadre per line or comma-separated: study card number, 18-character ID number or "
                       "username, optionally followed by the name (checked); at most 500"})
    note = fields.String(load_default=None, allow_none=True)
    # Documented here so that the one multipart body is described whole; read from request.files.
    evidence = fields.Raw(load_default=None, load_only=True, metadata={
        "type": "string", "format": "binary",
        "description": "结业证书、培训通知或签到表: PDF, JPG or PNG (checked by content, ≤ 10 MB); optional"})


class EvidenceOut(Schema):
    name = fields.String()
    url = fields.String()


class AttendanceOut(Schema):
    user_id = fields.Integer()
    name = fields.String()
    card_number = fields.String(allow_none=True)
    unit = fields.Nested(Ref)
    credits = fields.Integer()
    hours = fields.Integer()


class TrainingClassOut(Schema):
    id = fields.Integer()
    name = fields.String()
    organiser = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    days = fields.Integer()
    note = fields.String(allow_none=True)
    unit = fields.Nested(Ref, metadata={"description": "the recorder's unit"})
    recorded_by = fields.Nested(Ref)
    recorded_at = fields.DateTime()
    evidence = fields.Nested(EvidenceOut, allow_none=True)
    cadres = fields.Integer(metadata={"description": "number of cadres credited"})
    credits = fields.Integer(metadata={"description": "credits per cadre"})
    hours = fields.Integer(metadata={"description": "class hours (学时) per cadre"})


class TrainingClassDetailOut(TrainingClassOut):
    attendances = fields.List(fields.Nested(AttendanceOut), metadata={
        "description": "the cadres of the caller's subtree"})


class TrainingClassList(Schema):
    items = fields.List(fields.Nested(TrainingClassOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


# --- serialisers -------------------------------------------------------------------------

def class_dict(cls: TrainingClass, totals: training.ClassTotals) -> dict:
    evidence = None
    if cls.evidence_path:
        evidence = {"name": cls.evidence_name, "url": url_for("credits_training.evidence", class_id=cls.id)}
    return {"id": cls.id, "name": cls.name, "organiser": cls.organiser, "start_date": cls.start_date,
            "end_date": cls.end_date, "days": cls.days, "note": cls.note,
            "unit": {"id": cls.unit.id, "name": cls.unit.name},
            "recorded_by": {"id": cls.recorded_by.id, "name": cls.recorded_by.name},
            "recorded_at": cls.recorded_at, "evidence": evidence, "cadres": totals.cadres,
            "credits": totals.credits, "hours": totals.hours}


def detail_dict(cls: TrainingClass) -> dict:
    body = class_dict(cls, training.class_totals([cls])[cls.id])
    rows = []
    for a in training.visible_attendances(current_user, cls):
        card = a.user.active_card or (a.user.cards[-1] if a.user.cards else None)
        rows.append({"user_id": a.user_id, "name": a.user.name, "card_number": card.number if card else None,
                     "unit": {"id": a.user.unit.id, "name": a.user.unit.name}, "credits": a.credits,
                     "hours": a.hours})
    body["attendances"] = rows
    return body


# --- operations ---------------------------------------------------------------------------

@blp.route("/credits/training", methods=["POST"])
@blp.arguments(RecordArgs, location="form", content_type="multipart/form-data")
@blp.response(201, TrainingClassDetailOut)
@blp.alt_response(400, schema=Problem, description="bad input; `errors` lists every problem by field "
                                                   "(cadres: one message per line) and nothing is written")
@blp.alt_response(403, schema=Problem, description="only network administrators and the organisation department")
@blp.alt_response(409, schema=Problem, description="a cadre already has this class (same name, overlapping dates)")
@blp.doc(operationId="recordOfflineTraining")
@login_required
def record_offline_training(args):
    """登记脱产培训 Record an offline training class for cadres of the caller's subtree: each earns
    the day rate from the minimum number of days up, and the class hours; all or nothing."""
    cadres = _SEPARATORS.sub("\n", args["cadres"])
    with evidence_upload(request.files.get("evidence"), required=False) as stored:
        cls = training.record_training(current_user, name=args["name"], organiser=args["organiser"],
                                       start_date=args["start_date"], end_date=args["end_date"], days=args["days"],
                                       cadre_lines=cadres, evidence=stored, note=args.get("note"),
                                       origin=origin_from_request())
        commit()
    return detail_dict(cls)


@blp.route("/credits/training", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, TrainingClassList)
@blp.doc(operationId="listOfflineTraining")
@login_required
def list_offline_training(args):
    """脱产培训列表 Classes recorded in the caller's subtree or attended by its cadres, latest first."""
    page = training.list_classes(current_user, page=args["page"], per_page=args["per_page"])
    totals = training.class_totals(page.items)
    return page_body(page, [class_dict(c, totals[c.id]) for c in page.items])


@blp.route("/credits/training/<int:class_id>", methods=["GET"])
@blp.response(200, TrainingClassDetailOut)
@blp.alt_response(404, schema=Problem)
@blp.doc(operationId="getOfflineTraining")
@login_required
def get_offline_training(class_id):
    """脱产培训详情 One class with its cadres' credits and hours (404 outside the caller's scope)."""
    return detail_dict(training.get_class(current_user, class_id))
