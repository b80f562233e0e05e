"""The organisation department's question bank editor and exam settings per course, with the
XLSX import (template download, per-row error report)."""
from __future__ import annotations

import io

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.catalogue import services as catalogue
from app.catalogue.models import Course
from app.db import commit
from app.errors import DomainError
from app.exams import bank, services
from app.exams.admin_forms import ActionForm, ImportForm, QuestionForm, SettingsForm
from app.exams.models import QuestionKind
from app.extensions import db
from app.web import apply_error, flash_form_errors, origin_from_request

bp = Blueprint("exams_admin", __name__, url_prefix="/admin/exams")

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.before_request
@login_required
def _managers_only():
    catalogue.require_manager(current_user)


def _course(course_id: int) -> Course:
    return catalogue.get_course(current_user, course_id)


def _bank_page(course: Course, *, settings_form: SettingsForm | None = None, question_form: QuestionForm | None = None,
               import_errors=None, import_name: str | None = None, status: int = 200):
    """The course's exam page: settings, the bank (active, then retired), add and import forms."""
    setting = services.get_setting(course.id)
    pool = services.pool_of(course.id)
    questions = bank.list_questions(current_user, course.id, include_retired=True)
    return render_template(
        "exams/admin_bank.html", course=course, setting=setting, pool=pool,
        pool_total=sum(len(ids) for ids in pool.values()),
        shortfall=services.shortfall(setting, pool) if setting is not None else None,
        active=[q for q in questions if q.retired_at is None], retired=[q for q in questions if q.retired_at],
        usage=bank.usage_counts(course.id), kinds=_kind_labels(),
        settings_form=settings_form or SettingsForm.for_setting(setting),
        question_form=question_form or QuestionForm(formdata=None),
        import_form=ImportForm(formdata=None), import_errors=import_errors, import_name=import_name), status


def _flash_stale(form) -> None:
    if form.csrf_token.errors:
        flash(_("表单已过期,请重试"), "error")


def _kind_labels() -> dict[str, str]:
    return {k.value: services.kind_label(k.value) for k in QuestionKind}


@bp.get("/courses/<int:course_id>", endpoint="bank")
def bank_page(course_id: int):
    return _bank_page(_course(course_id))


@bp.post("/courses/<int:course_id>/settings")
def settings(course_id: int):
    course = _course(course_id)
    form = SettingsForm()
    if form.validate_on_submit():
        try:
            services.update_setting(current_user, course.id, form.values(), origin=origin_from_request())
        except DomainError as err:
            db.session.rollback()
            apply_error(form, err)
        else:
            commit()
            flash(_("已保存考试设置"), "success")
            return redirect(url_for(".bank", course_id=course.id)), 303
    _flash_stale(form)
    flash(_("考试设置未保存,请修改标红的内容"), "error")
    return _bank_page(course, settings_form=form, status=400)


@bp.post("/courses/<int:course_id>/questions")
def question_new(course_id: int):
    course = _course(course_id)
    form = QuestionForm()
    if form.validate_on_submit():
        try:
            q = bank.create_question(current_user, course.id, form.values(), origin=origin_from_request())
        except DomainError as err:
            db.session.rollback()
            if not form.apply_service_errors(err):
                flash(err.message, "error")
        else:
            commit()
            flash(_("已新增题目"), "success")
            return redirect(url_for(".bank", course_id=course.id) + f"#q-{q.id}"), 303
    _flash_stale(form)
    flash(_("题目未保存,请修改“新增题目”中标红的内容"), "error")
    return _bank_page(course, question_form=form, status=400)


@bp.route("/questions/<int:question_id>", methods=["GET", "POST"])
def question_edit(question_id: int):
    q = bank.get_question(current_user, question_id)
    course = _course(q.course_id)
    form = QuestionForm() if request.method == "POST" else QuestionForm.for_question(q)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            try:
                current = bank.update_question(current_user, q.id, form.values(), origin=origin_from_request())
            except DomainError as err:
                db.session.rollback()
                if not form.apply_service_errors(err):
                    flash(err.message, "error")
            else:
                replaced = current.id != question_id
                commit()
                flash(_("本题已被试卷使用:原题已停用并保留在这些试卷中,修改后的题目作为新版本加入题库")
                      if replaced else _("已保存题目"), "success")
                return redirect(url_for(".bank", course_id=course.id) + f"#q-{current.id}"), 303
        _flash_stale(form)
        q = bank.get_question(current_user, question_id)
    used = bank.usage_counts(course.id).get(q.id, 0)
    return render_template("exams/admin_question.html", course=course, q=q, form=form, used=used,
                           kinds=_kind_labels()), status


def _question_action(question_id: int, action, done: str):
    q = bank.get_question(current_user, question_id)
    course_id = q.course_id
    form = ActionForm()
    if not form.validate_on_submit():
        flash(_("表单已过期,请重试"), "error")
    else:
        try:
            action(current_user, q.id, origin=origin_from_request())
        except DomainError as err:
            db.session.rollback()
            flash(err.message, "error")
        else:
            commit()
            flash(done, "success")
    return redirect(url_for(".bank", course_id=course_id) + f"#q-{question_id}"), 303


@bp.post("/questions/<int:question_id>/retire")
def question_retire(question_id: int):
    return _question_action(question_id, bank.retire_question,
                            _("已停用题目:新试卷不再抽到本题,已考试卷不受影响"))


@bp.post("/questions/<int:question_id>/restore")
def question_restore(question_id: int):
    return _question_action(question_id, bank.restore_question, _("已恢复题目"))


@bp.post("/courses/<int:course_id>/import")
def import_questions(course_id: int):
    course = _course(course_id)
    form = ImportForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return _bank_page(course, status=400)
    upload = form.file.data
    try:
        result = bank.import_xlsx(current_user, course.id, upload.read(), origin=origin_from_request())
    except DomainError as err:  # not a workbook, not the template's columns, too many rows
        db.session.rollback()
        flash(_("未导入:%(why)s", why=err.message), "error")
        return _bank_page(course, status=400)
    if not result.ok:
        db.session.rollback()
        return _bank_page(course, import_errors=result.errors, import_name=upload.filename, status=400)
    commit()
    if result.unchanged:
        flash(_("已导入 %(n)d 道题,%(m)d 道与题库重复未导入", n=result.created, m=result.unchanged), "success")
    else:
        flash(_("已导入 %(n)d 道题", n=result.created), "success")
    return redirect(url_for(".bank", course_id=course.id)), 303


@bp.get("/template.xlsx")
def template():
    return send_file(io.BytesIO(bank.template_xlsx()), mimetype=XLSX_MIME, as_attachment=True,
                     download_name="题目导入模板.xlsx")
