"""Credit pages: a cadre's 我的学分, an administrator's view of one cadre (with adjustments and
reversals), the assessment of a unit, and the rules of each year with year-end closing."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select
from werkzeug.routing import BuildError

from app.accounts.models import Role, User
from app.accounts.scope import STAFF_ROLES, require_role
from app.accounts.services import get_unit, unit_choices
from app.credits import services
from app.credits.admin_forms import AdjustForm, CloseYearForm, ReverseForm, rules_form
from app.credits.labels import (
    CATEGORY_LABELS, CYCLE_STATUS_LABELS, KIND_LABELS, RANK_LABELS, SOURCE_LABELS, STATUS_LABELS,
)
from app.credits.models import CreditEntry, CreditYear
from app.credits.rules import FIELDS, GROUPS
from app.db import commit
from app.errors import DomainError, NotFound
from app.extensions import db
from app.web import apply_error, flash_form_errors, int_arg, origin_from_request

bp = Blueprint("credits", __name__, url_prefix="/credits")

UNQUALIFIED_SHOWN = 300
ROWS_PER_PAGE = 100


def _url(endpoint: str, **values) -> str | None:
    try:
        return url_for(endpoint, **values)
    except BuildError:  # a page of another part that is not installed
        return None


def source_link(entry: CreditEntry, viewer: User) -> str | None:
    """Where the entry's source can be looked at by this viewer."""
    sid = entry.source_id
    if sid is None:
        return None
    if entry.source_type in ("course_hours", "course_credits"):
        return _url("catalogue.course", course_id=sid)
    if entry.source_type == "application":
        return _url("credits_applications.detail", application_id=sid)
    if entry.source_type == "offline_training" and viewer.role in STAFF_ROLES:
        class_id = (entry.details or {}).get("class_id")
        return _url("credits_training.detail", class_id=class_id) if class_id else None
    return None


def _years(user: User, year: int) -> list[int]:
    """Years a cadre can look at: the current cycle so far and any earlier year with entries."""
    this = services.today().year
    first, _last = services.get_rules(this).cycle_of(this)
    earliest = db.session.scalar(select(func.min(CreditEntry.year)).where(CreditEntry.user_id == user.id))
    start = min(first, earliest or first, year)
    return list(range(max(this, year), start - 1, -1))


def _labels() -> dict:
    return {"kinds": KIND_LABELS, "categories": CATEGORY_LABELS, "sources": SOURCE_LABELS,
            "status": STATUS_LABELS, "cycle_status": CYCLE_STATUS_LABELS, "ranks": RANK_LABELS}


def _summary(user: User, *, admin_view: bool):
    year = int_arg("year", services.today().year, minimum=2000, maximum=2100)
    assessment = services.assess_cadre(current_user, user, year)
    page = services.list_entries(current_user, user, year=year, page=int_arg("page", 1), per_page=50)
    reversed_ids = services.reversed_among(page.items)
    rules = services.get_rules(year)
    can_edit = admin_view and current_user.role == Role.ORGADMIN
    return render_template(
        "credits/summary.html", user=user, a=assessment, year=year, years=_years(user, year), page=page,
        this_year=services.today().year,
        rules=rules, reversed_ids=reversed_ids, admin_view=admin_view, can_edit=can_edit,
        adjust_form=AdjustForm(formdata=None, year=year) if can_edit else None,
        reverse_form=ReverseForm(formdata=None) if can_edit else None,
        link=lambda e: source_link(e, current_user), apply_url=_url("credits_applications.new"),
        applications_url=_url("credits_applications.index"), **_labels())


@bp.get("/")
@login_required
def mine():
    """我的学分."""
    if current_user.role in STAFF_ROLES:
        return redirect(url_for("credits.assessment"))
    return _summary(current_user, admin_view=False)


@bp.get("/cadres/<int:user_id>")
@login_required
def cadre(user_id: int):
    require_role(current_user, *STAFF_ROLES)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("学员不存在"))
    return _summary(user, admin_view=True)


@bp.post("/cadres/<int:user_id>/adjust")
@login_required
def adjust(user_id: int):
    user = db.session.get(User, user_id)
    form = AdjustForm()
    if form.validate():
        try:
            entry = services.adjust_credits(current_user, user, credits=form.credits.data, hours=form.hours.data or 0,
                                            reason=form.reason.data, year=form.year.data,
                                            origin=origin_from_request())
            commit()
            flash(_("已记入 %(year)d 年度:%(c)+d 学分,%(h)+d 学时", year=entry.year, c=entry.credits, h=entry.hours),
                  "success")
        except DomainError as err:
            db.session.rollback()
            if err.status in (403, 404):
                raise
            flash(err.message, "error")
    else:
        flash_form_errors(form)
    return redirect(url_for("credits.cadre", user_id=user_id, year=request.form.get("year") or None))


@bp.post("/entries/<int:entry_id>/reverse")
@login_required
def reverse(entry_id: int):
    entry = db.session.get(CreditEntry, entry_id)
    if entry is None:
        abort(404)
    form = ReverseForm()
    if form.validate():
        try:
            rev = services.reverse_entry(current_user, entry_id, reason=form.reason.data, origin=origin_from_request())
            commit()
            flash(_("已撤销,撤销记录记入 %(year)d 年度", year=rev.year), "success")
        except DomainError as err:
            db.session.rollback()
            if err.status in (403, 404):
                raise
            flash(err.message, "error")
    else:
        flash_form_errors(form)
    return redirect(url_for("credits.cadre", user_id=entry.user_id, year=entry.year))


# --- assessment -----------------------------------------------------------------------------------

@bp.get("/assessment")
@login_required
def assessment():
    """学分考核: a unit subtree's cadres for a year, the unqualified list and the one-third flag."""
    require_role(current_user, *STAFF_ROLES)
    units = unit_choices(current_user)
    unit = get_unit(current_user, int_arg("unit", current_user.unit_id))
    this_year = services.today().year
    year = int_arg("year", this_year, minimum=2000, maximum=this_year)
    ua = services.assess_unit(current_user, unit, year)
    page = int_arg("page", 1)
    rows = ua.rows[(page - 1) * ROWS_PER_PAGE: page * ROWS_PER_PAGE]
    pages = max(1, -(-len(ua.rows) // ROWS_PER_PAGE))
    first, _last = services.get_rules(year).cycle_of(year)
    return render_template(
        "credits/assessment.html", ua=ua, unit=unit, units=units, year=year,
        years=list(range(this_year, min(first, this_year - 5) - 1, -1)), rollup=services.sub_unit_assessments(ua),
        rows=rows, page=page, pages=pages, unqualified=ua.unqualified[:UNQUALIFIED_SHOWN],
        unqualified_shown=UNQUALIFIED_SHOWN, **_labels())


# --- rules and closing ------------------------------------------------------------------------

def _history_rows(versions) -> list[dict]:
    """Each saved version with what it changed against the rules in force before it for its year."""
    from app.credits.rules import DEFAULTS

    rows, earlier = [], []
    for v in sorted(versions, key=lambda v: v.id):
        prior = max((e for e in earlier if e.effective_year <= v.effective_year),
                    key=lambda e: (e.effective_year, e.id), default=None)
        before = {**DEFAULTS, **(prior.values if prior else {})}
        changes = [(k, before.get(k), val) for k, val in v.values.items() if before.get(k) != val]
        rows.append({"version": v, "changes": changes})
        earlier.append(v)
    return rows[::-1]


def _rules_page(form, year: int):
    closed = {cy.year: cy for cy in db.session.scalars(select(CreditYear).where(CreditYear.closed_at.is_not(None))
                                                       .order_by(CreditYear.year.desc()))}
    this_year = services.today().year
    history = _history_rows(services.rule_history())
    groups = [(key, label, [f for f in FIELDS if f.group == key]) for key, label in GROUPS.items()]
    return render_template("credits/rules.html", form=form, year=year, groups=groups, history=history,
                           closed=closed, this_year=this_year, close_form=CloseYearForm(formdata=None, year=this_year),
                           rules=services.get_rules(year), fields=FIELDS,
                           field_labels={f.key: f.label for f in FIELDS})


@bp.get("/rules")
@login_required
def rules():
    require_role(current_user, *STAFF_ROLES)
    year = int_arg("year", services.today().year, minimum=2000, maximum=2100)
    form = rules_form({**services.get_rules(year).values, "effective_year": year})
    return _rules_page(form, year)


@bp.post("/rules")
@login_required
def save_rules():
    require_role(current_user, Role.ORGADMIN)
    form = rules_form({}, formdata=request.form)
    year = form.effective_year.data if isinstance(form.effective_year.data, int) else services.today().year
    if form.validate():
        values = {f.key: getattr(form, f.key).data for f in FIELDS}
        try:
            services.set_rules(current_user, year, values, reason=form.reason.data, origin=origin_from_request())
            commit()
            flash(_("已保存 %(year)d 年起执行的学分规则", year=year), "success")
            return redirect(url_for("credits.rules", year=year))
        except DomainError as err:
            db.session.rollback()
            apply_error(form, err)
    return _rules_page(form, year), 400


@bp.post("/years/close")
@login_required
def close_year():
    require_role(current_user, Role.ORGADMIN)
    form = CloseYearForm()
    if form.validate():
        try:
            n = services.close_year(current_user, form.year.data, origin=origin_from_request())
            commit()
            flash(_("%(year)d 年度已结转:%(n)d 名学员的考核结果已固定", year=form.year.data, n=n), "success")
        except DomainError as err:
            db.session.rollback()
            flash(err.message, "error")
    else:
        flash_form_errors(form)
    return redirect(url_for("credits.rules"))
