"""Catalogue administration pages: categories, course editor, lessons and video uploads."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.accounts.forms import RANK_CHOICES
from app.catalogue import services, uploads
from app.catalogue.forms import CategoryForm, CourseForm, LessonForm, RenameForm, VideoForm
from app.catalogue.models import Category, CourseState, Lesson, MediaJobState
from app.db import commit
from app.errors import DomainError, NotFound
from app.extensions import db
from app.web import apply_error as _apply_error, flash_form_errors, int_arg, origin_from_request, upload_size

bp = Blueprint("catalogue_admin", __name__, url_prefix="/admin/catalogue")


@bp.before_request
@login_required
def _managers_only():
    services.require_manager(current_user)


# --- categories ---------------------------------------------------------------------------

@bp.route("/categories", methods=["GET", "POST"])
def categories():
    form = CategoryForm()
    status = 200
    if form.validate_on_submit():
        try:
            cat = services.create_category(current_user, code=form.code.data, name=form.name.data,
                                           kind=form.kind.data, origin=origin_from_request())
        except DomainError as err:
            _apply_error(form, err)
            status = 400
        else:
            commit()
            flash(_("已新建分类“%(n)s”", n=cat.name), "success")
            return redirect(url_for(".categories"))
    elif request.method == "POST":
        status = 400
    cats = services.list_categories(include_retired=True)
    counts = services.course_counts(current_user)
    return render_template("catalogue/admin/categories.html", form=form, cats=cats, counts=counts,
                           rename=RenameForm()), status


@bp.post("/categories/<int:category_id>")
def category_action(category_id: int):
    cat = services.get_category(category_id)
    action = request.form.get("action")
    origin = origin_from_request()
    form = RenameForm()
    if not form.validate_on_submit() and action == "rename" or not form.csrf_token.validate(form):
        flash(_("请填写新名称") if action == "rename" else _("表单已过期,请重试"), "error")
        return redirect(url_for(".categories")), 303
    try:
        if action == "rename":
            services.rename_category(current_user, cat, form.name.data, origin=origin)
        elif action in ("up", "down"):
            services.move_category(current_user, cat, -1 if action == "up" else 1, origin=origin)
        elif action in ("retire", "restore"):
            services.retire_category(current_user, cat, retire=action == "retire", origin=origin)
        else:
            raise NotFound(_("未知操作"))
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        commit()
        if action in ("rename", "retire", "restore"):
            flash({"rename": _("已更名为“%(n)s”"), "retire": _("已停用分类“%(n)s”,其课程保留"),
                   "restore": _("已恢复分类“%(n)s”")}[action] % {"n": cat.name}, "success")
    return redirect(url_for(".categories")), 303


# --- courses ------------------------------------------------------------------------------

def _course_form(obj=None) -> CourseForm:
    form = CourseForm(obj=obj)
    local = _("(地方特色)")
    form.category_id.choices = [(c.id, c.name + (local if c.kind.value == "local" else ""))
                                for c in services.list_categories()]
    if obj is not None and request.method == "GET":
        form.target_ranks.data = obj.rank_list
    elif obj is None and request.method == "GET":
        form.target_ranks.data = [r for r, _label in RANK_CHOICES]
    return form


def _form_values(form: CourseForm) -> dict:
    return dict(title=form.title.data, category_id=form.category_id.data, lecturer=form.lecturer.data,
                lecturer_title=form.lecturer_title.data or "", description=form.description.data or "",
                class_hours=form.class_hours.data, credits=form.credits.data, required=form.required.data,
                target_ranks=form.target_ranks.data)


@bp.get("/courses")
def courses():
    f = services.CourseFilter(category_id=int_arg("category_id"), state=request.args.get("state") or None,
                              page=int_arg("page", 1), per_page=30)
    if f.state not in (None, *[s.value for s in CourseState]):
        f.state = None
    page = services.list_courses(current_user, f)
    jobs = {}
    return render_template("catalogue/admin/courses.html", page=page, cats=services.list_categories(include_retired=True),
                           f=f, jobs=jobs, states=CourseState)


@bp.route("/courses/new", methods=["GET", "POST"])
def course_new():
    form = _course_form()
    status = 200
    if form.validate_on_submit():
        try:
            course = services.create_course(current_user, services.CourseInfo(**_form_values(form)),
                                            origin=origin_from_request())
        except DomainError as err:
            _apply_error(form, err)
            status = 400
        else:
            commit()
            flash(_("已新建课程(草稿)。请添加课时并上传视频,然后发布。"), "success")
            return redirect(url_for(".course_edit", course_id=course.id))
    elif request.method == "POST":
        status = 400
    return render_template("catalogue/admin/course_form.html", form=form, course=None), status


@bp.route("/courses/<int:course_id>", methods=["GET", "POST"])
def course_edit(course_id: int):
    course = services.get_course(current_user, course_id)
    form = _course_form(course)
    status = 200
    if form.validate_on_submit():
        try:
            diff = services.update_course(current_user, course, _form_values(form), origin=origin_from_request())
        except DomainError as err:
            _apply_error(form, err)
            status = 400
        else:
            commit()
            flash(_("已保存") if diff else _("没有改动"), "success")
            return redirect(url_for(".course_edit", course_id=course.id))
    elif request.method == "POST":
        status = 400
    lessons = [(lesson, uploads.latest_job(lesson)) for lesson in course.lessons]
    return render_template("catalogue/admin/course_form.html", form=form, course=course, lessons=lessons,
                           lesson_form=LessonForm(formdata=None), video_form=VideoForm(formdata=None),
                           states=CourseState, chunk=current_app.config["VIDEO_CHUNK_BYTES"],
                           max_bytes=current_app.config["VIDEO_MAX_BYTES"]), status


@bp.post("/courses/<int:course_id>/state")
def course_state(course_id: int):
    course = services.get_course(current_user, course_id)
    form = RenameForm()
    if not form.csrf_token.validate(form):
        flash(_("表单已过期,请重试"), "error")
        return redirect(url_for(".course_edit", course_id=course.id)), 303
    try:
        services.set_course_state(current_user, course, request.form.get("state", ""), origin=origin_from_request())
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        commit()
        flash({"published": _("课程已发布"), "draft": _("课程已撤回为草稿"), "retired": _("课程已下架")}
              [course.state.value], "success")
    return redirect(url_for(".course_edit", course_id=course.id)), 303


@bp.post("/courses/<int:course_id>/lessons")
def lesson_add(course_id: int):
    course = services.get_course(current_user, course_id)
    form = LessonForm()
    if form.validate_on_submit():
        try:
            services.add_lesson(current_user, course, form.title.data, form.summary.data or "",
                                origin=origin_from_request())
        except DomainError as err:
            db.session.rollback()
            flash(err.message, "error")
        else:
            commit()
            flash(_("已添加课时"), "success")
    else:
        flash_form_errors(form)
    return redirect(url_for(".course_edit", course_id=course.id) + "#lessons"), 303


def _lesson(lesson_id: int) -> Lesson:
    return services.get_lesson(current_user, lesson_id)


@bp.post("/lessons/<int:lesson_id>")
def lesson_edit(lesson_id: int):
    lesson = _lesson(lesson_id)
    form = LessonForm()
    if form.validate_on_submit():
        try:
            services.update_lesson(current_user, lesson, form.title.data, form.summary.data or "",
                                   origin=origin_from_request())
        except DomainError as err:
            db.session.rollback()
            flash(err.message, "error")
        else:
            commit()
            flash(_("已保存课时"), "success")
    return redirect(url_for(".course_edit", course_id=lesson.course_id) + f"#lesson-{lesson.id}"), 303


@bp.post("/lessons/<int:lesson_id>/video")
def lesson_video(lesson_id: int):
    """Upload without JavaScript: the whole file in one request (the page's script sends chunks)."""
    lesson = _lesson(lesson_id)
    form = VideoForm()
    back = url_for(".course_edit", course_id=lesson.course_id) + f"#lesson-{lesson.id}"
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(back), 303
    upload = form.file.data
    try:
        job = uploads.upload_whole(current_user, lesson, upload.filename or "", upload.stream, upload_size(upload),
                                   origin=origin_from_request())
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(back), 303
    commit()
    if job.state == MediaJobState.FAILED:
        flash(_("视频无法使用:%(r)s", r=job.error), "error")
    else:
        flash(_("已上传,正在后台转码"), "success")
    return redirect(back), 303
