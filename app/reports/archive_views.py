"""The learning archive pages (学习档案): a cadre's own, a cadre's for the staff of their unit subtree,
printable, with a verification code that the public page /verify/<code> confirms."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from app.accounts.models import Role, User
from app.accounts.scope import STAFF_ROLES, require_role
from app.credits import services as credits
from app.credits.labels import (
    APPLICATION_STATE_LABELS, CATEGORY_LABELS, CYCLE_STATUS_LABELS, KIND_LABELS, RANK_LABELS, SOURCE_LABELS,
)
from app.credits.rules import LEVEL_LABELS
from app.db import commit
from app.errors import DomainError, NotFound
from app.extensions import db
from app.reports import archive as service
from app.web import int_arg, origin_from_request

bp = Blueprint("archive", __name__)


class IssueForm(FlaskForm):
    year = IntegerField(_l("考核年度"), validators=[InputRequired(), NumberRange(service.MIN_YEAR, service.MAX_YEAR)])


def _can_issue(user: User) -> bool:
    return current_user.id == user.id or current_user.role in (Role.NETADMIN, Role.ORGADMIN)


def _labels() -> dict:
    return {"kinds": KIND_LABELS, "categories": CATEGORY_LABELS, "sources": SOURCE_LABELS, "ranks": RANK_LABELS,
            "cycle_status": CYCLE_STATUS_LABELS, "app_states": APPLICATION_STATE_LABELS, "levels": LEVEL_LABELS,
            "paper_states": service.PAPER_STATE_LABELS, "via_labels": service.VIA_LABELS}


def _page(user: User, *, staff_view: bool):
    year = int_arg("year", credits.today().year, minimum=service.MIN_YEAR, maximum=service.MAX_YEAR)
    a = service.person_archive(current_user, user, year)
    years = service.archive_years(user)
    if year not in years:
        years = sorted({*years, year}, reverse=True)
    cert = service.get_certificate(current_user, user, request.args.get("code"))
    if cert is not None and cert.year != year:
        cert = None
    can_issue = _can_issue(user)
    return render_template(
        "reports/archive.html", a=a, year=year, years=years, staff_view=staff_view, cert=cert,
        code=service.display_code(cert.code) if cert else None,
        verify_url=url_for("archive.verify", code=service.display_code(cert.code), _external=True) if cert else None,
        certificates=service.certificates_of(current_user, user, year), display_code=service.display_code,
        status_label=service.status_label(a), can_issue=can_issue,
        issue_form=IssueForm(formdata=None, year=year) if can_issue else None,
        issue_url=url_for("archive.issue_cadre", user_id=user.id) if staff_view else url_for("archive.issue_mine"),
        page_url=url_for("archive.cadre", user_id=user.id) if staff_view else url_for("archive.mine"),
        export_url=lambda fmt: url_for("reports_api.person_archive", user_id=user.id, year=year, format=fmt),
        **_labels())


@bp.get("/archive/")
@login_required
def mine():
    """我的学习档案."""
    if current_user.role in STAFF_ROLES:
        return redirect(url_for("credits.assessment"))
    return _page(current_user, staff_view=False)


@bp.get("/archive/cadres/<int:user_id>")
@login_required
def cadre(user_id: int):
    require_role(current_user, *STAFF_ROLES)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("学员不存在"))
    return _page(user, staff_view=True)


def _issue(user: User | None, back: str):
    form = IssueForm()
    if not form.validate():
        flash(_("请选择考核年度"), "error")
        return redirect(back)
    try:
        cert = service.issue_certificate(current_user, user, form.year.data, origin=origin_from_request())
    except DomainError as err:
        db.session.rollback()
        if err.status in (403, 404):
            raise
        flash(err.message, "error")
        return redirect(back)
    code = service.display_code(cert.code)
    commit()
    flash(_("已生成验证码 %(code)s:打印的档案上会印出验证码,任何人可在本平台核验。", code=code), "success")
    return redirect(f"{back}?year={cert.year}&code={code}#certificate")


@bp.post("/archive/certificate")
@login_required
def issue_mine():
    if current_user.role in STAFF_ROLES:
        raise NotFound(_("学员不存在"))
    return _issue(current_user, url_for("archive.mine"))


@bp.post("/archive/cadres/<int:user_id>/certificate")
@login_required
def issue_cadre(user_id: int):
    require_role(current_user, *STAFF_ROLES)
    return _issue(db.session.get(User, user_id), url_for("archive.cadre", user_id=user_id))


@bp.get("/verify/")
def verify_form():
    """The page to type a code in (a printed archive names it)."""
    code = (request.args.get("code") or "").strip()
    if code:
        normal = service.normalize_code(code)
        return redirect(url_for("archive.verify", code=service.display_code(normal) if normal else code[:64]))
    return render_template("reports/verify.html", result=None, asked=None)


@bp.get("/verify/<code>")
def verify(code: str):
    """Public: what a printed archive's verification code confirms (no login; the name masked)."""
    result = service.verify(code)
    status = 200 if result is not None else 404
    return render_template("reports/verify.html", result=result, asked=code[:64],
                           display_code=service.display_code, ranks=RANK_LABELS,
                           categories=CATEGORY_LABELS), status
