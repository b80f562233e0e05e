"""Catalogue and media in the JSON API (operationIds as in API.md)."""
from __future__ import annotations

from flask import current_app, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from app.api.schemas import DbId, PageArgs, Problem, page_body
from app.catalogue import services, uploads
from app.catalogue.models import RANK_VALUES, Category, Course, CourseState, Lesson, MediaJob, MediaJobState
from app.db import commit
from app.errors import Invalid, NotFound, problem
from app.extensions import db
from app.web import origin_from_request, upload_size

blp = Blueprint("catalogue_api", __name__, description="课程目录与视频 Catalogue and media")


# --- schemas -----------------------------------------------------------------------------

class CategoryOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String(metadata={"enum": ["subject", "local"], "description": "subject 专题分类, local 地方特色"})
    position = fields.Integer()
    retired = fields.Boolean()
    course_count = fields.Integer(metadata={"description": "courses visible to the caller"})


class CategoryRef(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String()


class CategoryList(Schema):
    items = fields.List(fields.Nested(CategoryOut))
    total = fields.Integer()


class CategoryListArgs(Schema):
    include_retired = fields.Boolean(load_default=False)


class LessonOut(Schema):
    id = fields.Integer()
    position = fields.Integer()
    title = fields.String()
    summary = fields.String()
    duration = fields.Float(allow_none=True, metadata={"description": "seconds; null while it has no video"})
    video_url = fields.String(allow_none=True)
    poster_url = fields.String(allow_none=True)


class ExamSettingOut(Schema):
    question_count = fields.Integer()
    time_limit_minutes = fields.Integer()
    pass_mark = fields.Integer()
    attempts_per_day = fields.Integer()
    attempts_total = fields.Integer()
    show_answers_after_pass = fields.Boolean()


class CourseOut(Schema):
    id = fields.Integer()
    code = fields.String()
    title = fields.String()
    category = fields.Nested(CategoryRef)
    lecturer = fields.String()
    lecturer_title = fields.String()
    description = fields.String()
    class_hours = fields.Integer(metadata={"description": "学时"})
    credits = fields.Integer(metadata={"description": "学分 5–20"})
    required = fields.Boolean(metadata={"description": "true 必修, false 选修"})
    target_ranks = fields.List(fields.String(validate=validate.OneOf(RANK_VALUES)))
    state = fields.String(metadata={"enum": [s.value for s in CourseState]})
    published_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()
    lesson_count = fields.Integer()
    duration = fields.Float(metadata={"description": "seconds of video in all lessons"})
    poster_url = fields.String(allow_none=True)


class CourseDetailOut(CourseOut):
    lessons = fields.List(fields.Nested(LessonOut))
    exam = fields.Nested(ExamSettingOut, allow_none=True)
    question_count = fields.Integer(metadata={"description": "active questions in the bank"})


class CourseList(Schema):
    items = fields.List(fields.Nested(CourseOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class CourseListArgs(PageArgs):
    category_id = DbId()
    required = fields.Boolean(metadata={"description": "true: 必修 only, false: 选修 only"})
    kind = fields.String(validate=validate.OneOf(["subject", "local"]),
                         metadata={"description": "local: 地方特色模块 only"})
    rank = fields.String(validate=validate.OneOf(RANK_VALUES))
    state = fields.String(validate=validate.OneOf([s.value for s in CourseState]),
                          metadata={"description": "organisation-department admins only"})


class LessonArgs(Schema):
    title = fields.String(required=True)
    summary = fields.String(load_default="")


class CourseCreateArgs(Schema):
    title = fields.String(required=True)
    category_id = DbId(required=True)
    lecturer = fields.String(required=True)
    lecturer_title = fields.String(load_default="")
    description = fields.String(load_default="")
    class_hours = fields.Integer(required=True, validate=validate.Range(min=1, max=100))
    credits = fields.Integer(required=True, validate=validate.Range(min=5, max=20), metadata={"description": "5–20"})
    required = fields.Boolean(load_default=False)
    target_ranks = fields.List(fields.String(), load_default=lambda: list(RANK_VALUES))
    code = fields.String(load_default=None, allow_none=True)
    lessons = fields.List(fields.Nested(LessonArgs), load_default=list)


class CourseUpdateArgs(Schema):
    title = fields.String()
    category_id = DbId()
    lecturer = fields.String()
    lecturer_title = fields.String()
    description = fields.String()
    class_hours = fields.Integer()
    credits = fields.Integer()
    required = fields.Boolean()
    target_ranks = fields.List(fields.String())
    state = fields.String(validate=validate.OneOf([s.value for s in CourseState]),
                          metadata={"description": "published needs every lesson to have a video"})


class SearchArgs(Schema):
    q = fields.String(required=True, metadata={"description": "words; cut to 50 characters"})
    category_id = DbId()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class SearchHitOut(Schema):
    course = fields.Nested(CourseOut)
    score = fields.Float()
    highlights = fields.Dict(keys=fields.String(), values=fields.String(),
                             metadata={"description": "field → HTML snippet, matches in <mark>"})


class SearchOut(Schema):
    query = fields.String()
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    hits = fields.List(fields.Nested(SearchHitOut))


class UploadForm(Schema):
    upload_id = DbId(metadata={"description": "id of the media job of an upload in progress (later chunks)"})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62),
                            metadata={"description": "byte offset of this chunk; must equal received_bytes"})
    total_size = fields.Integer(validate=validate.Range(min=1, max=2**62),
                                metadata={"description": "size of the whole file (first chunk of a chunked upload)"})


class UploadFile(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class MediaJobOut(Schema):
    id = fields.Integer()
    lesson_id = fields.Integer()
    state = fields.String(metadata={"enum": [s.value for s in MediaJobState]})
    progress = fields.Integer(metadata={"description": "0–100"})
    error = fields.String(allow_none=True)
    original_name = fields.String()
    total_bytes = fields.Integer()
    received_bytes = fields.Integer()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    duration = fields.Float(allow_none=True)
    video_url = fields.String(allow_none=True)


# --- helpers ------------------------------------------------------------------------------

def category_dict(cat: Category, counts: dict[int, int] | None = None) -> dict:
    return {"id": cat.id, "code": cat.code, "name": cat.name, "kind": cat.kind.value, "position": cat.position,
            "retired": cat.retired, "course_count": (counts or {}).get(cat.id, 0)}


def lesson_dict(lesson: Lesson) -> dict:
    v = lesson.video
    return {"id": lesson.id, "position": lesson.position, "title": lesson.title, "summary": lesson.summary,
            "duration": v.duration if v else None,
            "video_url": url_for("media.lesson_video", lesson_id=lesson.id, asset_id=v.id) if v else None,
            "poster_url": url_for("media.lesson_poster", lesson_id=lesson.id, asset_id=v.id) if v else None}


def course_dict(course: Course, *, detail: bool = False) -> dict:
    first = next((lesson for lesson in course.lessons if lesson.video), None)
    out = {"id": course.id, "code": course.code, "title": course.title,
           "category": category_dict(course.category), "lecturer": course.lecturer,
           "lecturer_title": course.lecturer_title, "description": course.description,
           "class_hours": course.class_hours, "credits": course.credits, "required": course.required,
           "target_ranks": course.rank_list, "state": course.state.value, "published_at": course.published_at,
           "updated_at": course.updated_at, "lesson_count": len(course.lessons), "duration": course.duration,
           "poster_url": url_for("media.lesson_poster", lesson_id=first.id, asset_id=first.video_id) if first else None}
    if detail:
        from app.exams.models import ExamSetting, Question

        exam = db.session.get(ExamSetting, course.id)
        out["lessons"] = [lesson_dict(lesson) for lesson in course.lessons]
        out["exam"] = {k: getattr(exam, k) for k in ExamSettingOut._declared_fields} if exam else None
        out["question_count"] = db.session.scalar(select(func.count(Question.id)).where(
            Question.course_id == course.id, Question.retired_at.is_(None)))
    return out


def job_dict(job: MediaJob) -> dict:
    asset = job.asset
    return {"id": job.id, "lesson_id": job.lesson_id, "state": job.state.value, "progress": job.progress,
            "error": job.error, "original_name": job.original_name, "total_bytes": job.total_bytes,
            "received_bytes": job.received_bytes, "created_at": job.created_at, "started_at": job.started_at,
            "finished_at": job.finished_at, "duration": asset.duration if asset else None,
            "video_url": url_for("media.lesson_video", lesson_id=job.lesson_id, asset_id=asset.id) if asset else None}


# --- operations ---------------------------------------------------------------------------

@blp.route("/categories", methods=["GET"])
@blp.arguments(CategoryListArgs, location="query")
@blp.response(200, CategoryList)
@blp.doc(operationId="listCategories")
@login_required
def list_categories(args):
    """分类列表 Subject categories and local-feature modules, in catalogue order, with course counts."""
    cats = services.list_categories(include_retired=args["include_retired"] and services.can_manage(current_user))
    counts = services.course_counts(current_user)
    return {"items": [category_dict(c, counts) for c in cats], "total": len(cats)}


@blp.route("/courses", methods=["GET"])
@blp.arguments(CourseListArgs, location="query")
@blp.response(200, CourseList)
@blp.doc(operationId="listCourses")
@login_required
def list_courses(args):
    """课程列表 Courses visible to the caller, required first, then newest."""
    f = services.CourseFilter(**args)
    page = services.list_courses(current_user, f)
    return page_body(page, [course_dict(c) for c in page.items])


@blp.route("/courses/<int:course_id>", methods=["GET"])
@blp.response(200, CourseDetailOut)
@blp.alt_response(404, schema=Problem)
@blp.doc(operationId="getCourse")
@login_required
def get_course(course_id):
    """课程详情 A course with its lessons (video URLs), hours, credits and exam settings (never answers)."""
    return course_dict(services.get_course(current_user, course_id), detail=True)


@blp.route("/courses", methods=["POST"])
@blp.arguments(CourseCreateArgs)
@blp.response(201, CourseDetailOut)
@blp.alt_response(400, schema=Problem)
@blp.alt_response(403, schema=Problem)
@blp.doc(operationId="createCourse")
@login_required
def create_course(args):
    """新建课程 Create a course (a draft) with optional lessons; organisation-department admins only."""
    lessons = args.pop("lessons")
    origin = origin_from_request()
    course = services.create_course(current_user, services.CourseInfo(**args), origin=origin)
    for item in lessons:
        services.add_lesson(current_user, course, item["title"], item["summary"], origin=origin)
    commit()
    return course_dict(course, detail=True)


@blp.route("/courses/<int:course_id>", methods=["PATCH"])
@blp.arguments(CourseUpdateArgs)
@blp.response(200, CourseDetailOut)
@blp.alt_response(400, schema=Problem)
@blp.alt_response(422, schema=Problem, description="cannot publish: a lesson has no video")
@blp.doc(operationId="updateCourse")
@login_required
def update_course(args, course_id):
    """修改课程 Change fields and/or the state (draft, published, retired)."""
    course = services.get_course(current_user, course_id)
    state = args.pop("state", None)
    origin = origin_from_request()
    services.update_course(current_user, course, args, origin=origin)
    if state:
        services.set_course_state(current_user, course, state, origin=origin)
    commit()
    return course_dict(course, detail=True)


@blp.route("/courses/<int:course_id>/lessons", methods=["POST"])
@blp.arguments(LessonArgs)
@blp.response(201, LessonOut)
@blp.doc(operationId="createLesson")
@login_required
def create_lesson(args, course_id):
    """新增课时 Append a lesson to a course (its video is uploaded with uploadLessonVideo)."""
    course = services.get_course(current_user, course_id)
    lesson = services.add_lesson(current_user, course, args["title"], args["summary"], origin=origin_from_request())
    commit()
    return lesson_dict(lesson)


@blp.route("/courses/search", methods=["GET"])
@blp.arguments(SearchArgs, location="query")
@blp.response(200, SearchOut)
@blp.doc(operationId="searchCourses")
@login_required
def search_courses(args):
    """搜索课程 Full-text search (Chinese word segmentation) over title, lecturer, description,
    category and lesson titles; ranked, with highlighted matches."""
    from app.catalogue.search_views import run_search

    result, courses = run_search(current_user, args["q"], args.get("category_id"), args["page"], args["per_page"])
    return {"query": args["q"], "total": result.total, "page": result.page, "per_page": result.per_page,
            "hits": [{"course": course_dict(courses[h.id]), "score": h.score, "highlights": h.highlights}
                     for h in result.hits if h.id in courses]}


@blp.route("/lessons/<int:lesson_id>/video", methods=["POST"])
@blp.arguments(UploadForm, location="form")
@blp.arguments(UploadFile, location="files")
@blp.response(202, MediaJobOut)
@blp.alt_response(409, schema=Problem, description="chunk offset does not match; resume at `received`")
@blp.alt_response(413, schema=Problem)
@blp.alt_response(422, schema=Problem, description="not a playable video (ffprobe); the reason is in detail")
@blp.doc(operationId="uploadLessonVideo")
@login_required
def upload_lesson_video(form, files, lesson_id):
    """上传课时视频 Upload a lesson's video, whole or in chunks: send the first chunk with total_size,
    then further chunks with upload_id and offset. The completed file is checked with ffprobe and
    transcoded by a background job (getMediaJob); the lesson's video changes only on success."""
    services.require_manager(current_user)
    lesson = services.get_lesson(current_user, lesson_id)
    upload = files["file"]
    stream, size = upload.stream, upload_size(upload)
    if form.get("upload_id"):
        job = db.session.get(MediaJob, form["upload_id"])
        if job is None or job.lesson_id != lesson.id:
            raise NotFound(_("上传任务不存在"))
        job = uploads.append_chunk(current_user, job, form["offset"], stream)
    else:
        if form["offset"]:
            raise Invalid(_("新的上传须从 0 字节开始"), field="offset")
        total = form.get("total_size") or size
        job = uploads.start_upload(current_user, lesson, upload.filename or "", total, origin=origin_from_request())
        try:
            job = uploads.append_chunk(current_user, job, 0, stream)
        except Exception:
            uploads.discard_original(job)  # the job row is rolled back: leave no file behind
            raise
    commit()
    if job.state == MediaJobState.FAILED:
        return problem(422, "not_video", _("视频无法使用"), job.error, field="file", job_id=job.id)
    return job_dict(job)


@blp.route("/media-jobs/<int:job_id>", methods=["GET"])
@blp.response(200, MediaJobOut)
@blp.doc(operationId="getMediaJob")
@login_required
def get_media_job(job_id):
    """视频任务 State and progress (0–100) of an upload/transcode job, and its error if it failed."""
    job = uploads.get_job(current_user, job_id)
    commit()  # a job found stale is marked failed
    return job_dict(job)
