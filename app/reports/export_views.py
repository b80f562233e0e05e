"""Export jobs (导出任务): ask for a report file from a report page, follow its progress, download it."""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.accounts.scope import STAFF_ROLES
from app.reports import export_jobs
from app.reports.export_api import send_export
from app.reports.unit_views import bp
from app.web import origin_from_request, run_action

PARAM_KEYS = {"unit": "unit_id", "cadre": "user_id", "course": "course_id", "category": "category_id",
              "start": "start", "end": "end", "year": "year", "granularity": "granularity"}


def _staff() -> None:
    if current_user.role not in STAFF_ROLES:
        abort(403)


@bp.get("/exports")
@login_required
def exports():
    _staff()
    rows = export_jobs.list_exports(current_user)
    return render_template("reports/exports.html", rows=rows, keep_days=export_jobs.EXPORT_KEEP_DAYS,
                           kinds={k: v.label() for k, v in export_jobs.KINDS.items()})


@bp.post("/exports")
@login_required
def request_export():
    """From a report page's export buttons: kind, format and the page's filters."""
    _staff()
    params = {PARAM_KEYS[k]: v for k, v in request.form.items() if k in PARAM_KEYS and v != ""}
    made = []

    def ask():
        made.append(export_jobs.request_export(current_user, request.form.get("kind", ""),
                                               request.form.get("format", "xlsx"), params, origin=origin_from_request()))

    if not run_action(ask, _("已开始导出,完成后可在此下载。")):
        return redirect(request.referrer or url_for("reports.exports"))
    return redirect(url_for("reports.exports", _anchor=f"export-{made[0].id}"))


@bp.get("/exports/<int:export_id>/file")
@login_required
def export_download(export_id: int):
    _staff()
    return send_export(export_id)
