"""Credit application pages (学分申请, 第十二条): a cadre's applications and the form to apply; the
review queue of network administrators and the organisation department; one application with its
evidence, its history and the actions the viewer may take."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from app.accounts.models import Role
from app.accounts.scope import STAFF_ROLES, require_role
from app.credits import applications, services
from app.credits.application_forms import ApplicationForm, DecideForm, ReviewForm, WithdrawForm, split_level
from app.credits.evidence import evidence_upload, send_evidence
from app.credits.labels import APPLICATION_STATE_LABELS, KIND_LABELS
from app.credits.models import ApplicationKind, ApplicationState
from app.credits.rules import LEVEL_LABELS, LEVELS
from app.db import commit
from app.errors import DomainError, NotFound
from app.extensions import db
from app.web import apply_error, int_arg, origin_from_request, run_action

bp = Blueprint("credits_applications", __name__, url_prefix="/credits/applications")

PER_PAGE = 30
# The queue an administrator lands on: what waits for them.
DEFAULT_QUEUE = {Role.NETADMIN: ApplicationState.SUBMITTED.value, Role.ORGADMIN: ApplicationState.REVIEWED.value}
BADGE_CLASSES = {"submitted": "badge-update", "reviewed": "badge-elective", "approved": "badge-active",
                 "rejected": "badge-lost", "withdrawn": "badge-none"}


def state_badge(state) -> Markup:
    value = getattr(state, "value", state)
    return Markup('<span class="badge badge-application {cls}">{label}</span>').format(
        cls=BADGE_CLASSES.get(value, "badge-none"), label=escape(APPLICATION_STATE_LABELS.get(value, value)))


def _labels() -> dict:
    return {"kinds": KIND_LABELS, "levels": LEVEL_LABELS, "states": APPLICATION_STATE_LABELS,
            "state_badge": state_badge}


@bp.get("/")
@login_required
def index():
    """A cadre's own applications; for staff, the queue of their subtree filtered by state."""
    page_no = int_arg("page", 1)
    if current_user.role == Role.CADRE:
        state = request.args.get("state") or None
        page = applications.list_applications(current_user, state=state, page=page_no, per_page=PER_PAGE)
        return render_template("credits/application_list.html", page=page, mine=True, state=state or "all",
                               counts=None, **_labels())
    require_role(current_user, *STAFF_ROLES)
    state = request.args.get("state") or DEFAULT_QUEUE.get(current_user.role, "all")
    kind = request.args.get("kind") or None
    page = applications.list_applications(current_user, state=None if state == "all" else state, kind=kind,
                                          page=page_no, per_page=PER_PAGE)
    return render_template("credits/application_list.html", page=page, mine=False, state=state, kind=kind,
                           counts=applications.count_by_state(current_user), **_labels())


def _amount_table(rules) -> list[tuple[object, list[tuple[object, int]]]]:
    """What each kind and level earns under the rules in force (shown beside the form)."""
    return [(KIND_LABELS[kind.value], [(LEVEL_LABELS[lv], rules.application_amount(kind, lv)) for lv in LEVELS[kind]])
            for kind in ApplicationKind]


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    require_role(current_user, Role.CADRE)
    year = services.today().year
    rules = services.get_rules(year)
    form = ApplicationForm()
    form.set_levels(rules)
    if request.method == "GET" and request.args.get("kind") in {k.value for k in ApplicationKind}:
        form.kind.data = request.args["kind"]
    status = 200
    if form.validate_on_submit():
        _kind, level = split_level(form.level.data)
        try:
            with evidence_upload(form.evidence.data) as stored:
                application = applications.apply(
                    current_user, kind=form.kind.data, level=level, title=form.title.data, details=form.details.data,
                    event_date=form.event_date.data, study_year=form.study_year.data,
                    admission_date=form.admission_date.data, evidence=stored, origin=origin_from_request())
                commit()
        except DomainError as err:
            db.session.rollback()
            apply_error(form, err)
            status = err.status
        else:
            flash(_("申请已提交,等待单位审核"), "success")
            return redirect(url_for(".detail", application_id=application.id))
    elif request.method == "POST":
        status = 400
    return render_template("credits/application_new.html", form=form, year=year, table=_amount_table(rules),
                           **_labels()), status


def _detail_page(application, *, review_form=None, decide_form=None, status: int = 200):
    actions = applications.allowed_actions(current_user, application)
    return render_template(
        "credits/application_detail.html", a=application, actions=actions,
        review_form=review_form or (ReviewForm(formdata=None) if "review" in actions else None),
        decide_form=decide_form or (DecideForm(formdata=None) if "decide" in actions else None),
        withdraw_form=WithdrawForm(formdata=None) if "withdraw" in actions else None,
        mine=application.user_id == current_user.id, **_labels()), status


@bp.get("/<int:application_id>")
@login_required
def detail(application_id: int):
    return _detail_page(applications.get_application(current_user, application_id))


def _act(application_id: int, form, action) -> object:
    """Run a review or decision posted from the detail page: done → back to the page with a
    message; refused → the page again with the form as filled in and the reason."""
    if not form.validate():
        if form.csrf_token.errors:
            abort(400)
        application = applications.get_application(current_user, application_id)
        return _detail_page(application, **{_form_key(form): form}, status=400)
    try:
        message = action()
    except DomainError as err:
        db.session.rollback()
        if err.status in (403, 404):
            raise
        application = applications.get_application(current_user, application_id)
        apply_error(form, err)
        return _detail_page(application, **{_form_key(form): form}, status=err.status)
    commit()
    flash(message, "success")
    return redirect(url_for(".detail", application_id=application_id))


def _form_key(form) -> str:
    return "review_form" if isinstance(form, ReviewForm) else "decide_form"


@bp.post("/<int:application_id>/review")
@login_required
def review(application_id: int):
    form = ReviewForm()

    def action():
        forward = bool(form.forward.data)
        applications.review(current_user, application_id, forward=forward, comment=form.comment.data,
                            origin=origin_from_request())
        return _("已审核通过,报组织部审批") if forward else _("已退回申请")

    return _act(application_id, form, action)


@bp.post("/<int:application_id>/decision")
@login_required
def decide(application_id: int):
    form = DecideForm()

    def action():
        approve = bool(form.approve.data)
        a = applications.decide(current_user, application_id, approve=approve, reason=form.reason.data,
                                origin=origin_from_request())
        if approve:
            return _("已批准:记入 %(year)d 年度 %(n)d 学分", year=a.entry.year, n=a.entry.credits)
        return _("已决定不予批准")

    return _act(application_id, form, action)


@bp.post("/<int:application_id>/withdraw")
@login_required
def withdraw(application_id: int):
    form = WithdrawForm()
    if not form.validate():
        abort(400)
    run_action(lambda: applications.withdraw(current_user, application_id, origin=origin_from_request()), _("申请已撤回"))
    return redirect(url_for(".detail", application_id=application_id))


@bp.get("/<int:application_id>/evidence")
@login_required
def evidence(application_id: int):
    application = applications.get_application(current_user, application_id)
    if not application.evidence_path:
        raise NotFound(_("没有证明材料"))
    return send_evidence(application.evidence_path, application.evidence_name)

