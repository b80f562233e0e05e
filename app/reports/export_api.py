"""Background report exports in the JSON API: ask (createReportExport), follow the progress
(getReportExport, listReportExports) and download the file (downloadReportExport)."""
from __future__ import annotations

from flask import send_file, url_for
from flask_login import current_user, login_required
from marshmallow import Schema, fields, validate

from app.api.schemas import DbId, Problem
from app.db import commit
from app.reports import export_jobs
from app.reports.api import blp
from app.reports.exports import content_disposition, ascii_fallback
from app.reports.models import ReportExport
from app.web import origin_from_request


class ExportIn(Schema):
    kind = fields.String(required=True, metadata={"description": "unit, course, trend or year_end (the year-end "
                                                                  "assessment report of a unit, one file)"})
    format = fields.String(load_default="xlsx", validate=validate.OneOf(export_jobs.FORMATS))
    unit_id = DbId()
    user_id = DbId()
    course_id = DbId()
    category_id = DbId()
    start = fields.Date()
    end = fields.Date()
    year = fields.Integer(metadata={"description": "year_end: the assessment year (default: this year)"})
    granularity = fields.String(allow_none=True, validate=validate.OneOf(("day", "week", "month")),
                                metadata={"description": "trend: day, week or month (default: by the period's length)"})


class ExportOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    format = fields.String(attribute="fmt")
    title = fields.String()
    params = fields.Dict()
    state = fields.String(metadata={"enum": ["queued", "running", "done", "failed", "expired"]})
    progress = fields.Integer(metadata={"description": "0…100"})
    stage = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    filename = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    download_url = fields.Method("_download", allow_none=True)

    def _download(self, e: ReportExport):
        return url_for("reports_api.download_report_export", export_id=e.id) if e.state == "done" else None


@blp.route("/reports/exports", methods=["POST"])
@blp.arguments(ExportIn)
@blp.response(202, ExportOut, description="queued; follow it with getReportExport")
@blp.alt_response(400, schema=Problem, description="unknown kind, bad format, year or period")
@blp.alt_response(404, schema=Problem, description="no such unit, cadre or course in the caller's scope")
@blp.alt_response(422, schema=Problem, description="code too_many_exports: three are already running")
@blp.doc(operationId="createReportExport")
@login_required
def create_report_export(args):
    """后台导出 Export a report (or the year-end assessment report of a unit) as a file, built in the
    background with progress."""
    kind, fmt = args.pop("kind"), args.pop("format")
    params = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in args.items()}
    e = export_jobs.request_export(current_user, kind, fmt, params, origin=origin_from_request())
    commit()
    return export_jobs.get_export(current_user, e.id)


@blp.route("/reports/exports", methods=["GET"])
@blp.response(200, ExportOut(many=True))
@blp.doc(operationId="listReportExports")
@login_required
def list_report_exports():
    """我的导出 The caller's exports, newest first (files are kept seven days)."""
    return export_jobs.list_exports(current_user)


@blp.route("/reports/exports/<int:export_id>", methods=["GET"])
@blp.response(200, ExportOut)
@blp.alt_response(404, schema=Problem, description="not the caller's export")
@blp.doc(operationId="getReportExport")
@login_required
def get_report_export(export_id):
    """导出进度 One export: state, progress and, when done, where to download it."""
    return export_jobs.get_export(current_user, export_id)


@blp.route("/reports/exports/<int:export_id>/file", methods=["GET"])
@blp.doc(operationId="downloadReportExport", responses={"200": {"description": "the file", "content": {
    "text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
@blp.alt_response(404, schema=Problem, description="not the caller's, not finished or expired")
@login_required
def download_report_export(export_id):
    """下载导出文件 The finished export's file (only for the person who asked for it)."""
    return send_export(export_id)


def send_export(export_id: int):
    e, path = export_jobs.export_file(current_user, export_id)
    resp = send_file(path, mimetype="text/csv; charset=utf-8" if e.fmt == "csv" else
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", max_age=0)
    resp.headers["Content-Disposition"] = content_disposition(e.filename, ascii_fallback(f"report-export-{e.id}.{e.fmt}"))
    resp.headers["Cache-Control"] = "no-store"
    return resp
