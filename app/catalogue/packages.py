"""Course packages (courses/<code>/course.toml + questions.toml): validate everything, then import.

Idempotent: a package whose content hash is unchanged (and whose videos are on disk) is skipped; a
changed package updates its course, lessons, exam settings and questions. Nothing is written when
any package has an error. Format: courses/README.md and courses/schema/*.schema.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import tomllib
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Callable

import jsonschema
from flask import current_app
from sqlalchemy import select

from app.audit.services import record_event
from app.catalogue import media, search_sync, services
from app.catalogue.models import Category, CategoryKind, Course, CourseState, Lesson, VideoAsset
from app.db import utcnow
from app.exams.bank import revise
from app.exams.models import ExamSetting, Question, QuestionKind
from app.extensions import db

SAMPLE_VERSION = "v1"  # bump to regenerate every sample video


@dataclass(frozen=True)
class PackageError:
    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


@dataclass
class Package:
    code: str
    folder: str
    course: dict
    questions: list[dict]
    digest: str
    file_hashes: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportReport:
    errors: list[PackageError] = field(default_factory=list)
    categories_created: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    videos_made: int = 0
    videos_reused: int = 0
    warnings: list[PackageError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


Progress = Callable[[str, int, int], None]


# --- reading and validation ---------------------------------------------------------------

def _schema(root: str, name: str) -> dict:
    # Always the application's schema: a folder being imported cannot loosen its own checks.
    path = os.path.join(current_app.config["COURSES_DIR"], "schema", name)
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _json_path(error: jsonschema.ValidationError) -> str:
    parts = []
    for p in error.absolute_path:
        if isinstance(p, int):
            parts.append(f"[{p + 1}]")  # 1-based, as people count lessons and questions
        else:
            parts.append(("." if parts else "") + str(p))
    path = "".join(parts)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return f"{path}.{missing}" if path else missing
    if error.validator == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else ""
        return f"{path}.{extra}" if path else extra
    return path or "(file)"


_REASONS = {
    "required": "缺少必填项",
    "additionalProperties": "不认识的字段(拼写错误?)",
    "type": "类型不对",
    "minLength": "太短",
    "maxLength": "太长",
    "minimum": "小于允许的最小值",
    "maximum": "大于允许的最大值",
    "pattern": "格式不对",
    "enum": "不是允许的取值",
    "minItems": "条目太少",
    "maxItems": "条目太多",
    "uniqueItems": "有重复的条目",
    "oneOf": "须且只能设置其中一种",
    "not": "不应设置此项",
}


def _reason(error: jsonschema.ValidationError) -> str:
    base = _REASONS.get(error.validator, "取值无效")
    if error.validator in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
        base += f"({error.validator_value})"
    if error.validator == "enum":
        base += ":可用 " + ", ".join(map(str, error.validator_value))
    if error.validator == "type":
        base += f":应为 {error.validator_value}"
    return f"{base} — {error.message}"


def _read_toml(path: str, rel: str, errors: list[PackageError]) -> dict | None:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        errors.append(PackageError(rel, "(file)", "文件不存在"))
    except tomllib.TOMLDecodeError as err:
        errors.append(PackageError(rel, "(file)", f"TOML 语法错误:{err}"))
    except UnicodeDecodeError:
        errors.append(PackageError(rel, "(file)", "文件须为 UTF-8 编码"))
    return None


def _validate(data: dict, schema: dict, rel: str, errors: list[PackageError]) -> bool:
    found = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    for e in found:
        errors.append(PackageError(rel, _json_path(e), _reason(e)))
    return not found


def _file_sha(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_catalogue(root: str) -> tuple[list[dict], list[Package], list[PackageError]]:
    """Parse and check categories.toml and every package; returns (categories, packages, errors)."""
    errors: list[PackageError] = []
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        return [], [], [PackageError(root, "(folder)", "文件夹不存在")]
    cats: list[dict] = []
    cat_file = os.path.join(root, "categories.toml")
    if os.path.exists(cat_file):
        data = _read_toml(cat_file, "categories.toml", errors) or {}
        seen = set()
        for i, c in enumerate(data.get("categories", []), start=1):
            where = f"categories[{i}]"
            for key in ("code", "name", "kind"):
                if not isinstance(c.get(key), str) or not c.get(key):
                    errors.append(PackageError("categories.toml", f"{where}.{key}", "缺少必填项"))
            if c.get("kind") and c["kind"] not in ("subject", "local"):
                errors.append(PackageError("categories.toml", f"{where}.kind", "不是允许的取值:可用 subject, local"))
            if c.get("code") and not services.CODE_RE.match(c["code"]):
                errors.append(PackageError("categories.toml", f"{where}.code", "格式不对:小写字母、数字和连字符"))
            if c.get("code") in seen:
                errors.append(PackageError("categories.toml", f"{where}.code", f"代码重复:{c['code']}"))
            seen.add(c.get("code"))
            cats.append(c)
    known = {c.get("code") for c in cats} | set(db.session.scalars(select(Category.code)))
    course_schema = _schema(root, "course.schema.json")
    q_schema = _schema(root, "questions.schema.json")
    packages = []
    folders = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and d not in ("schema",)
                     and not d.startswith("."))
    for code in folders:
        folder = os.path.join(root, code)
        rel_c, rel_q = f"{code}/course.toml", f"{code}/questions.toml"
        n_before = len(errors)
        if not services.CODE_RE.match(code):
            errors.append(PackageError(code, "(folder)", "文件夹名即课程代码,只能由小写字母、数字和连字符组成"))
        course = _read_toml(os.path.join(folder, "course.toml"), rel_c, errors)
        qdata = _read_toml(os.path.join(folder, "questions.toml"), rel_q, errors)
        if course is not None and _validate(course, course_schema, rel_c, errors):
            if course["category"] not in known:
                errors.append(PackageError(rel_c, "category", f"分类代码“{course['category']}”不存在(见 categories.toml)"))
            for i, lesson in enumerate(course["lessons"], start=1):
                vf = lesson.get("video_file")
                inside = vf and os.path.realpath(os.path.join(folder, vf)).startswith(os.path.realpath(folder) + os.sep)
                if vf and not inside:
                    errors.append(PackageError(rel_c, f"lessons[{i}].video_file", "视频文件必须位于课程包文件夹内"))
                elif vf and not os.path.isfile(os.path.join(folder, vf)):
                    errors.append(PackageError(rel_c, f"lessons[{i}].video_file", f"文件 {vf} 不在课程包中"))
        if qdata is not None and _validate(qdata, q_schema, rel_q, errors):
            for i, q in enumerate(qdata["questions"], start=1):
                if q["type"] == "truefalse":
                    continue
                letters = "ABCDEF"[: len(q["options"])]
                ans = q["answer"]
                if any(ch not in letters for ch in ans):
                    errors.append(PackageError(rel_q, f"questions[{i}].answer", f"答案 {ans} 超出选项范围 {letters[0]}–{letters[-1]}"))
                elif len(set(ans)) != len(ans):
                    errors.append(PackageError(rel_q, f"questions[{i}].answer", "答案中有重复的字母"))
                elif q["type"] == "single" and len(ans) != 1:
                    errors.append(PackageError(rel_q, f"questions[{i}].answer", "单选题只能有一个答案"))
                elif q["type"] == "multiple" and len(ans) < 2:
                    errors.append(PackageError(rel_q, f"questions[{i}].answer", "多选题至少有两个答案"))
            if course is not None and isinstance(course.get("exam"), dict):
                n = course["exam"].get("question_count")
                if isinstance(n, int) and n > len(qdata["questions"]):
                    errors.append(PackageError(rel_c, "exam.question_count",
                                               f"抽题数 {n} 大于题库中的题目数 {len(qdata['questions'])}"))
        if len(errors) > n_before or course is None or qdata is None:
            continue
        h = hashlib.sha256()
        for name in ("course.toml", "questions.toml"):
            with open(os.path.join(folder, name), "rb") as fh:
                h.update(name.encode() + b"\0" + fh.read() + b"\0")
        file_hashes = {}
        for lesson in course["lessons"]:
            if lesson.get("video_file"):
                file_hashes[lesson["video_file"]] = _file_sha(os.path.join(folder, lesson["video_file"]))
                h.update(file_hashes[lesson["video_file"]].encode())
        packages.append(Package(code=code, folder=folder, course=course, questions=qdata["questions"],
                                digest=h.hexdigest(), file_hashes=file_hashes))
    return cats, packages, errors


# --- videos -------------------------------------------------------------------------------

@dataclass
class _VideoTask:
    lesson_key: tuple[str, int]
    source: str  # the lesson's video_source key
    storage_dir: str
    make: Callable[[str], media.TranscodeResult]


def _video_source(pkg: Package, lesson: dict) -> tuple[str, str, Callable[[str], media.TranscodeResult]]:
    """(source key, storage dir relative to MEDIA_ROOT, a function producing the files in a dir)."""
    if lesson.get("video_file"):
        sha = pkg.file_hashes[lesson["video_file"]]
        src = os.path.join(pkg.folder, lesson["video_file"])
        return f"file:{sha[:59]}", f"packages/{sha[:2]}/{sha}", lambda d: media.transcode(src, d)
    seconds = lesson["sample_video_seconds"]
    key = hashlib.sha256(f"{SAMPLE_VERSION}\0{lesson['title']}\0{pkg.course['title']}\0{seconds}".encode()).hexdigest()
    title, subtitle = lesson["title"], pkg.course["title"]
    return f"sample:{key[:57]}", f"samples/{key[:2]}/{key}", \
        lambda d: media.generate_sample(d, title, seconds, subtitle=subtitle)


def _asset_ok(lesson: Lesson | None, source: str) -> bool:
    if lesson is not None and lesson.video is not None and (lesson.video_source or "").startswith("upload:"):
        return True  # an administrator's upload wins over the package's video
    if lesson is None or lesson.video is None or lesson.video_source != source:
        return False
    return os.path.isfile(os.path.join(current_app.config["MEDIA_ROOT"], lesson.video.video_relpath))


def _produce(tasks: list[_VideoTask], progress: Progress | None, report: ImportReport) -> dict[str, media.TranscodeResult]:
    """Make the files of every task (in parallel: ffmpeg runs as processes), reusing finished ones."""
    root = current_app.config["MEDIA_ROOT"]
    results: dict[str, media.TranscodeResult] = {}
    todo = []
    for t in {t.storage_dir: t for t in tasks}.values():
        d = os.path.join(root, t.storage_dir)
        meta = os.path.join(d, "meta.json")
        if os.path.isfile(meta) and os.path.isfile(os.path.join(d, "video.mp4")):
            with open(meta, encoding="utf-8") as fh:
                results[t.storage_dir] = media.TranscodeResult(**json.load(fh))
            report.videos_reused += 1
        else:
            todo.append(t)

    def run(t: _VideoTask) -> tuple[str, media.TranscodeResult]:
        d = os.path.join(root, t.storage_dir)
        os.makedirs(d, exist_ok=True)
        res = t.make(d)
        with open(os.path.join(d, "meta.json"), "w", encoding="utf-8") as fh:
            json.dump(res.__dict__, fh)
        return t.storage_dir, res

    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run, t): t for t in todo}
        for done, future in enumerate(as_completed(futures), start=1):
            try:
                key, res = future.result()
            except media.MediaError as err:
                code, pos = futures[future].lesson_key
                report.errors.append(PackageError(f"{code}/course.toml", f"lessons[{pos}]", err.reason))
                continue
            results[key] = res
            report.videos_made += 1
            if progress:
                progress("videos", done, len(todo))
    return results


# --- import -------------------------------------------------------------------------------

_current_report: list[ImportReport] = []


def report_warning(file: str, field_: str, reason: str) -> None:
    if _current_report:
        _current_report[-1].warnings.append(PackageError(file, field_, reason))


def import_catalogue(root: str, *, progress: Progress | None = None, make_videos: bool = True) -> ImportReport:
    """Validate the whole folder, then create or update what changed. The caller commits.
    With make_videos=False lessons get no video (courses stay drafts) — for checks of metadata only."""
    cats, packages, errors = read_catalogue(root)
    report = ImportReport(errors=errors)
    if errors:
        return report
    _current_report.append(report)
    try:
        return _import(root, cats, packages, report, progress, make_videos)
    finally:
        _current_report.pop()


def _import(root, cats, packages, report: ImportReport, progress, make_videos: bool) -> ImportReport:
    courses = {c.code: c for c in db.session.scalars(select(Course).where(Course.code.in_([p.code for p in packages])))}

    # What needs a video file made?
    tasks: list[_VideoTask] = []
    for pkg in packages:
        course = courses.get(pkg.code)
        by_pos = {lesson.position: lesson for lesson in course.lessons} if course else {}
        for i, lesson in enumerate(pkg.course["lessons"], start=1):
            source, storage, make = _video_source(pkg, lesson)
            if make_videos and not _asset_ok(by_pos.get(i), source):
                tasks.append(_VideoTask((pkg.code, i), source, storage, make))
    files = _produce(tasks, progress, report) if tasks else {}
    if report.errors:  # a video could not be made: write nothing
        return report
    existing_cats = {c.code: c for c in db.session.scalars(select(Category))}
    for c in cats:
        if c["code"] not in existing_cats:
            existing_cats[c["code"]] = services.create_category(None, code=c["code"], name=c["name"], kind=c["kind"],
                                                                audit=False)
            report.categories_created += 1
    needs_video = {t.lesson_key: t for t in tasks}

    for n, pkg in enumerate(packages, start=1):
        course = courses.get(pkg.code)
        touched_videos = any(key[0] == pkg.code for key in needs_video)
        if course is not None and course.package_hash == pkg.digest:
            if touched_videos:  # the package is the same; only video files were missing
                _attach_videos(pkg, course, needs_video, files)
                _settle_state(pkg, course)
                report.updated += 1
            else:
                report.unchanged += 1
        else:
            created = course is None
            course = _apply_package(pkg, course, existing_cats, needs_video, files, make_videos)
            report.created += created
            report.updated += not created
        if progress:
            progress("courses", n, len(packages))
    if report.created or report.updated or report.categories_created:
        record_event(None, "catalogue.import", target_type="catalogue", target_label=os.path.basename(root.rstrip("/")),
                     created=report.created, updated=report.updated, unchanged=report.unchanged,
                     categories=report.categories_created, videos=report.videos_made)
    db.session.flush()
    return report


def _apply_package(pkg: Package, course: Course | None, cats: dict[str, Category], needs_video: dict,
                   files: dict, make_videos: bool) -> Course:
    data = pkg.course
    values = dict(title=data["title"], category_id=cats[data["category"]].id, lecturer=data["lecturer"],
                  lecturer_title=data.get("lecturer_title", ""), description=data["description"].strip(),
                  class_hours=data["class_hours"], credits=data["credits"], required=data["required"],
                  target_ranks=data["target_ranks"])
    if course is None:
        course = services.create_course(None, services.CourseInfo(code=pkg.code, **values), audit=False)
    else:
        services.update_course(None, course, values, audit=False)
    course.package_hash = pkg.digest

    by_pos = {lesson.position: lesson for lesson in course.lessons}
    for i, item in enumerate(data["lessons"], start=1):
        lesson = by_pos.get(i)
        if lesson is None:
            lesson = services.add_lesson(None, course, item["title"], item.get("summary", ""), audit=False)
        else:
            services.update_lesson(None, lesson, item["title"], item.get("summary", ""), audit=False)
    db.session.flush()
    _attach_videos(pkg, course, needs_video, files)
    extra = sorted(pos for pos in by_pos if pos > len(data["lessons"]))
    if extra:
        # Lessons carry upload history (and, later, learners' progress): an import never deletes one.
        report_warning(f"{pkg.code}/course.toml", "lessons",
                       f"课程已有第 {'、'.join(map(str, extra))} 课时,课程包中没有;导入不删除课时,已保留")
    db.session.flush()

    exam = db.session.get(ExamSetting, course.id) or ExamSetting(course_id=course.id)
    e = data["exam"]
    exam.question_count = e["question_count"]
    exam.time_limit_minutes = e["time_limit_minutes"]
    exam.pass_mark = e["pass_mark"]
    exam.attempts_per_day = e.get("attempts_per_day", 3)
    exam.attempts_total = e.get("attempts_total", 0)
    exam.show_answers_after_pass = e.get("show_answers_after_pass", True)
    db.session.add(exam)

    existing = {q.position: q for q in db.session.scalars(select(Question).where(Question.course_id == course.id))}
    for i, item in enumerate(pkg.questions, start=1):
        answer = ("T" if item["answer"] else "F") if item["type"] == "truefalse" else "".join(sorted(item["answer"]))
        fields_ = dict(kind=QuestionKind(item["type"]), stem=item["stem"], options=item.get("options", []),
                       answer=answer, explanation=item["explanation"])
        q = existing.get(i)
        if q is None:
            db.session.add(Question(course_id=course.id, position=i, **fields_))
        else:
            # A question a paper has used is replaced, never rewritten (past papers stay as sat).
            q = revise(q, fields_)
            if q.retired_at is not None:
                q.retired_at = None
    for pos, q in existing.items():
        if pos > len(pkg.questions) and q.retired_at is None:
            q.retired_at = utcnow()

    db.session.flush()
    _settle_state(pkg, course)
    search_sync.mark_changed(db.session, course)
    return course


def _attach_videos(pkg: Package, course: Course, needs_video: dict, files: dict) -> None:
    for lesson in course.lessons:
        task = needs_video.get((pkg.code, lesson.position))
        if task is None:
            continue
        res = files[task.storage_dir]
        asset = VideoAsset(storage_dir=task.storage_dir, duration=res.duration, width=res.width,
                           height=res.height, size_bytes=res.size_bytes,
                           origin="sample" if task.source.startswith("sample:") else "package")
        db.session.add(asset)
        lesson.video = asset
        lesson.video_source = task.source
    db.session.flush()


def _settle_state(pkg: Package, course: Course) -> None:
    """The package's `published` flag applies to a course that was never published (a new one, or
    one imported before its videos existed) and can withdraw one; an administrator's later
    decisions (withdrawn, retired) are not undone by an import."""
    wanted = pkg.course.get("published", True)
    if course.state == CourseState.RETIRED:
        return
    if not wanted:
        services.set_course_state(None, course, CourseState.DRAFT, audit=False)
    elif course.published_at is None and all(lesson.video_id for lesson in course.lessons):
        services.set_course_state(None, course, CourseState.PUBLISHED, audit=False)
