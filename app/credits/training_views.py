"""Offline-training pages (脱产培训登记): the list of classes, the recording form with its preview,
a class's detail and its evidence file."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.accounts.idnumber import mask_id_number
from app.accounts.scope import ADMIN_ROLES, STAFF_ROLES, require_role
from app.credits import services, training
from app.credits.evidence import evidence_upload, send_evidence
from app.credits.training_forms import TrainingForm
from app.db import commit
from app.errors import DomainError
from app.extensions import db
from app.web import apply_error, int_arg, origin_from_request

bp = Blueprint("credits_training", __name__, url_prefix="/credits/training")

PER_PAGE = 50


def _args(form: TrainingForm) -> dict:
    return {"name": form.name.data, "organiser": form.organiser.data, "start_date": form.start_date.data,
            "end_date": form.end_date.data, "days": form.days.data, "cadre_lines": form.cadres.data}


def _rules():
    """This year's rules, for the explanations on the pages."""
    return services.get_rules(services.today().year)


@bp.get("/")
@login_required
def index():
    require_role(current_user, *STAFF_ROLES)
    page = training.list_classes(current_user, page=int_arg("page", 1), per_page=PER_PAGE)
    return render_template("credits/training_list.html", page=page, totals=training.class_totals(page.items),
                           can_record=current_user.role in ADMIN_ROLES, rules=_rules())


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    require_role(current_user, *ADMIN_ROLES)
    form = TrainingForm()
    preview = None
    status = 200
    if form.validate_on_submit():
        if request.form.get("action") == "record":
            upload = form.evidence.data
            if not upload or not upload.filename:
                form.evidence.errors = [_("请上传证明材料(结业证书、培训通知或签到表)")]
                status = 400
            else:
                try:
                    with evidence_upload(upload) as stored:
                        cls = training.record_training(current_user, **_args(form), evidence=stored,
                                                       note=form.note.data, origin=origin_from_request())
                        commit()
                except DomainError as err:
                    db.session.rollback()
                    apply_error(form, err)
                    status = err.status
                else:
                    flash(_("已登记培训班「%(name)s」:%(n)d 名学员,每人 %(c)d 学分、%(h)d 学时",
                            name=cls.name, n=len(cls.attendances), c=cls.attendances[0].credits,
                            h=cls.attendances[0].hours), "success")
                    return redirect(url_for("credits_training.detail", class_id=cls.id))
        try:  # the preview, also after a refusal so that each cadre's problem is shown
            preview = training.preview_training(current_user, **_args(form))
        except DomainError as err:
            apply_error(form, err)
            status = max(status, err.status)
    elif request.method == "POST":
        status = 400
    return render_template("credits/training_new.html", form=form, preview=preview, rules=_rules()), status


@bp.get("/<int:class_id>")
@login_required
def detail(class_id: int):
    require_role(current_user, *STAFF_ROLES)
    cls = training.get_class(current_user, class_id)
    attendances = training.visible_attendances(current_user, cls)
    totals = training.class_totals([cls])[cls.id]
    return render_template("credits/training_detail.html", cls=cls, attendances=attendances, totals=totals,
                           hidden=totals.cadres - len(attendances), mask=mask_id_number)


@bp.get("/<int:class_id>/evidence")
@login_required
def evidence(class_id: int):
    require_role(current_user, *STAFF_ROLES)
    cls = training.get_class(current_user, class_id)
    if not cls.evidence_path:
        abort(404)
    return send_evidence(cls.evidence_path, cls.evidence_name)
